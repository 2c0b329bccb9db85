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
// tickets come from the cluster's answers (learn). The changefeed carries
// scans only, so a ticket revoked without ever being scanned at this
// agent is not on the list (docs/readme/agent.md).

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
			n, err := a.pullFeed(ctx)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				a.log.Debug("gate agent: changefeed", "err", err)
			case n >= feedPage:
				wait = 0
			}
		}
		t.Reset(wait)
	}
}

// SyncFeed reads the changefeed to its end now (it is read every Refresh
// while online anyway).
func (a *Agent) SyncFeed(ctx context.Context) error {
	for {
		n, err := a.pullFeed(ctx)
		if err != nil || n < feedPage {
			return err
		}
	}
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

// runKeys re-reads the keys and gate configuration while online.
func (a *Agent) runKeys(ctx context.Context) {
	t := time.NewTicker(a.cfg.KeyRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !a.online.Load() {
			continue
		}
		if err := a.refreshKeys(ctx); err != nil {
			a.log.Warn("gate agent: key refresh failed; keeping the cached keys", "err", err)
		}
	}
}
