package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/admitpark/admit/validator/gateapi"
	"github.com/jackc/pgx/v5"
)

func TestIssueAdmitsAndResendIsHarmless(t *testing.T) {
	p, d := newPark(t), newDB(t)
	token := p.addGate("north-1", "main", "in")
	r := newRelay(t, testConfig(t, d.pool, p.ClusterURLs()))

	tickets := make([]gateapi.TicketJSON, 5)
	for i := range tickets {
		tickets[i] = p.newTicket()
		d.issue(tickets[i])
	}
	n, err := r.SendPending(t.Context())
	if err != nil || n != 5 {
		t.Fatalf("SendPending = %d, %v; want 5, nil", n, err)
	}
	if got := metric(t, r.cfg, "admit_sync_outbox_sent_total", "issue"); got != 5 {
		t.Errorf("sent_total{issue} = %v, want 5", got)
	}
	if d.unsent() != 0 || metric(t, r.cfg, "admit_sync_outbox_backlog", "") != 0 {
		t.Fatalf("unsent rows left: %d", d.unsent())
	}
	if res := p.scan("north-1", token, tickets[0].Code); res.Result != "admit" {
		t.Fatalf("scan: %+v, want admit", res)
	}
	// A pass with nothing to send sends nothing.
	if n, err := r.SendPending(t.Context()); n != 0 || err != nil {
		t.Fatalf("idle SendPending = %d, %v", n, err)
	}

	// Resend everything: the cluster answers stale, the rows are sent again,
	// and the used ticket stays used.
	if _, err := d.pool.Exec(t.Context(), `UPDATE outbox SET sent_at = NULL`); err != nil {
		t.Fatal(err)
	}
	if n, err := r.SendPending(t.Context()); err != nil || n != 5 {
		t.Fatalf("resend: SendPending = %d, %v; want 5, nil", n, err)
	}
	if res := p.scan("north-1", token, tickets[0].Code); res.Result != "deny" || res.Reason != "already_used" {
		t.Fatalf("scan after resend: %+v, want deny already_used", res)
	}
	if res := p.scan("north-1", token, tickets[1].Code); res.Result != "admit" {
		t.Fatalf("scan of another: %+v, want admit", res)
	}
}

func TestIssueBatchesSplitByBatchSize(t *testing.T) {
	p, d := newPark(t), newDB(t)
	cfg := testConfig(t, d.pool, p.ClusterURLs())
	cfg.Batch = 3 // 7 issues: POSTs of 3, 3, 1 over three pages
	r := newRelay(t, cfg)
	var ids []string
	for range 7 {
		tj := p.newTicket()
		ids = append(ids, tj.ID)
		d.issue(tj)
	}
	if n, err := r.SendPending(t.Context()); err != nil || n != 7 {
		t.Fatalf("SendPending = %d, %v; want 7, nil", n, err)
	}
	for _, id := range ids {
		if v := p.clusterTicket(id); v.Ticket.Status != "active" {
			t.Errorf("ticket %s: %+v", id, v.Ticket)
		}
	}
}

func TestRevokeAfterIssueDenies(t *testing.T) {
	p, d := newPark(t), newDB(t)
	token := p.addGate("north-1", "main", "in")
	r := newRelay(t, testConfig(t, d.pool, p.ClusterURLs()))
	tj, other := p.newTicket(), p.newTicket()
	d.issue(tj)
	d.issue(other)
	d.insert("revoke", tj.ID, 2, gateapi.ChangeRequest{Version: 2})
	d.insert("update", other.ID, 2, gateapi.ChangeRequest{Version: 2, Op: "suspend"})
	if n, err := r.SendPending(t.Context()); err != nil || n != 4 {
		t.Fatalf("SendPending = %d, %v; want 4, nil", n, err)
	}
	if res := p.scan("north-1", token, tj.Code); res.Result != "deny" || res.Reason != "revoked" {
		t.Fatalf("scan of revoked: %+v, want deny revoked", res)
	}
	if res := p.scan("north-1", token, other.Code); res.Result != "deny" || res.Reason != "suspended" {
		t.Fatalf("scan of suspended: %+v, want deny suspended", res)
	}
	// A resent revoke is acknowledged (revoked again / stale).
	if _, err := d.pool.Exec(t.Context(), `UPDATE outbox SET sent_at = NULL WHERE kind <> 'issue'`); err != nil {
		t.Fatal(err)
	}
	if n, err := r.SendPending(t.Context()); err != nil || n != 2 {
		t.Fatalf("resend: SendPending = %d, %v; want 2, nil", n, err)
	}
}

