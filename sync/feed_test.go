package sync

import (
	"fmt"
	"testing"
	"time"

	"github.com/admitpark/admit/validator/gateapi"
	"github.com/jackc/pgx/v5/pgtype"
)

// saleTicket adds the sales rows a ticket needs (park, product, order,
// line, key) so the feed can set its first entry.
func (d *db) saleTicket(tj gateapi.TicketJSON) {
	d.t.Helper()
	ctx := d.t.Context()
	for _, q := range []string{
		`INSERT INTO parks (id, name, time_zone) VALUES ('p1', 'Park', 'Asia/Shanghai') ON CONFLICT DO NOTHING`,
		`INSERT INTO products (id, park_id, name, kind, price_minor) VALUES ('day-adult', 'p1', 'Day', 'single', 100) ON CONFLICT DO NOTHING`,
		`INSERT INTO signing_keys (id, public_key, private_key) VALUES (1, '\x00', '\x00') ON CONFLICT DO NOTHING`,
	} {
		if _, err := d.pool.Exec(ctx, q); err != nil {
			d.t.Fatal(err)
		}
	}
	var orderID, lineID int64
	if err := d.pool.QueryRow(ctx, `INSERT INTO orders (number, park_id, channel, status, currency, total_minor)
		VALUES ($1, 'p1', 'window', 'paid', 'CNY', 100) RETURNING id`, "T-"+tj.ID[:12]).Scan(&orderID); err != nil {
		d.t.Fatal(err)
	}
	if err := d.pool.QueryRow(ctx, `INSERT INTO order_lines (order_id, product_id, visit_date, quantity, unit_price_minor)
		VALUES ($1, 'day-adult', current_date, 1, 100) RETURNING id`, orderID).Scan(&lineID); err != nil {
		d.t.Fatal(err)
	}
	if _, err := d.pool.Exec(ctx, `INSERT INTO tickets (id, order_id, order_line_id, park_id, product_id, kind, visit_date,
			valid_from, valid_until, status, code, key_id, price_minor)
		VALUES ($1, $2, $3, 'p1', 'day-adult', 'single', current_date, $4, $5, 'active', $6, 1, 100)`,
		tj.ID, orderID, lineID, tj.ValidFrom, tj.ValidUntil, tj.Code); err != nil {
		d.t.Fatal(err)
	}
}

