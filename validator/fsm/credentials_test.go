package fsm

import (
	"strings"
	"testing"

	"github.com/admitpark/admit/validator/rules"
	"github.com/admitpark/admit/validator/ticket"
)

func (e *env) issueCreds(t ticket.Ticket, creds ...Credential) Outcome {
	e.t.Helper()
	out, err := DecodeIssueResult(e.mustApply(EncodeIssues([]Issue{{Ticket: t, Credentials: creds}})))
	if err != nil {
		e.t.Fatal(err)
	}
	return out[0]
}

func card(v string) Credential { return Credential{Kind: CredCard, Value: v} }

func credScan(scanID, gate string, c Credential) Scan {
	return Scan{ScanID: scanID, Gate: gate, Credential: c}
}

func TestCredentialScanDecidesLikeACode(t *testing.T) {
	e := newPark(t)
	tk := tkt(1, ticket.Multi, withEntries(2))
	if o := e.issueCreds(tk, card("04A1"), Credential{Kind: CredTicketNumber, Value: "000000000018"}); o != OutcomeApplied {
		t.Fatal(o)
	}
	r := e.scan1(credScan("s1", "g1", card("04A1")))
	expect(t, "card", r, rules.Admit, rules.None)
	if r.TicketID != tk.ID || r.EntriesUsed != 1 {
		t.Fatalf("card resolves to %x, used %d", r.TicketID, r.EntriesUsed)
	}
	// The same scan ID again: the original decision.
	if r := e.scan1(credScan("s1", "g1", card("04A1"))); !r.Rescan || r.Result != rules.Admit {
		t.Fatalf("retry: %+v", r)
	}
	// The same scan ID with another credential: refused.
	if r := e.scan1(credScan("s1", "g1", card("FFFF"))); r.Error != ScanIDConflict {
		t.Fatalf("reused scan id: %+v", r)
	}
	expect(t, "number", e.scan1(credScan("s2", "g1", Credential{Kind: CredTicketNumber, Value: "000000000018"})), rules.Admit, rules.None)
	expect(t, "exhausted", e.scan1(credScan("s3", "g1", card("04A1"))), rules.Deny, rules.NoEntriesLeft)
	expect(t, "unbound", e.scan1(credScan("s4", "g1", card("0BAD"))), rules.Deny, rules.Unknown)

	// Suspended: every credential says so.
	e.update(Update{ID: tk.ID, Version: 2, Op: OpSuspend})
	expect(t, "suspended", e.scan1(credScan("s5", "g1", card("04A1"))), rules.Deny, rules.Suspended)

	evs := e.events()
	if ev := evs[0]; ev.Credential != CredCard || ev.TicketID != tk.ID {
		t.Fatalf("event: %+v", ev)
	}
}

func TestCredentialsFollowTheNewestVersion(t *testing.T) {
	e := newPark(t)
	tk := tkt(1, ticket.Multi, withEntries(3))
	e.issueCreds(tk, card("0A"))
	expect(t, "old card", e.scan1(credScan("s1", "g1", card("0A"))), rules.Admit, rules.None)

	// A replacement card: version 2 binds 0B instead; usage is kept.
	e.issueCreds(reprint(tk, 2), card("0B"))
	expect(t, "old card after replace", e.scan1(credScan("s2", "g1", card("0A"))), rules.Deny, rules.Unknown)
	r := e.scan1(credScan("s3", "g1", card("0B")))
	expect(t, "new card", r, rules.Admit, rules.None)
	if r.EntriesUsed != 2 {
		t.Fatalf("new card used %d, want 2 (the old card's entry is kept)", r.EntriesUsed)
	}
	// A stale resend of version 1 changes nothing.
	if o := e.issueCreds(tk, card("0A")); o != OutcomeStale {
		t.Fatal(o)
	}
	expect(t, "stale resend", e.scan1(credScan("s4", "g1", card("0A"))), rules.Deny, rules.Unknown)

	// A card moves to another ticket: it leaves the first one's list.
	other := tkt(2, ticket.Single)
	e.issueCreds(other, card("0B"))
	if r := e.scan1(credScan("s5", "g1", card("0B"))); r.TicketID != other.ID || r.Result != rules.Admit {
		t.Fatalf("moved card: %+v", r)
	}
	if creds, _ := Credentials(e.st, tk.ID); len(creds) != 0 {
		t.Fatalf("first ticket keeps %v", creds)
	}
	// A version without credentials drops them (an IssueBatch2/1 entry).
	e.issue(reprint(other, 2))
	expect(t, "dropped", e.scan1(credScan("s6", "g1", card("0B"))), rules.Deny, rules.Unknown)
	if _, found, _ := TicketByCredential(e.st, card("0B")); found {
		t.Fatal("index keeps a dropped card")
	}
}

