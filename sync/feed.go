package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// Feed copies the cluster's entry changefeed into entry_events. See doc.go.
type Feed struct {
	cfg    Config
	log    *slog.Logger
	client *gateapi.Client
	m      *metrics
}

// NewFeed checks cfg and builds a feed; Run starts it. Batch is the page
// size of GET /v1/events.
func NewFeed(cfg Config) (*Feed, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cl, err := cfg.client()
	if err != nil {
		return nil, err
	}
	return &Feed{cfg: cfg, log: cfg.Log.With("component", "sync.feed"), client: cl, m: newMetrics(cfg.Registerer)}, nil
}

// Run pulls until ctx ends: at once again after a full page, after Poll
// when caught up, with backoff after an error. It returns nil when ctx ends.
func (f *Feed) Run(ctx context.Context) error {
	var backoff time.Duration
	for ctx.Err() == nil {
		n, err := f.Pull(ctx)
		wait := f.cfg.Poll
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			backoff = f.cfg.nextBackoff(backoff)
			wait = backoff
			f.m.errors.WithLabelValues("feed").Inc()
			f.log.Warn("sync feed: pull failed, retrying", "err", err, "retry_in", backoff)
		case n >= f.cfg.Batch:
			backoff, wait = 0, 0
		default:
			backoff = 0
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	}
	return nil
}

// Pull reads one page of events after the stored cursor and stores them
// with the new cursor in one transaction. It returns how many events the
// page held (all of them new: the cursor moves with the rows), and sets
// the cursor and lag gauges (see doc.go).
func (f *Feed) Pull(ctx context.Context) (int, error) {
	after, err := f.cursor(ctx)
	if err != nil {
		return 0, fmt.Errorf("read feed cursor: %w", err)
	}
	// page.AppliedIndex: the answering node's state is as of this log index.
	page, err := f.client.Events(ctx, after, f.cfg.Batch)
	if err != nil {
		if gateapi.StatusOf(err) == http.StatusGone {
			f.log.Error("SYNC FEED STOPPED: the cluster purged entry events this feed has not read; "+
				"entry_events has a gap. Set settings 'sync.feed.cursor' past the purge point to go on", "after", after, "err", err)
			return 0, fmt.Errorf("%w: after %q: %w", ErrEventsPurged, after, err)
		}
		return 0, fmt.Errorf("%w: %w", ErrCluster, err)
	}
	if len(page.Events) == 0 {
		f.observeLag(&page, after)
		return 0, nil
	}
	cols, err := eventColumns(page.Events)
	if err != nil {
		return 0, err
	}
	next := page.Events[len(page.Events)-1].Cursor
	stored, moved, now := 0, false, ""
	err = pgx.BeginFunc(ctx, f.cfg.Pool, func(tx pgx.Tx) error {
		// The cursor row is locked, and must still be where this page
		// started: a second feed that stored the page first wins.
		if _, err := tx.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, to_jsonb(''::text)) ON CONFLICT DO NOTHING`, FeedCursorKey); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT value #>> '{}' FROM settings WHERE key = $1 FOR UPDATE`, FeedCursorKey).Scan(&now); err != nil {
			return err
		}
		if now != after {
			moved = true
			return nil
		}
		tag, err := tx.Exec(ctx, `INSERT INTO entry_events (cursor_index, cursor_pos, seq, scan_id, ticket_id, gate, zone,
				direction, persons, result, reason, at)
			SELECT * FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::text[], $5::uuid[], $6::text[], $7::text[],
				$8::text[], $9::int[], $10::text[], $11::text[], $12::timestamptz[])
			ON CONFLICT DO NOTHING`,
			cols.index, cols.pos, cols.seq, cols.scanID, cols.ticketID, cols.gate, cols.zone,
			cols.direction, cols.persons, cols.result, cols.reason, cols.at)
		if err != nil {
			return err
		}
		stored = int(tag.RowsAffected())
		// First entries: the earliest admitted "in" per ticket of this
		// page, where the ticket has none yet.
		if _, err := tx.Exec(ctx, `UPDATE tickets t SET first_entry_at = e.at, first_entry_gate = e.gate
			FROM (SELECT DISTINCT ON (ticket_id) ticket_id, at, gate
				FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::bigint[]) AS u(ticket_id, at, gate, result, direction, seq)
				WHERE result = 'admit' AND direction = 'in'
				ORDER BY ticket_id, seq) e
			WHERE t.id = e.ticket_id AND t.first_entry_at IS NULL`,
			cols.ticketID, cols.at, cols.gate, cols.result, cols.direction, cols.seq); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE settings SET value = to_jsonb($2::text), updated_at = now() WHERE key = $1`, FeedCursorKey, next)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store %d entry events: %w", len(page.Events), err)
	}
	f.m.feedEvents.Add(float64(stored))
	if moved {
		f.observeLag(&page, now)
		return 0, nil // another feed stored this page
	}
	f.observeLag(&page, next)
	return len(page.Events), nil
}

// observeLag sets the cursor and lag gauges after a pull that left the
// stored cursor at cursor. A page that was not full holds every event the
// answering node had up to its applied index: the feed is caught up (lag
// 0). After a full page, more may follow: the lag is the node's applied
// index minus the cursor's log index, an upper bound in log entries (most
// entries are ticket changes and hold no events).
func (f *Feed) observeLag(page *gateapi.EventsResponse, cursor string) {
	idx := int64(0)
	if cursor != "" {
		if i, _, err := parseCursor(cursor); err == nil {
			idx = i
		}
	}
	f.m.feedCursor.Set(float64(idx))
	lag := 0.0
	if len(page.Events) >= f.cfg.Batch && page.AppliedIndex > uint64(idx) {
		lag = float64(page.AppliedIndex - uint64(idx))
	}
	f.m.feedLag.Set(lag)
}

func (f *Feed) cursor(ctx context.Context) (string, error) {
	var c string
	err := f.cfg.Pool.QueryRow(ctx, `SELECT value #>> '{}' FROM settings WHERE key = $1`, FeedCursorKey).Scan(&c)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return c, err
}