func TestRevokeOfUnknownTicketBlocksThenGivesUp(t *testing.T) {
	p, d := newPark(t), newDB(t)
	cfg := testConfig(t, d.pool, p.ClusterURLs())
	cfg.UnknownAttempts = 3
	r := newRelay(t, cfg)
	ghost := p.newTicket() // never issued
	revoke := d.insert("revoke", ghost.ID, 2, gateapi.ChangeRequest{Version: 2})
	after := d.issue(p.newTicket())
	for i := 1; i < 3; i++ {
		n, err := r.SendPending(t.Context())
		if n != 0 || !errors.Is(err, ErrNotAcknowledged) {
			t.Fatalf("pass %d: SendPending = %d, %v; want 0, ErrNotAcknowledged", i, n, err)
		}
		if d.sent(after) {
			t.Fatal("a row after the blocked revoke was sent")
		}
	}
	if n, err := r.SendPending(t.Context()); err != nil || n != 2 {
		t.Fatalf("third pass: SendPending = %d, %v; want 2 (given up + next), nil", n, err)
	}
	var note string
	if err := d.pool.QueryRow(t.Context(), `SELECT details->>'outcome' FROM audit_log WHERE action = 'sync.outbox.given_up' AND object_id = $1`,
		fmt.Sprint(revoke)).Scan(&note); err != nil || note != "unknown" {
		t.Fatalf("audit note: %q, %v", note, err)
	}
}

func TestConfigureZonesAndGatesKeepsExistingTokens(t *testing.T) {
	p, d := newPark(t), newDB(t)
	token := p.addGate("north-1", "main", "in")
	r := newRelay(t, testConfig(t, d.pool, p.ClusterURLs()))
	// main comes with its mask bit, kids as a row written before bits were sent.
	d.insert("configure", "", 0, map[string]any{"zones": []map[string]any{{"id": "main", "cap": 100, "warn": 80, "bit": 0}, {"id": "kids", "cap": 10, "warn": 0}}})
	d.insert("configure", "", 0, map[string]any{"gates": []map[string]any{
		{"id": "north-1", "zone": "main", "direction": "in"}, {"id": "kids-1", "zone": "kids", "direction": "both"}}})
	tj := p.newTicket()
	d.issue(tj)
	for range 2 { // the second time, everything exists already
		if _, err := d.pool.Exec(t.Context(), `UPDATE outbox SET sent_at = NULL`); err != nil {
			t.Fatal(err)
		}
		if n, err := r.SendPending(t.Context()); err != nil || n != 3 {
			t.Fatalf("SendPending = %d, %v; want 3, nil", n, err)
		}
	}
	var zones struct{ Zones []gateapi.ZoneJSON }
	if _, err := p.call("GET", gateapi.PathZones, adminToken, nil, &zones); err != nil {
		t.Fatal(err)
	}
	caps := map[string]uint32{}
	for _, z := range zones.Zones {
		caps[z.ID] = z.Cap
	}
	if caps["main"] != 100 || caps["kids"] != 10 {
		t.Fatalf("zones: %+v", zones.Zones)
	}
	for _, z := range zones.Zones {
		if (z.ID == "main") != (z.Bit != nil) || z.Bit != nil && *z.Bit != 0 {
			t.Fatalf("zone %s has bit %v; want main's 0, none for kids", z.ID, z.Bit)
		}
	}
	// The gate's agent learns its zone's bit with its gate token.
	gc, err := gateapi.NewClient(gateapi.Config{URLs: strings.Split(p.ClusterURLs(), ","), GateToken: token})
	if err != nil {
		t.Fatal(err)
	}
	if k, err := gc.Keys(t.Context(), "north-1"); err != nil || k.Gate == nil || k.Gate.ZoneBit == nil || *k.Gate.ZoneBit != 0 {
		t.Fatalf("GET /v1/keys?gate=north-1: %+v, %v; want zone_bit 0", k.Gate, err)
	}
	var gates struct{ Gates []gateapi.GateJSON }
	if _, err := p.call("GET", gateapi.PathGates, adminToken, nil, &gates); err != nil {
		t.Fatal(err)
	}
	if len(gates.Gates) != 2 {
		t.Fatalf("gates: %+v", gates.Gates)
	}
	// north-1 kept its token: its device still scans.
	if res := p.scan("north-1", token, tj.Code); res.Result != "admit" {
		t.Fatalf("scan with the old token: %+v", res)
	}
}

