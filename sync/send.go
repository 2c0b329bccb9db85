package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/admitpark/admit/cluster/httpapi"
	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// relayPrincipal is who the audit log names for the relay's notes.
var relayPrincipal = web.Principal{Username: "sync-relay", Role: "system"}

// outboxRow is one unsent outbox row.
type outboxRow struct {
	seq     int64
	created time.Time
	kind    string
	ticket  pgtype.UUID
	version pgtype.Int8
	payload []byte
}

func (o *outboxRow) ticketID() (string, error) {
	if !o.ticket.Valid {
		return "", fmt.Errorf("%w: seq %d (%s) has no ticket_id", ErrBadRow, o.seq, o.kind)
	}
	return ticket.FormatID(o.ticket.Bytes), nil
}

// SendPending makes one pass over the outbox: every row with sent_at IS
// NULL, in seq order, until none is left or one fails. It returns how many
// rows were acknowledged and marked sent, and the error that stopped the
// pass (the failed row and those after it stay unsent). It does not take
// the advisory lock: Run does.
func (r *Relay) SendPending(ctx context.Context) (int, error) {
	r.passMu.Lock()
	defer r.passMu.Unlock()
	sent, err := r.pass(ctx)
	r.updateBacklog(ctx)
	if err != nil && ctx.Err() == nil {
		return sent, err
	}
	return sent, ctx.Err()
}

func (r *Relay) pass(ctx context.Context) (int, error) {
	sent := 0
	for {
		rows, err := r.load(ctx)
		if err != nil {
			r.m.errors.WithLabelValues("db").Inc()
			return sent, fmt.Errorf("read outbox: %w", err)
		}
		for i := 0; i < len(rows); {
			n := 1
			if rows[i].kind == "issue" {
				n = r.issueRun(rows[i:])
				err = r.sendIssues(ctx, rows[i:i+n])
			} else {
				err = r.sendOne(ctx, &rows[i])
			}
			if err != nil {
				if ctx.Err() == nil {
					r.m.errors.WithLabelValues(rows[i].kind).Inc()
				}
				return sent, fmt.Errorf("outbox seq %d (%s): %w", rows[i].seq, rows[i].kind, err)
			}
			sent += n
			i += n
		}
		if len(rows) < r.cfg.Batch {
			return sent, nil
		}
	}
}

// load reads up to Batch unsent rows in seq order. No high-water mark: a
// row that committed late with a lower seq is read by the next pass.
func (r *Relay) load(ctx context.Context) ([]outboxRow, error) {
	rows, err := r.cfg.Pool.Query(ctx, `SELECT seq, created_at, kind, ticket_id, version, payload
		FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT $1`, r.cfg.Batch)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (outboxRow, error) {
		var o outboxRow
		err := row.Scan(&o.seq, &o.created, &o.kind, &o.ticket, &o.version, &o.payload)
		return o, err
	})
}

// issueRun is how many rows from the start of rows go into one issue POST:
// consecutive issue rows, at most Batch and MaxBatchBytes of payload.
func (r *Relay) issueRun(rows []outboxRow) int {
	n, size := 0, 0
	for n < len(rows) && n < r.cfg.Batch && rows[n].kind == "issue" {
		if n > 0 && size+len(rows[n].payload)+1 > r.cfg.MaxBatchBytes {
			break
		}
		size += len(rows[n].payload) + 1
		n++
	}
	return n
}

func (r *Relay) sendIssues(ctx context.Context, rows []outboxRow) error {
	req := struct {
		Tickets []json.RawMessage `json:"tickets"`
	}{Tickets: make([]json.RawMessage, len(rows))}
	for i := range rows {
		req.Tickets[i] = rows[i].payload
	}
	var resp gateapi.IssueResponse
	if err := r.call(ctx, http.MethodPost, gateapi.PathIssue, req, &resp); err != nil {
		return err
	}
	if len(resp.Outcomes) != len(rows) {
		return fmt.Errorf("%w: %d outcomes for %d tickets", ErrNotAcknowledged, len(resp.Outcomes), len(rows))
	}
	for i, o := range resp.Outcomes {
		if o != "applied" && o != "stale" { // stale: the cluster has this version or newer
			return fmt.Errorf("%w: ticket of seq %d: outcome %q", ErrNotAcknowledged, rows[i].seq, o)
		}
	}
	return r.markSent(ctx, rows, "")
}

func (r *Relay) sendOne(ctx context.Context, o *outboxRow) error {
	switch o.kind {
	case "revoke", "update":
		return r.sendChange(ctx, o)
	case "configure":
		return r.sendConfigure(ctx, o)
	}
	return fmt.Errorf("%w: unknown kind %q", ErrBadRow, o.kind)
}