func TestFeedStoresEachEventOnce(t *testing.T) {
	p, d := newPark(t), newDB(t)
	north := p.addGate("north-1", "main", "in")
	south := p.addGate("south-1", "main", "in")
	r := newRelay(t, testConfig(t, d.pool, p.ClusterURLs()))
	cfg := testConfig(t, d.pool, p.ClusterURLs())
	cfg.Batch = 2 // pages of 2 events
	f, err := NewFeed(cfg)
	if err != nil {
		t.Fatal(err)
	}

	var tickets []gateapi.TicketJSON
	for range 3 {
		tj := p.newTicket()
		tickets = append(tickets, tj)
		d.saleTicket(tj)
		d.issue(tj)
	}
	if _, err := r.SendPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Admit all three at north-1, then ticket 0 again at south-1 (denied).
	for _, tj := range tickets {
		if res := p.scan("north-1", north, tj.Code); res.Result != "admit" {
			t.Fatalf("scan: %+v", res)
		}
	}
	if res := p.scan("south-1", south, tickets[0].Code); res.Reason != "already_used" {
		t.Fatalf("second scan: %+v", res)
	}
	unknown := p.newTicket() // scanned, never issued: an event for a ticket sales does not have
	p.scan("north-1", north, unknown.Code)

	total := 0
	for {
		n, err := f.Pull(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		total += n
	}
	if total != 5 {
		t.Fatalf("pulled %d events, want 5", total)
	}
	if n, err := f.Pull(t.Context()); n != 0 || err != nil {
		t.Fatalf("Pull when caught up = %d, %v", n, err)
	}
	var rows, distinct int
	if err := d.pool.QueryRow(t.Context(), `SELECT count(*), count(DISTINCT seq) FROM entry_events`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != 5 || distinct != 5 {
		t.Fatalf("entry_events: %d rows, %d distinct", rows, distinct)
	}
	var deny string
	if err := d.pool.QueryRow(t.Context(), `SELECT result || '/' || reason || '/' || gate FROM entry_events WHERE ticket_id = $1 ORDER BY seq DESC LIMIT 1`,
		tickets[0].ID).Scan(&deny); err != nil || deny != "deny/already_used/south-1" {
		t.Fatalf("last event of ticket 0: %q, %v", deny, err)
	}
	for _, tj := range tickets {
		var at pgtype.Timestamptz
		var g pgtype.Text
		if err := d.pool.QueryRow(t.Context(), `SELECT first_entry_at, first_entry_gate FROM tickets WHERE id = $1`, tj.ID).Scan(&at, &g); err != nil {
			t.Fatal(err)
		}
		if !at.Valid || g.String != "north-1" || time.Since(at.Time) > time.Minute {
			t.Fatalf("ticket %s: first entry %v at %q", tj.ID, at, g.String)
		}
	}
	var cursor string
	if err := d.pool.QueryRow(t.Context(), `SELECT value #>> '{}' FROM settings WHERE key = $1`, FeedCursorKey).Scan(&cursor); err != nil || cursor == "" {
		t.Fatalf("cursor %q, %v", cursor, err)
	}

	// New scans after a restart (a new Feed) continue from the stored cursor.
	f2, err := NewFeed(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.scan("north-1", north, tickets[1].Code) // denied: already used
	stop := run(t, f2.Run)
	waitFor(t, "the sixth event", func() error {
		var n int
		if err := d.pool.QueryRow(t.Context(), `SELECT count(*) FROM entry_events`).Scan(&n); err != nil {
			return err
		}
		if n != 6 {
			return fmt.Errorf("%d events", n)
		}
		return nil
	})
	stop()
	if got := metric(t, cfg, "admit_sync_feed_events_total", ""); got != 6 {
		t.Errorf("feed_events_total = %v, want 6", got)
	}
}

// TestFeedLag: the cursor and lag gauges follow the pages; a page that is
// not full means caught up (lag 0) although the cluster's log has moved on
// with entries that hold no events.
func TestFeedLag(t *testing.T) {
	p, d := newPark(t), newDB(t)
	north := p.addGate("north-1", "main", "in")
	cfg := testConfig(t, d.pool, p.ClusterURLs())
	cfg.Batch = 2
	f, err := NewFeed(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // three events (tickets the cluster does not know)
		p.scan("north-1", north, p.newTicket().Code)
	}
	r := newRelay(t, testConfig(t, d.pool, p.ClusterURLs()))
	d.issue(p.newTicket()) // a log entry with no event, after the scans
	if _, err := r.SendPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	applied := p.h.Leader().Node().AppliedIndex()
	p.h.WaitApplied(applied, 10*time.Second) // whichever node answers is there

	cursorIndex := func() int64 {
		t.Helper()
		var c string
		if err := d.pool.QueryRow(t.Context(), `SELECT value #>> '{}' FROM settings WHERE key = $1`, FeedCursorKey).Scan(&c); err != nil {
			t.Fatal(err)
		}
		idx, _, err := parseCursor(c)
		if err != nil {
			t.Fatal(err)
		}
		return idx
	}
	pull := func(want int) {
		t.Helper()
		if n, err := f.Pull(t.Context()); n != want || err != nil {
			t.Fatalf("Pull = %d, %v; want %d", n, err, want)
		}
	}
	gauges := func(wantCursor int64, wantLag uint64) {
		t.Helper()
		if got := metric(t, cfg, "admit_sync_feed_cursor_index", ""); got != float64(wantCursor) {
			t.Errorf("cursor_index = %v, want %d", got, wantCursor)
		}
		if got := metric(t, cfg, "admit_sync_feed_lag_entries", ""); got != float64(wantLag) {
			t.Errorf("lag_entries = %v, want %d", got, wantLag)
		}
	}

	pull(2) // a full page: more may follow
	idx := cursorIndex()
	if uint64(idx) >= applied {
		t.Fatalf("cursor index %d, applied %d: the issue should come after the scans", idx, applied)
	}
	gauges(idx, applied-uint64(idx))
	pull(1) // the last event: not a full page, caught up
	last := cursorIndex()
	gauges(last, 0)
	pull(0) // nothing new: the cursor stays, still caught up
	gauges(last, 0)
	if uint64(last) >= applied {
		t.Fatalf("last event index %d, applied %d", last, applied)
	}
}