func TestClusterDownBlocksThenSendsInOrder(t *testing.T) {
	p, d := newPark(t), newDB(t)
	token := p.addGate("north-1", "main", "in")
	down := newRelay(t, testConfig(t, d.pool, closedURL(t)+","+closedURL(t)))
	tj := p.newTicket()
	d.issue(tj)
	d.issue(p.version(tj, 2)) // a reprint: v2
	d.insert("revoke", tj.ID, 3, gateapi.ChangeRequest{Version: 3})
	last := p.newTicket()
	d.issue(last)
	for range 3 {
		n, err := down.SendPending(t.Context())
		if n != 0 || !errors.Is(err, ErrCluster) {
			t.Fatalf("cluster down: SendPending = %d, %v; want 0, ErrCluster", n, err)
		}
	}
	if d.unsent() != 4 || metric(t, down.cfg, "admit_sync_outbox_backlog", "") != 4 {
		t.Fatalf("rows marked sent while the cluster was down: unsent %d", d.unsent())
	}
	if got := metric(t, down.cfg, "admit_sync_errors_total", "issue"); got != 3 {
		t.Errorf("errors_total{issue} = %v, want 3", got)
	}

	// The cluster is back (reachable at its real URLs).
	up := newRelay(t, testConfig(t, d.pool, p.ClusterURLs()))
	if n, err := up.SendPending(t.Context()); err != nil || n != 4 {
		t.Fatalf("SendPending = %d, %v; want 4, nil", n, err)
	}
	// In order: issue v1, v2, then the revoke at v3.
	if v := p.clusterTicket(tj.ID); v.Ticket.Version != 3 || v.Ticket.Status != "revoked" {
		t.Fatalf("cluster ticket: %+v, want version 3 revoked", v.Ticket)
	}
	rows, err := d.pool.Query(t.Context(), `SELECT seq FROM outbox ORDER BY sent_at, seq`)
	if err != nil {
		t.Fatal(err)
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] < seqs[i-1] {
			t.Fatalf("sent out of seq order: %v", seqs)
		}
	}
	if res := p.scan("north-1", token, last.Code); res.Result != "admit" {
		t.Fatalf("scan: %+v", res)
	}
}

