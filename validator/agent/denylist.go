package agent

import (
	"context"
	"net/http"
	"time"

	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// The deny list is what lets an offline agent refuse a ticket already
// used elsewhere: while online it follows the cluster's changefeed (GET
// /v1/events) and keeps, per ticket, the usage of its gate's zone (the
// same counters rules.Decide keeps on the cluster); revoked and suspended
// tickets come from the cluster's answers (learn) and, for revoked ones,
// from the cluster's revocation list (GET /v1/revocations), which it
// follows beside the changefeed: a ticket refunded while the agent is
// online is denied once it is cut off. A suspension is learnt only from
// an answer (docs/agent.md).

const feedPage = 1000

// runFeed follows the changefeed while the agent is online.
func (a *Agent) runFeed(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		wait := a.cfg.Refresh
		if a.view.Load() != nil && a.online.Load() {
			for _, f := range []struct {
				name string
				pull func(context.Context) (int, error)
			}{{"changefeed", a.pullFeed}, {"revocations", a.pullRevocations}} {
				n, err := f.pull(ctx)
				switch {
				case ctx.Err() != nil:
					return
				case err != nil:
					a.log.Debug("gate agent: "+f.name, "err", err)
				case n >= feedPage:
					wait = 0 // a full page: more is waiting
				}
			}
		}
		t.Reset(wait)
	}
}

// SyncFeed reads the changefeed and the revocation list to their ends
// now (they are read every Refresh while online anyway).
func (a *Agent) SyncFeed(ctx context.Context) error {
	for _, pull := range []func(context.Context) (int, error){a.pullFeed, a.pullRevocations} {
		for {
			n, err := pull(ctx)
			if err != nil {
				return err
			}
			if n < feedPage {
				break
			}
		}
	}
	return nil
}

// pullRevocations reads one page of the cluster's revocation list onto
// the deny list; it returns how many it read.
func (a *Agent) pullRevocations(ctx context.Context) (int, error) {
	a.feedMu.Lock()
	defer a.feedMu.Unlock()
	cursor, err := a.store.RevocationCursor()
	if err != nil {
		return 0, err
	}
	cctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
	resp, err := a.client.GateRevocations(cctx, a.cfg.Gate, cursor, feedPage)
	cancel()
	if err != nil {
		return 0, err
	}
	if len(resp.Revocations) == 0 {
		return 0, nil
	}
	revs := make([]Revoked, 0, len(resp.Revocations))
	for _, r := range resp.Revocations {
		if id, err := ticket.ParseID(r.TicketID); err == nil {
			rv := Revoked{ID: id}
			if !r.ValidUntil.IsZero() {
				rv.ValidUntil = r.ValidUntil.UnixMilli()
			}
			revs = append(revs, rv)
		}
	}
	if err := a.store.ApplyRevocations(revs, resp.Next); err != nil {
		return 0, err
	}
	return len(resp.Revocations), nil
}

// pullFeed reads one page of events and folds those of the gate's zone
// into the usage table; it returns how many events it read.
func (a *Agent) pullFeed(ctx context.Context) (int, error) {
	a.feedMu.Lock() // one reader: a page folded twice would count twice
	defer a.feedMu.Unlock()
	v := a.view.Load()
	cursor, err := a.store.Cursor()
	if err != nil {
		return 0, err
	}
	cctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
	resp, err := a.client.GateEvents(cctx, a.cfg.Gate, cursor, feedPage)
	cancel()
	reset := false
	if gateapi.StatusOf(err) == http.StatusGone {
		// Purged past our cursor: rebuild the usage from what is kept.
		a.log.Warn("gate agent: changefeed purged past our position; rebuilding the deny list from its start")
		cctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
		resp, err = a.client.GateEvents(cctx, a.cfg.Gate, "", feedPage)
		cancel()
		reset = true
	}
	if err != nil {
		return 0, err
	}
	if len(resp.Events) == 0 && !reset {
		return 0, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	b := FeedBatch{Uses: map[[16]byte]ticket.ZoneUse{}, Cursor: resp.Next, Reset: reset}
	for _, e := range resp.Events {
		if e.Gate == a.cfg.Gate { // ours: the feed counts it from now on
			a.dropPending(e.ScanID)
			b.Seen = append(b.Seen, e.ScanID)
		}
		if e.Zone != v.zone || e.Result != gateapi.ResultAdmit {
			continue
		}
		id, err := ticket.ParseID(e.TicketID)
		if err != nil {
			continue
		}
		u, ok := b.Uses[id]
		if !ok && !reset {
			if u, _, _, err = a.store.Use(id, v.zone); err != nil {
				return 0, err
			}
		}
		b.Uses[id] = fold(u, delta{out: e.Direction == gateapi.DirectionOut, persons: e.Persons, at: e.At.UnixMilli(), gate: e.Gate}, v.loc)
	}
	if err := a.store.ApplyFeed(b); err != nil {
		return 0, err
	}
	return len(resp.Events), nil
}

// runKeys re-reads the keys and gate configuration while online, and
// prunes what the agent no longer needs to remember (ScanRetention).
func (a *Agent) runKeys(ctx context.Context) {
	t := time.NewTicker(a.cfg.KeyRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := a.store.Prune(time.Now().Add(-a.cfg.ScanRetention)); err != nil {
			a.log.Warn("gate agent: pruning the store", "err", err)
		} else if n > 0 {
			a.log.Debug("gate agent: forgot old scan ids", "n", n)
		}
		if !a.online.Load() {
			continue
		}
		if err := a.refreshKeys(ctx); err != nil {
			a.log.Warn("gate agent: key refresh failed; keeping the cached keys", "err", err)
		}
	}
}
