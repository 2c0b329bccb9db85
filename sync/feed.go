package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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
				"entry_events has a gap. Set the settings row named by cursor_key past the purge point to go on",
				"cursor_key", f.cfg.CursorKey(), "after", after, "err", err)
			return 0, fmt.Errorf("%w: after %q: %w", ErrEventsPurged, after, err)
		}
		return 0, fmt.Errorf("%w: %w", ErrCluster, err)
	}
	f.m.feedClusterIndex.Set(float64(page.AppliedIndex))
	if len(page.Events) == 0 {
		f.observeLag(&page, after)
		return 0, nil
	}
	next := page.Events[len(page.Events)-1].Cursor
	if _, _, err := parseCursor(next); err != nil {
		f.observeStuck(&page, after)
		return 0, fmt.Errorf("%w: last event of the page: %w", ErrCluster, err)
	}
	res, err := f.store(ctx, page.Events, after, next)
	if err != nil {
		f.observeStuck(&page, after)
		return 0, fmt.Errorf("store %d entry events: %w", len(page.Events), err)
	}
	f.m.feedEvents.Add(float64(res.stored))
	if len(res.quarantined) > 0 {
		f.m.feedQuarantined.Add(float64(len(res.quarantined)))
		for _, q := range res.quarantined {
			f.log.Error("sync feed: QUARANTINED an entry event that cannot be stored in entry_events; "+
				"it is kept in quarantined_events and the feed goes on past it",
				"cursor", q.event.Cursor, "seq", q.event.Seq, "gate", fmt.Sprintf("%q", q.event.Gate),
				"scan_id", fmt.Sprintf("%q", q.event.ScanID), "err", q.reason)
		}
	}
	if res.moved {
		f.observeLag(&page, res.now)
		return 0, nil // another feed stored this page
	}
	f.observeLag(&page, next)
	return len(page.Events), nil
}

// stored is what store did with a page.
type stored struct {
	stored      int    // rows new in entry_events
	moved       bool   // another feed had stored the page: nothing done
	now         string // the cursor found when moved
	quarantined []quarantined
}

type quarantined struct {
	event  gateapi.EventJSON
	reason string
}

// store stores a page of events after cursor after, with the new cursor
// next, in one transaction. An event that cannot be stored as it is (a
// text field PostgreSQL refuses, such as one holding NUL; a ticket id that
// does not parse; any other data or constraint error on its row) is put in
// quarantined_events instead, in the same transaction, so the page, the
// quarantine and the cursor commit together and the feed goes on.
func (f *Feed) store(ctx context.Context, events []gateapi.EventJSON, after, next string) (stored, error) {
	var res stored
	err := pgx.BeginFunc(ctx, f.cfg.Pool, func(tx pgx.Tx) error {
		res = stored{}
		// The cursor row is locked, and must still be where this page
		// started: a second feed that stored the page first wins.
		if _, err := tx.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, to_jsonb(''::text)) ON CONFLICT DO NOTHING`, f.cfg.CursorKey()); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT value #>> '{}' FROM settings WHERE key = $1 FOR UPDATE`, f.cfg.CursorKey()).Scan(&res.now); err != nil {
			return err
		}
		if res.now != after {
			res.moved = true
			return nil
		}
		// Events that are refused for sure are set aside before the insert.
		var good []gateapi.EventJSON
		for _, e := range events {
			if why := unstorable(e); why != "" {
				res.quarantined = append(res.quarantined, quarantined{e, why})
				continue
			}
			good = append(good, e)
		}
		n, err := insertEvents(ctx, tx, f.cfg.Park, good)
		if isRowError(err) {
			// One of them is refused for another reason: find it, row by row.
			n, good, err = 0, nil, nil
			for _, e := range events {
				if unstorable(e) != "" {
					continue
				}
				k, ierr := insertEvents(ctx, tx, f.cfg.Park, []gateapi.EventJSON{e})
				switch {
				case isRowError(ierr):
					res.quarantined = append(res.quarantined, quarantined{e, ierr.Error()})
				case ierr != nil:
					return ierr
				default:
					n += k
					good = append(good, e)
				}
			}
		}
		if err != nil {
			return err
		}
		res.stored = n
		if err := quarantine(ctx, tx, f.cfg.Park, res.quarantined); err != nil {
			return err
		}
		if err := firstEntries(ctx, tx, good); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE settings SET value = to_jsonb($2::text), updated_at = now() WHERE key = $1`, f.cfg.CursorKey(), next)
		return err
	})
	return res, err
}

// unstorable says why e cannot go into entry_events as it is, or "" when
// it can as far as the feed can tell: a ticket id that does not parse, or
// text PostgreSQL refuses (NUL) or that is not clean (ticket.CleanText:
// control characters, invalid UTF-8). The gate API refuses such text at
// its edge; an event holding it was recorded before that, or by a node
// that does not check.
func unstorable(e gateapi.EventJSON) string {
	if _, _, err := parseCursor(e.Cursor); err != nil {
		return err.Error()
	}
	if _, err := ticket.ParseID(e.TicketID); err != nil {
		return "ticket id: " + err.Error()
	}
	for _, f := range [...]struct{ name, v string }{
		{"scan_id", e.ScanID}, {"gate", e.Gate}, {"zone", e.Zone}, {"direction", e.Direction},
		{"result", e.Result}, {"reason", e.Reason}, {"credential", e.Credential},
	} {
		if !ticket.CleanText(f.v) {
			return fmt.Sprintf("%s %q is not clean text (control characters or invalid UTF-8)", f.name, f.v)
		}
	}
	return ""
}

// isRowError: err is PostgreSQL refusing a row's data (SQLSTATE class 22,
// data exception, e.g. invalid byte sequence; class 23, integrity
// constraint), not a failure that a retry may cure.
func isRowError(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23"))
}

// insertEvents inserts events of cluster (the park id of the cluster the
// events came from, "" the default) into entry_events inside a savepoint,
// so a refused row leaves tx usable; it returns the rows that were new.
func insertEvents(ctx context.Context, tx pgx.Tx, cluster string, events []gateapi.EventJSON) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	cols, err := eventColumns(events)
	if err != nil {
		return 0, err
	}
	sp, err := tx.Begin(ctx) // a savepoint
	if err != nil {
		return 0, err
	}
	tag, err := sp.Exec(ctx, `INSERT INTO entry_events (cluster, cursor_index, cursor_pos, seq, scan_id, ticket_id, gate, zone,
			direction, persons, result, reason, at, device_time, credential, offline, conflict)
		SELECT $13, * FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::text[], $5::uuid[], $6::text[], $7::text[],
			$8::text[], $9::int[], $10::text[], $11::text[], $12::timestamptz[], $14::timestamptz[], $15::text[],
			$16::boolean[], $17::boolean[])
		ON CONFLICT DO NOTHING`,
		cols.index, cols.pos, cols.seq, cols.scanID, cols.ticketID, cols.gate, cols.zone,
		cols.direction, cols.persons, cols.result, cols.reason, cols.at, cluster,
		cols.deviceTime, cols.credential, cols.offline, cols.conflict)
	if err != nil {
		sp.Rollback(ctx)
		return 0, err
	}
	return int(tag.RowsAffected()), sp.Commit(ctx)
}

// quarantine keeps events in quarantined_events (sales migration 5), as
// the cluster sent them in JSON (which escapes what PostgreSQL refuses in
// text), with why.
func quarantine(ctx context.Context, tx pgx.Tx, cluster string, qs []quarantined) error {
	for _, q := range qs {
		raw, err := json.Marshal(q.event)
		if err != nil {
			return err
		}
		idx, pos, _ := parseCursor(q.event.Cursor) // 0, 0 if it does not parse; seq is the key
		if _, err := tx.Exec(ctx, `INSERT INTO quarantined_events (cluster, cursor_index, cursor_pos, seq, event, error)
			VALUES ($6, $1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
			idx, pos, int64(q.event.Seq), string(raw), cleanReason(q.reason), cluster); err != nil {
			return err
		}
	}
	return nil
}