// sendChange sends a revoke ({"version":N}) or an update (gateapi.ChangeRequest).
func (r *Relay) sendChange(ctx context.Context, o *outboxRow) error {
	id, err := o.ticketID()
	if err != nil {
		return err
	}
	var req gateapi.ChangeRequest
	if err := json.Unmarshal(o.payload, &req); err != nil || req.Version == 0 {
		return fmt.Errorf(`%w: payload must be {"version":N,...}: %s`, ErrBadRow, o.payload)
	}
	path := gateapi.PathTickets + id + gateapi.PathTicketRevoke
	if o.kind == "update" {
		path = gateapi.PathTickets + id + gateapi.PathTicketUpdate
	}
	var resp gateapi.ChangeResponse
	if err := r.call(ctx, http.MethodPost, path, json.RawMessage(o.payload), &resp); err != nil {
		return err
	}
	switch resp.Outcome {
	case "revoked", "already_used", "stale", "applied":
		// Final: revoked (now or before), refused because used (the refund
		// package decides on its own revoke call), or the cluster has this
		// version or newer.
		delete(r.unknown, o.seq)
		return r.markSent(ctx, []outboxRow{*o}, "")
	case "conflict":
		// The update does not apply to the ticket's state (e.g. resume a
		// revoked ticket): it never will, so blocking the queue is no use.
		delete(r.unknown, o.seq)
		r.log.Error("sync relay: the cluster refuses this ticket change for good (conflict); marked sent with a note",
			"seq", o.seq, "kind", o.kind, "ticket", id, "payload", string(o.payload))
		return r.markSent(ctx, []outboxRow{*o}, "conflict")
	case "unknown":
		return r.unknownTicket(ctx, o, id)
	}
	return fmt.Errorf("%w: outcome %q", ErrNotAcknowledged, resp.Outcome)
}

// unknownTicket handles "unknown" (the cluster has no such ticket): the
// issue may not have arrived yet, so the row is retried; after
// UnknownAttempts answers in a row with no unsent issue row for the ticket
// left, it is given up so that it does not block the queue for ever.
func (r *Relay) unknownTicket(ctx context.Context, o *outboxRow, id string) error {
	r.unknown[o.seq]++
	attempts := r.unknown[o.seq]
	if attempts < r.cfg.UnknownAttempts {
		return fmt.Errorf("%w: the cluster does not know ticket %s (answer %d of %d before giving up)",
			ErrNotAcknowledged, id, attempts, r.cfg.UnknownAttempts)
	}
	var pending bool
	if err := r.cfg.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM outbox
		WHERE kind = 'issue' AND ticket_id = $1 AND sent_at IS NULL)`, o.ticket).Scan(&pending); err != nil {
		return fmt.Errorf("look for the ticket's issue row: %w", err)
	}
	if pending {
		return fmt.Errorf("%w: the cluster does not know ticket %s and its issue row is not sent yet", ErrNotAcknowledged, id)
	}
	r.log.Error("SYNC RELAY GAVE UP ON AN OUTBOX ROW: the cluster does not know the ticket although no issue row is pending; "+
		"marked sent with a note in audit_log (action sync.outbox.given_up) so the queue moves on; check the ticket",
		"seq", o.seq, "kind", o.kind, "ticket", id, "attempts", attempts, "payload", string(o.payload))
	delete(r.unknown, o.seq)
	return r.markSent(ctx, []outboxRow{*o}, "unknown")
}

// markSent sets sent_at on rows (acknowledged by the cluster) and records
// the metrics. A non-empty note (a row given up) goes to audit_log in the
// same transaction.
func (r *Relay) markSent(ctx context.Context, rows []outboxRow, note string) error {
	seqs := make([]int64, len(rows))
	for i := range rows {
		seqs[i] = rows[i].seq
	}
	var ages []float64
	err := pgx.BeginFunc(ctx, r.cfg.Pool, func(tx pgx.Tx) error {
		res, err := tx.Query(ctx, `UPDATE outbox SET sent_at = clock_timestamp(), note = nullif($2, '')
			WHERE seq = ANY($1) AND sent_at IS NULL
			RETURNING extract(epoch FROM clock_timestamp() - created_at)::float8`, seqs, note)
		if err != nil {
			return err
		}
		if ages, err = pgx.CollectRows(res, pgx.RowTo[float64]); err != nil {
			return err
		}
		if note == "" {
			return nil
		}
		o := rows[0]
		return audit.Record(ctx, tx, relayPrincipal, "sync.outbox.given_up", "outbox", fmt.Sprint(o.seq), map[string]any{
			"kind": o.kind, "ticket": ticketOrEmpty(o), "outcome": note, "payload": json.RawMessage(o.payload),
		})
	})
	if err != nil {
		r.m.errors.WithLabelValues("db").Inc()
		return fmt.Errorf("mark sent (the cluster has acknowledged; a resend is harmless): %w", err)
	}
	r.m.sent.WithLabelValues(rows[0].kind).Add(float64(len(ages)))
	for _, a := range ages {
		r.m.commitAck.Observe(max(a, 0))
	}
	return nil
}

func ticketOrEmpty(o outboxRow) string {
	if !o.ticket.Valid {
		return ""
	}
	return ticket.FormatID(o.ticket.Bytes)
}

func (r *Relay) updateBacklog(ctx context.Context) {
	var n int64
	if err := r.cfg.Pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&n); err == nil {
		r.m.backlog.Set(float64(n))
	}
}

// call is one cluster call; errors wrap ErrCluster.
func (r *Relay) call(ctx context.Context, method, path string, body, out any) error {
	if err := r.client.Do(ctx, method, path, body, out); err != nil {
		var apiErr *httpapi.APIError
		if errors.As(err, &apiErr) && apiErr.Status >= 400 && apiErr.Status < 500 {
			return fmt.Errorf("%w: %w (refused: the row needs an operator, see doc.go)", ErrCluster, err)
		}
		return fmt.Errorf("%w: %w", ErrCluster, err)
	}
	return nil
}
