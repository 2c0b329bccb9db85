package sync

import (
	"context"
	"fmt"

	"github.com/admitpark/admit/sync/outbox"
	"github.com/admitpark/admit/validator/gateapi"
)

// ticketID is the row's ticket id, which revoke and update rows need.
func ticketID(o *outbox.Row) (string, error) {
	if !o.HasTicket {
		return "", fmt.Errorf("%w: seq %d (%s) has no ticket_id", ErrBadRow, o.Seq, o.Kind)
	}
	return o.Ticket(), nil
}

// badRow wraps a payload that does not decode (outbox.ErrPayload,
// outbox.ErrFormat) as ErrBadRow.
func badRow(o *outbox.Row, err error) error {
	return fmt.Errorf("%w: seq %d (%s): %w", ErrBadRow, o.Seq, o.Kind, err)
}

// ticketJSON is an issue row's ticket as the gate API takes it. The two
// types have the same fields (see outbox.Ticket), so this is a conversion
// the compiler checks: when either changes, say here how they map.
func ticketJSON(t outbox.Ticket) gateapi.TicketJSON { return gateapi.TicketJSON(t) }

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
		rows, err := r.loadUnsent(ctx)
		if err != nil {
			r.m.errors.WithLabelValues("db").Inc()
			return sent, fmt.Errorf("read outbox: %w", err)
		}
		for i := 0; i < len(rows); {
			n := 1
			if rows[i].Kind == outbox.KindIssue {
				n = r.issueRun(rows[i:])
				err = r.sendIssues(ctx, rows[i:i+n])
			} else {
				err = r.sendOne(ctx, &rows[i])
			}
			if err != nil {
				if ctx.Err() == nil {
					r.m.errors.WithLabelValues(rows[i].Kind).Inc()
				}
				return sent, fmt.Errorf("outbox seq %d (%s): %w", rows[i].Seq, rows[i].Kind, err)
			}
			sent += n
			i += n
		}
		if len(rows) < r.cfg.Batch {
			return sent, nil
		}
	}
}

// issueRun is how many rows from the start of rows go into one issue POST:
// consecutive issue rows, at most Batch and MaxBatchBytes of payload.
func (r *Relay) issueRun(rows []outbox.Row) int {
	n, size := 0, 0
	for n < len(rows) && n < r.cfg.Batch && rows[n].Kind == outbox.KindIssue {
		if n > 0 && size+len(rows[n].Payload)+1 > r.cfg.MaxBatchBytes {
			break
		}
		size += len(rows[n].Payload) + 1
		n++
	}
	return n
}

func (r *Relay) sendIssues(ctx context.Context, rows []outbox.Row) error {
	tickets := make([]gateapi.TicketJSON, len(rows))
	for i := range rows {
		t, err := outbox.DecodeTicket(rows[i].Payload)
		if err != nil {
			return badRow(&rows[i], err)
		}
		tickets[i] = ticketJSON(t)
	}
	resp, err := r.client.Issue(ctx, tickets)
	if err != nil {
		return clusterErr(err)
	}
	if len(resp.Outcomes) != len(rows) {
		return fmt.Errorf("%w: %d outcomes for %d tickets", ErrNotAcknowledged, len(resp.Outcomes), len(rows))
	}
	var refused []int
	for i, o := range resp.Outcomes {
		switch {
		case o == gateapi.OutcomeApplied, o == gateapi.OutcomeStale: // stale: the cluster has this version or newer
		case gateapi.IssueRefused(o):
			refused = append(refused, i)
		default:
			return fmt.Errorf("%w: ticket of seq %d: outcome %q", ErrNotAcknowledged, rows[i].Seq, o)
		}
	}
	seqs := make([]int64, 0, len(rows))
	next := 0
	for i := range rows {
		if next < len(refused) && refused[next] == i {
			next++
			continue
		}
		seqs = append(seqs, rows[i].Seq)
	}
	if len(seqs) > 0 {
		if err := r.markSent(ctx, rows[0].Kind, seqs); err != nil {
			return err
		}
	}
	// A refused ticket (no code, a code not signed by the park's keys, or
	// another park) is refused again on every resend: blocking the queue
	// is no use. It is marked sent with the outcome as its note.
	for _, i := range refused {
		o := &rows[i]
		r.log.Error("sync relay: the cluster refuses this ticket for good; marked sent with a note (check the park's signing keys and park id)",
			"seq", o.Seq, "outcome", resp.Outcomes[i], "ticket", tickets[i].ID, "park", tickets[i].Park)
		if err := r.giveUp(ctx, o, resp.Outcomes[i]); err != nil {
			return err
		}
	}
	return nil
}

func (r *Relay) sendOne(ctx context.Context, o *outbox.Row) error {
	switch o.Kind {
	case outbox.KindRevoke, outbox.KindUpdate:
		return r.sendChange(ctx, o)
	case outbox.KindConfigure:
		return r.sendConfigure(ctx, o)
	}
	return fmt.Errorf("%w: unknown kind %q", ErrBadRow, o.Kind)
}