func TestIDCardKeyInState(t *testing.T) {
	e := newPark(t)
	if k, _ := IDCardKey(e.st); k != nil {
		t.Fatal("key before configure")
	}
	key := []byte(strings.Repeat("k", IDCardKeyLen))
	e.configure(Configure{IDCardKey: key})
	if k, _ := IDCardKey(e.st); string(k) != string(key) {
		t.Fatalf("key %q", k)
	}
	if _, err := EncodeConfigure(Configure{IDCardKey: []byte("short")}); err == nil {
		t.Fatal("short key encoded")
	}
}

func TestOfflineUploads(t *testing.T) {
	e := newPark(t)
	tk := tkt(1, ticket.Single)
	e.issue(tk)
	a := scanOf("a1", "g1", tk)
	a.Offline, a.DeviceTime = OfflineAdmit, t0+hour
	b := scanOf("b1", "g2", tk)
	b.Offline, b.DeviceTime = OfflineAdmit, t0+hour+5*minute
	ra := e.scan1(a)
	expect(t, "first offline admit", ra, rules.Admit, rules.None)
	if ra.Conflict || !ra.Offline || ra.DeviceTime != a.DeviceTime || ra.At != e.now {
		t.Fatalf("first: %+v", ra)
	}
	e.now += minute
	rb := e.scan1(b)
	if rb.Result != rules.Admit || rb.Reason != rules.AlreadyUsed || !rb.Conflict || rb.EntriesUsed != 2 {
		t.Fatalf("second offline admit: %+v", rb)
	}
	// Retried uploads: rescans, no second conflict.
	for range 3 {
		if r := e.scan(a, b); !r[0].Rescan || !r[1].Rescan || !r[1].Conflict {
			t.Fatalf("retry: %+v", r)
		}
	}
	if n, _ := ConflictCount(e.st); n != 1 {
		t.Fatalf("%d conflicts", n)
	}
	cs, err := Conflicts(e.st, Cursor{}, 10)
	if err != nil || len(cs) != 1 {
		t.Fatalf("conflicts %v %v", cs, err)
	}
	c := cs[0]
	if c.TicketID != tk.ID || c.Scan.ScanID != "b1" || c.Scan.Gate != "g2" || c.Scan.DeviceTime != b.DeviceTime ||
		c.Other.ScanID != "a1" || c.Other.Gate != "g1" || c.Other.DeviceTime != a.DeviceTime || c.Other.At != ra.At {
		t.Fatalf("conflict %+v", c)
	}
	// Inside twice: the zone counts both visitors.
	if z := e.zone("main"); z.Occupancy != 2 {
		t.Fatalf("occupancy %d", z.Occupancy)
	}

	// An offline deny the cluster would admit: a deny, nothing changes.
	t2 := tkt(2, ticket.Single)
	e.issue(t2)
	d := scanOf("d1", "g1", t2)
	d.Offline = OfflineDeny
	expect(t, "offline deny", e.scan1(d), rules.Deny, rules.OfflineDeny)
	expect(t, "live after offline deny", e.scan1(scanOf("d2", "g1", t2)), rules.Admit, rules.None)

	evs := e.events()
	if ev := evs[1]; !ev.Offline || !ev.Conflict || ev.DeviceTime != b.DeviceTime || ev.Reason != rules.AlreadyUsed {
		t.Fatalf("conflict event %+v", ev)
	}
	// Purging the batches drops the conflict records with their events;
	// the count stays.
	e.now += day
	e.purge(e.now, 0)
	if cs, _ := Conflicts(e.st, Cursor{}, 10); len(cs) != 0 {
		t.Fatalf("conflicts after purge: %v", cs)
	}
	if n, _ := ConflictCount(e.st); n != 1 {
		t.Fatalf("%d conflicts after purge", n)
	}
}