// columns holds a page of events column by column, for unnest.
type columns struct {
	index, seq                                              []int64
	pos, persons                                            []int32
	scanID, ticketID, gate, zone, direction, result, reason []string
	at                                                      []time.Time
}

func eventColumns(events []gateapi.EventJSON) (*columns, error) {
	c := &columns{}
	for _, e := range events {
		idx, pos, err := parseCursor(e.Cursor)
		if err != nil {
			return nil, fmt.Errorf("event seq %d: %w", e.Seq, err)
		}
		id, err := ticket.ParseID(e.TicketID)
		if err != nil {
			return nil, fmt.Errorf("event seq %d: ticket id: %w", e.Seq, err)
		}
		c.index, c.pos, c.seq = append(c.index, idx), append(c.pos, pos), append(c.seq, int64(e.Seq))
		c.scanID, c.ticketID = append(c.scanID, e.ScanID), append(c.ticketID, uuidString(id))
		c.gate, c.zone, c.direction = append(c.gate, e.Gate), append(c.zone, e.Zone), append(c.direction, e.Direction)
		c.persons, c.result, c.reason = append(c.persons, int32(e.Persons)), append(c.result, e.Result), append(c.reason, e.Reason)
		c.at = append(c.at, e.At)
	}
	return c, nil
}

// parseCursor splits "INDEX.POS".
func parseCursor(s string) (int64, int32, error) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			idx, err1 := strconv.ParseInt(s[:i], 10, 64)
			pos, err2 := strconv.ParseInt(s[i+1:], 10, 32)
			if err1 == nil && err2 == nil && idx >= 0 && pos >= 0 {
				return idx, int32(pos), nil
			}
			break
		}
	}
	return 0, 0, fmt.Errorf("bad cursor %q: want INDEX.POS", s)
}

func uuidString(id [16]byte) string {
	h := ticket.FormatID(id) // 32 hex digits; Postgres reads that as a uuid too
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
