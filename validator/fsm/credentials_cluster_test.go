package fsm

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/validator/rules"
	"github.com/admitpark/admit/validator/ticket"
)

// The credential index lives in the replicated state like the tickets:
// written behind to Badger, in snapshots, and rebuilt on every node. A
// node killed while cards are bound, moved and dropped comes back (from
// its Badger copy and log, and from a snapshot once the log it missed is
// compacted) with the same index as the others, and decides the same.
func TestCredentialIndexSurvivesRestartAndSnapshotRestore(t *testing.T) {
	h := clustertest.New(t, 3, clustertest.Options{
		StateMachine: func(string) cluster.StateMachine { return NewMachine() },
		Configure:    func(c *cluster.Config) { c.TrailingLogs = 8 },
	})
	ctx := context.Background()
	apply := func(cmd []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		res, err := submit(ctx, h.WaitLeader(10*time.Second).Node(), cmd)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	apply(EncodeConfigure(Configure{Zones: []ticket.Zone{{ID: "main"}}, Gates: []Gate{{ID: "g1", Zone: "main"}}}))
	now := time.Now().UnixMilli()
	tks := make([]ticket.Ticket, 40)
	issues := make([]Issue, len(tks))
	for i := range tks {
		tks[i] = tkt(byte(i), ticket.Multi, withValidity(now-day, now+day), withEntries(5))
		issues[i] = Issue{Ticket: tks[i], Credentials: []Credential{card(fmt.Sprintf("C%02d", i))}}
	}
	apply(EncodeIssues(issues))

	h.WaitLeader(10 * time.Second)
	m := h.Followers()[0]
	h.Kill(m)
	// While m is down: cards move (version 2 of the first ten binds D..),
	// some are scanned, and the log m missed is compacted behind a
	// snapshot.
	for i := range 10 {
		apply(EncodeIssues([]Issue{{Ticket: reprint(tks[i], 2), Credentials: []Credential{card(fmt.Sprintf("D%02d", i))}}}))
	}
	for i := range 20 {
		apply(EncodeScanBatch([]Scan{credScan(fmt.Sprintf("s%d", i), "g1", card(fmt.Sprintf("C%02d", i)))}))
	}
	if _, err := h.WaitLeader(10*time.Second).Node().Snapshot(ctx, ""); err != nil {
		t.Fatal(err)
	}
	for i := range 5 { // more entries after the snapshot, so the log tail is past m
		apply(EncodeScanBatch([]Scan{credScan(fmt.Sprintf("t%d", i), "g1", card(fmt.Sprintf("D%02d", i)))}))
	}
	h.Restart(m)
	leader := h.WaitLeader(10 * time.Second).Node()
	h.WaitApplied(leader.AppliedIndex(), 10*time.Second)

	// m missed entries the leader compacted: it was sent the snapshot.
	if snaps, err := m.Node().Snapshots(); err != nil || len(snaps) == 0 {
		t.Fatalf("restarted node holds no snapshot (%v): it did not restore one", err)
	}
	want, err := dump(leader)
	if err != nil {
		t.Fatal(err)
	}
	got, err := dump(m.Node())
	if err != nil {
		t.Fatal(err)
	}
	if err := sameDump(want, got); err != nil {
		t.Fatalf("restarted node's state differs: %v", err)
	}
	for i := range 10 {
		if _, found, _ := TicketByCredential(m.Node(), card(fmt.Sprintf("C%02d", i))); found {
			t.Fatalf("restarted node still binds the moved card C%02d", i)
		}
		if id, found, _ := TicketByCredential(m.Node(), card(fmt.Sprintf("D%02d", i))); !found || id != tks[i].ID {
			t.Fatalf("restarted node: D%02d -> %x %v", i, id, found)
		}
	}
	// Decided through the restarted node: the card with entries left
	// admits, the moved one is unknown.
	res := apply(EncodeScanBatch([]Scan{
		credScan("u1", "g1", card("D03")), credScan("u2", "g1", card("C03")), credScan("u3", "g1", card("C30")),
	}))
	rs, err := DecodeScanResults(res)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "D03", rs[0], rules.Admit, rules.None)
	if rs[0].EntriesUsed != 2 {
		t.Fatalf("D03 used %d, want 2 (t3, now; C03 was moved before it was scanned)", rs[0].EntriesUsed)
	}
	expect(t, "C03", rs[1], rules.Deny, rules.Unknown)
	expect(t, "C30", rs[2], rules.Admit, rules.None)
}