func TestLateCommittingLowerSeqIsSent(t *testing.T) {
	p, d := newPark(t), newDB(t)
	token := p.addGate("north-1", "main", "in")
	r := newRelay(t, testConfig(t, d.pool, p.ClusterURLs()))

	tx, err := d.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	early := p.newTicket()
	var earlySeq int64
	if err := tx.QueryRow(t.Context(), `INSERT INTO outbox (kind, ticket_id, version, payload) VALUES ('issue', $1, 1, $2) RETURNING seq`,
		early.ID, early).Scan(&earlySeq); err != nil {
		t.Fatal(err)
	}
	later := p.newTicket()
	laterSeq := d.issue(later)
	if laterSeq <= earlySeq {
		t.Fatalf("seqs %d, %d", earlySeq, laterSeq)
	}
	if n, err := r.SendPending(t.Context()); err != nil || n != 1 {
		t.Fatalf("SendPending = %d, %v; want 1 (the committed row), nil", n, err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n, err := r.SendPending(t.Context()); err != nil || n != 1 {
		t.Fatalf("SendPending after the commit = %d, %v; want 1, nil", n, err)
	}
	for _, tj := range []gateapi.TicketJSON{early, later} {
		if res := p.scan("north-1", token, tj.Code); res.Result != "admit" {
			t.Fatalf("scan %s: %+v", tj.ID, res)
		}
	}
}

func TestOnlyOneRelaySendsAndStandbyTakesOver(t *testing.T) {
	p, d := newPark(t), newDB(t)
	a := newRelay(t, testConfig(t, d.pool, p.ClusterURLs()))
	stopA := run(t, a.Run)
	waitFor(t, "relay a active", func() error {
		if !a.Active() {
			return errors.New("not active")
		}
		return nil
	})
	b := newRelay(t, testConfig(t, d.pool, p.ClusterURLs()))
	run(t, b.Run)
	// b tries the lock every 20 ms; give it a few tries while a is active.
	waitFor(t, "relay b to find the lock taken", func() error {
		if n := b.standby.Load(); n < 3 {
			return fmt.Errorf("%d attempts", n)
		}
		return nil
	})
	for range 3 {
		d.issue(p.newTicket())
	}
	waitFor(t, "rows sent", func() error {
		if n := d.unsent(); n > 0 {
			return fmt.Errorf("%d unsent", n)
		}
		return nil
	})
	if b.Active() || metric(t, b.cfg, "admit_sync_outbox_sent_total", "issue") != 0 {
		t.Fatal("the standby relay sent")
	}
	if got := metric(t, a.cfg, "admit_sync_outbox_sent_total", "issue"); got != 3 {
		t.Fatalf("relay a sent %v, want 3", got)
	}

	stopA()
	waitFor(t, "relay b to take over", func() error {
		if !b.Active() {
			return errors.New("not active")
		}
		return nil
	})
	if a.Active() {
		t.Fatal("a still active after its Run returned")
	}
	seq := d.issue(p.newTicket())
	waitFor(t, "b to send", func() error {
		if !d.sent(seq) {
			return errors.New("not sent")
		}
		return nil
	})
	if got := metric(t, b.cfg, "admit_sync_outbox_sent_total", "issue"); got != 1 {
		t.Fatalf("relay b sent %v, want 1", got)
	}
}

// TestCommitToAck: with the outbox_notify trigger of doc.go installed, a
// relay waiting idle is woken by the NOTIFY of a sale's commit; without
// it, rows still go, on the relay's next poll. What woke the relay is
// counted (admit_sync_relay_wakeups_total{by}); how long each way takes
// from commit to the cluster's ack is logged, not asserted.
func TestCommitToAck(t *testing.T) {
	p, d := newPark(t), newDB(t)

	// With the trigger, and a Poll of a minute, far beyond this phase.
	notifyCfg := testConfig(t, d.pool, p.ClusterURLs())
	notifyCfg.Poll = time.Minute
	r := newRelay(t, notifyCfg)
	stop := wakeOnCommit(t, p, d, r)
	if n := metric(t, notifyCfg, "admit_sync_relay_wakeups_total", "notify"); n < 1 {
		t.Fatalf("with the trigger: %v NOTIFY wakeups, want at least 1", n)
	}
	t.Logf("with the trigger: the idle relay was woken by NOTIFY")
	measureCommitToAck(t, p, d, "LISTEN/NOTIFY trigger")
	t.Logf("wakeups with the trigger (Poll 1m): notify %v, poll %v",
		metric(t, notifyCfg, "admit_sync_relay_wakeups_total", "notify"), metric(t, notifyCfg, "admit_sync_relay_wakeups_total", "poll"))
	stop()

	// Without the trigger nothing NOTIFYs: a new relay, polling every 100 ms.
	if _, err := d.pool.Exec(t.Context(), `DROP TRIGGER outbox_notify ON outbox`); err != nil {
		t.Fatal(err)
	}
	pollCfg := testConfig(t, d.pool, p.ClusterURLs())
	r2 := newRelay(t, pollCfg)
	wakeOnCommit(t, p, d, r2)
	notify, poll := metric(t, pollCfg, "admit_sync_relay_wakeups_total", "notify"), metric(t, pollCfg, "admit_sync_relay_wakeups_total", "poll")
	if notify != 0 || poll < 1 {
		t.Fatalf("without the trigger: %v NOTIFY and %v poll wakeups; want none and at least 1", notify, poll)
	}
	measureCommitToAck(t, p, d, "polling every 100 ms, no trigger")
	t.Logf("wakeups without the trigger (Poll %v): notify %v, poll %v", pollCfg.Poll,
		metric(t, pollCfg, "admit_sync_relay_wakeups_total", "notify"), metric(t, pollCfg, "admit_sync_relay_wakeups_total", "poll"))
	t.Logf("admit_sync_commit_to_ack_seconds: %d samples", int(metric(t, notifyCfg, "admit_sync_commit_to_ack_seconds", "")+
		metric(t, pollCfg, "admit_sync_commit_to_ack_seconds", "")))
}

// wakeOnCommit starts r and sees one row through it that commits only
// once r waits idle: the row is inserted in a transaction left open until
// r's first pass has ended (its backlog gauge moves off a sentinel), which
// found nothing to send, so r waits; only a wakeup (NOTIFY or poll) makes
// it send the row. It returns r's stop.
func wakeOnCommit(t *testing.T, p *park, d *db, r *Relay) (stop func()) {
	t.Helper()
	tx, err := d.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	tj := p.newTicket()
	payload, err := json.Marshal(tj)
	if err != nil {
		t.Fatal(err)
	}
	var seq int64
	if err := tx.QueryRow(t.Context(), `INSERT INTO outbox (kind, ticket_id, version, payload) VALUES ('issue', $1, 1, $2) RETURNING seq`,
		tj.ID, payload).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	r.m.backlog.Set(-1)
	stop = run(t, r.Run)
	waitFor(t, "the relay's first pass", func() error {
		if v := metric(t, r.cfg, "admit_sync_outbox_backlog", ""); v == -1 {
			return errors.New("no pass yet")
		}
		return nil
	})
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the row committed while the relay was idle to be sent", func() error {
		if !d.sent(seq) {
			return errors.New("not sent")
		}
		return nil
	})
	return stop
}

// measureCommitToAck logs the worst of 10 commits to the cluster's ack
// with the running relay.
func measureCommitToAck(t *testing.T, p *park, d *db, label string) {
	t.Helper()
	var worst time.Duration
	for range 10 {
		var seq int64
		var committed time.Time
		tj := p.newTicket()
		if err := d.pool.QueryRow(t.Context(), `INSERT INTO outbox (kind, ticket_id, version, payload)
			VALUES ('issue', $1, 1, $2) RETURNING seq, clock_timestamp()`, tj.ID, tj).Scan(&seq, &committed); err != nil {
			t.Fatal(err)
		}
		var sentAt time.Time
		waitFor(t, "ack", func() error {
			var ok bool
			if err := d.pool.QueryRow(t.Context(), `SELECT sent_at IS NOT NULL, coalesce(sent_at, now()) FROM outbox WHERE seq = $1`, seq).Scan(&ok, &sentAt); err != nil {
				return err
			}
			if !ok {
				return errors.New("not sent")
			}
			return nil
		})
		worst = max(worst, sentAt.Sub(committed))
	}
	t.Logf("sale commit to cluster ack (%s): worst of 10 = %v", label, worst)
}