// cleanReason makes an error message storable as text: NUL written out,
// invalid UTF-8 replaced.
func cleanReason(s string) string {
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", `\x00`), "\uFFFD")
}

// firstEntries sets tickets.first_entry_at/gate from the earliest admitted
// "in" event per ticket of events, where the ticket has none yet.
func firstEntries(ctx context.Context, tx pgx.Tx, events []gateapi.EventJSON) error {
	if len(events) == 0 {
		return nil
	}
	cols, err := eventColumns(events)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE tickets t SET first_entry_at = e.at, first_entry_gate = e.gate
		FROM (SELECT DISTINCT ON (ticket_id) ticket_id, at, gate
			FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::bigint[]) AS u(ticket_id, at, gate, result, direction, seq)
			WHERE result = 'admit' AND direction = 'in'
			ORDER BY ticket_id, seq) e
		WHERE t.id = e.ticket_id AND t.first_entry_at IS NULL`,
		cols.ticketID, cols.at, cols.gate, cols.result, cols.direction, cols.seq)
	return err
}

// observeStuck sets the gauges after a page the cluster sent could not be
// stored: the feed is behind by at least that page, whatever it showed
// before, so the lag is the answering node's applied index minus the
// stored cursor's index (never 0), and the page's events are pending.
func (f *Feed) observeStuck(page *gateapi.EventsResponse, cursor string) {
	idx := int64(0)
	if cursor != "" {
		if i, _, err := parseCursor(cursor); err == nil {
			idx = i
		}
	}
	f.m.feedCursor.Set(float64(idx))
	f.m.feedPending.Set(float64(len(page.Events)))
	lag := 1.0
	if page.AppliedIndex > uint64(idx) {
		lag = float64(page.AppliedIndex - uint64(idx))
	}
	f.m.feedLag.Set(lag)
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
	f.m.feedPending.Set(0)
	lag := 0.0
	if len(page.Events) >= f.cfg.Batch && page.AppliedIndex > uint64(idx) {
		lag = float64(page.AppliedIndex - uint64(idx))
	}
	f.m.feedLag.Set(lag)
}

func (f *Feed) cursor(ctx context.Context) (string, error) {
	var c string
	err := f.cfg.Pool.QueryRow(ctx, `SELECT value #>> '{}' FROM settings WHERE key = $1`, f.cfg.CursorKey()).Scan(&c)
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
	deviceTime                                              []*time.Time // NULL: not sent
	credential                                              []string
	offline, conflict                                       []bool
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
		var dt *time.Time
		if !e.DeviceTime.IsZero() {
			dt = &e.DeviceTime
		}
		c.deviceTime, c.credential = append(c.deviceTime, dt), append(c.credential, e.Credential)
		c.offline, c.conflict = append(c.offline, e.Offline), append(c.conflict, e.Conflict)
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