// sendChange sends a revoke or an update (outbox.Change as a
// gateapi.ChangeRequest).
func (r *Relay) sendChange(ctx context.Context, o *outbox.Row) error {
	id, err := ticketID(o)
	if err != nil {
		return err
	}
	c, err := outbox.DecodeChange(o.Payload)
	if err != nil {
		return badRow(o, err)
	}
	req := gateapi.ChangeRequest{Version: c.Version, Op: c.Op, ValidUntil: c.ValidUntil}
	var resp gateapi.ChangeResponse
	if o.Kind == outbox.KindUpdate {
		resp, err = r.client.Update(ctx, id, req)
	} else {
		resp, err = r.client.Revoke(ctx, id, req)
	}
	if err != nil {
		return clusterErr(err)
	}
	switch resp.Outcome {
	case gateapi.OutcomeRevoked, gateapi.OutcomeAlreadyUsed, gateapi.OutcomeStale, gateapi.OutcomeApplied:
		// Final: revoked (now or before), refused because used (the refund
		// package decides on its own revoke call), or the cluster has this
		// version or newer.
		delete(r.unknown, o.Seq)
		return r.markSent(ctx, o.Kind, []int64{o.Seq})
	case gateapi.OutcomeConflict:
		// The update does not apply to the ticket's state (e.g. resume a
		// revoked ticket): it never will, so blocking the queue is no use.
		delete(r.unknown, o.Seq)
		r.log.Error("sync relay: the cluster refuses this ticket change for good (conflict); marked sent with a note",
			"seq", o.Seq, "kind", o.Kind, "ticket", id, "payload", string(o.Payload))
		return r.giveUp(ctx, o, gateapi.OutcomeConflict)
	case gateapi.OutcomeUnknown:
		return r.unknownTicket(ctx, o, id)
	}
	return fmt.Errorf("%w: outcome %q", ErrNotAcknowledged, resp.Outcome)
}

// unknownTicket handles "unknown" (the cluster has no such ticket): the
// issue may not have arrived yet, so the row is retried; after
// UnknownAttempts answers in a row with no unsent issue row for the ticket
// left, it is given up so that it does not block the queue for ever.
func (r *Relay) unknownTicket(ctx context.Context, o *outbox.Row, id string) error {
	r.unknown[o.Seq]++
	attempts := r.unknown[o.Seq]
	if attempts < r.cfg.UnknownAttempts {
		return fmt.Errorf("%w: the cluster does not know ticket %s (answer %d of %d before giving up)",
			ErrNotAcknowledged, id, attempts, r.cfg.UnknownAttempts)
	}
	pending, err := outbox.IssuePending(ctx, r.cfg.Pool, o.TicketID)
	if err != nil {
		return fmt.Errorf("look for the ticket's issue row: %w", err)
	}
	if pending {
		return fmt.Errorf("%w: the cluster does not know ticket %s and its issue row is not sent yet", ErrNotAcknowledged, id)
	}
	r.log.Error("SYNC RELAY GAVE UP ON AN OUTBOX ROW: the cluster does not know the ticket although no issue row is pending; "+
		"marked sent with a note in audit_log (action sync.outbox.given_up) so the queue moves on; check the ticket",
		"seq", o.Seq, "kind", o.Kind, "ticket", id, "attempts", attempts, "payload", string(o.Payload))
	delete(r.unknown, o.Seq)
	return r.giveUp(ctx, o, gateapi.OutcomeUnknown)
}

// markSent marks rows of kind acknowledged (outbox.MarkSent) and records
// the metrics.
func (r *Relay) markSent(ctx context.Context, kind string, seqs []int64) error {
	ages, err := outbox.MarkSent(ctx, r.cfg.Pool, seqs)
	return r.marked(kind, ages, err)
}

// giveUp marks a row sent without an acknowledgement, with the cluster's
// outcome as its note and an audit_log entry (outbox.GiveUp).
func (r *Relay) giveUp(ctx context.Context, o *outbox.Row, outcome string) error {
	ages, err := outbox.GiveUp(ctx, r.cfg.Pool, *o, outcome)
	return r.marked(o.Kind, ages, err)
}

func (r *Relay) marked(kind string, ages []float64, err error) error {
	if err != nil {
		r.m.errors.WithLabelValues("db").Inc()
		return fmt.Errorf("mark sent (the cluster has acknowledged; a resend is harmless): %w", err)
	}
	r.m.sent.WithLabelValues(kind).Add(float64(len(ages)))
	for _, a := range ages {
		r.m.commitAck.Observe(max(a, 0))
	}
	return nil
}

func (r *Relay) updateBacklog(ctx context.Context) {
	if n, err := outbox.BacklogFor(ctx, r.cfg.Pool, r.route); err == nil {
		r.m.backlog.Set(float64(n))
	}
}

// clusterErr wraps a failed cluster call as ErrCluster. The client has
// tried every node that could not be reached or answered 5xx; a 4xx is
// the cluster refusing the row.
func clusterErr(err error) error {
	if s := gateapi.StatusOf(err); s >= 400 && s < 500 {
		return fmt.Errorf("%w: %w (refused: the row needs an operator, see doc.go)", ErrCluster, err)
	}
	return fmt.Errorf("%w: %w", ErrCluster, err)
}
