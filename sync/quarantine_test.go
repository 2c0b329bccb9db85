package sync

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/fsm"
	"github.com/admitpark/admit/validator/gateapi"
)

// scanAs scans code at a gate with the given scan id and wants a decision.
func (p *park) scanAs(gateID, token, c, scanID string) {
	p.t.Helper()
	if _, err := p.call(http.MethodPost, gateapi.PathScan, token,
		gateapi.ScanRequest{Code: c, Gate: gateID, ScanID: scanID, Direction: "in"}, nil); err != nil {
		p.t.Fatal(err)
	}
}

// applyRawScan records a scan straight in the cluster's log, past the gate
// API's input checks (which now refuse a NUL): an event as a node without
// those checks would have recorded it.
func (p *park) applyRawScan(gateID, c, scanID string) {
	p.t.Helper()
	parsed, err := code.Parse(c)
	if err != nil {
		p.t.Fatal(err)
	}
	// The encoder refuses such a scan id too: encode a clean stand-in of
	// the same length and put the raw bytes in its place, as an entry
	// written before those checks holds them.
	clean := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return 'X'
		}
		return r
	}, scanID)
	cmd, err := fsm.EncodeScanBatch([]fsm.Scan{fsm.ScanFromCode(clean, gateID, fsm.DirIn, 0, parsed)})
	if err != nil {
		p.t.Fatal(err)
	}
	cmd = bytes.Replace(cmd, []byte(clean), []byte(scanID), 1)
	waitFor(p.t, "raw scan applied", func() error {
		_, err := p.h.Leader().Node().Apply(p.t.Context(), cmd)
		return err
	})
}

// TestFeedQuarantinesAndGoesOn: an event PostgreSQL cannot store (a scan
// id with NUL, recorded past the gate API's checks; an event a CHECK
// constraint refuses) is kept in quarantined_events, counted and logged,
// and the feed goes on to the events after it.
func TestFeedQuarantinesAndGoesOn(t *testing.T) {
	p, d := newPark(t), newDB(t)
	north := p.addGate("north-1", "main", "in")
	// PostgreSQL refuses a row for a reason the feed cannot see coming.
	if _, err := d.pool.Exec(t.Context(), `ALTER TABLE entry_events ADD CONSTRAINT test_refused CHECK (scan_id NOT LIKE 'refused:%')`); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, d.pool, p.ClusterURLs())
	f, err := NewFeed(cfg)
	if err != nil {
		t.Fatal(err)
	}

	// Through the gate API, a NUL in a scan id is a 400 now.
	var eb gateapi.ErrorBody
	status, _ := p.call(http.MethodPost, gateapi.PathScan, north, []byte(`{"code":"`+p.newTicket().Code+`","gate":"north-1","scan_id":"a\u0000b"}`), &eb)
	if status != http.StatusBadRequest {
		t.Fatalf("scan id with NUL: %d, want 400", status)
	}

	p.scanAs("north-1", north, p.newTicket().Code, "before")
	p.applyRawScan("north-1", p.newTicket().Code, "poison\x00nul")
	p.scanAs("north-1", north, p.newTicket().Code, "refused:1")
	p.scanAs("north-1", north, p.newTicket().Code, "after")

	stop := run(t, f.Run)
	waitFor(t, "the feed past both refused events", func() error {
		var ids string
		if err := d.pool.QueryRow(t.Context(), `SELECT coalesce(string_agg(scan_id, ',' ORDER BY seq), '') FROM entry_events`).Scan(&ids); err != nil {
			return err
		}
		if ids != "before,after" {
			return fmt.Errorf("entry_events: %q", ids)
		}
		return nil
	})
	stop()

	rows, err := d.pool.Query(t.Context(), `SELECT event, error FROM quarantined_events ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var event, why string
		if err := rows.Scan(&event, &why); err != nil {
			t.Fatal(err)
		}
		got = append(got, event+" | "+why)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !strings.Contains(got[0], `"scan_id":"poison\u0000nul"`) || !strings.Contains(got[0], "scan_id") ||
		!strings.Contains(got[1], `"scan_id":"refused:1"`) || !strings.Contains(got[1], "test_refused") {
		t.Fatalf("quarantined_events:\n%s", strings.Join(got, "\n"))
	}
	if n := metric(t, cfg, "admit_sync_feed_quarantined_total", ""); n != 2 {
		t.Errorf("quarantined_total = %v, want 2", n)
	}
	if n := metric(t, cfg, "admit_sync_feed_events_total", ""); n != 2 {
		t.Errorf("feed_events_total = %v, want 2", n)
	}
	if n := metric(t, cfg, "admit_sync_feed_pending_events", ""); n != 0 {
		t.Errorf("pending_events = %v, want 0", n)
	}
}

// TestFeedStuckGauges: while pages cannot be stored (here a trigger fails
// every insert: not a row's fault, so nothing is quarantined and the feed
// retries), the lag and pending gauges say so instead of showing the last
// good pull's 0; once storing works again they go back to 0.
func TestFeedStuckGauges(t *testing.T) {
	p, d := newPark(t), newDB(t)
	north := p.addGate("north-1", "main", "in")
	cfg := testConfig(t, d.pool, p.ClusterURLs())
	f, err := NewFeed(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := f.Pull(t.Context()); n != 0 || err != nil {
		t.Fatalf("first pull: %d, %v", n, err)
	}
	for _, q := range []string{
		`CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk on fire' USING ERRCODE = 'XX000'; END $$`,
		`CREATE TRIGGER test_refuse BEFORE INSERT ON entry_events FOR EACH STATEMENT EXECUTE FUNCTION test_refuse()`,
	} {
		if _, err := d.pool.Exec(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	p.scan("north-1", north, p.newTicket().Code)
	p.scan("north-1", north, p.newTicket().Code)
	if _, err := f.Pull(t.Context()); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("pull with the trigger: %v", err)
	}
	if n := metric(t, cfg, "admit_sync_feed_pending_events", ""); n != 2 {
		t.Errorf("pending_events = %v, want 2", n)
	}
	applied := metric(t, cfg, "admit_sync_feed_cluster_applied_index", "")
	cursor := metric(t, cfg, "admit_sync_feed_cursor_index", "")
	if lag := metric(t, cfg, "admit_sync_feed_lag_entries", ""); lag < 1 || lag != applied-cursor {
		t.Errorf("lag_entries = %v with applied %v and cursor %v, want their difference", lag, applied, cursor)
	}
	if n := metric(t, cfg, "admit_sync_feed_quarantined_total", ""); n != 0 {
		t.Errorf("quarantined_total = %v, want 0", n)
	}
	if _, err := d.pool.Exec(t.Context(), `DROP TRIGGER test_refuse ON entry_events`); err != nil {
		t.Fatal(err)
	}
	if n, err := f.Pull(t.Context()); n != 2 || err != nil {
		t.Fatalf("pull after: %d, %v", n, err)
	}
	if n := metric(t, cfg, "admit_sync_feed_pending_events", ""); n != 0 {
		t.Errorf("pending_events after = %v, want 0", n)
	}
	if lag := metric(t, cfg, "admit_sync_feed_lag_entries", ""); lag != 0 {
		t.Errorf("lag_entries after = %v, want 0", lag)
	}
}
