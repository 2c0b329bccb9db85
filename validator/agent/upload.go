package agent

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/admitpark/admit/validator/gateapi"
)

// runUploader sends the backlog in order while there is one, and brings
// the agent back online once the cluster answers and the backlog is
// empty: until then scans are decided here, so this agent's scans reach
// the cluster in the order it decided them.
func (a *Agent) runUploader(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		case <-t.C:
		}
		more, err := a.uploadOnce(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, ErrCorrupt):
			// Not the network: the store. The backlog stays (nothing is
			// dropped) and this needs a person.
			a.m.uploadErrors.Inc()
			a.log.Error("gate agent: backlog unreadable; upload stopped", "err", err)
			t.Reset(10 * a.cfg.Probe)
		case err != nil:
			a.m.uploadErrors.Inc()
			a.log.Debug("gate agent: cluster not reachable", "err", err)
			t.Reset(a.cfg.Probe)
		case more:
			t.Reset(0)
		default:
			t.Reset(a.cfg.Probe)
		}
	}
}

// uploadOnce uploads one batch of the backlog (more: there is more), or,
// with an empty backlog, checks the cluster and goes online.
func (a *Agent) uploadOnce(ctx context.Context) (more bool, err error) {
	recs, err := a.store.Pending(a.cfg.UploadBatch)
	if err != nil {
		return false, err
	}
	if len(recs) == 0 {
		if a.online.Load() {
			return false, nil
		}
		if err := a.refreshKeys(ctx); err != nil {
			return false, err
		}
		// Decisions committed meanwhile go first.
		a.mu.Lock()
		last := a.seq
		a.mu.Unlock()
		if n, err := a.store.BacklogLen(); err != nil || n > 0 {
			return n > 0, err
		}
		a.mu.Lock()
		if a.seq == last {
			a.online.Store(true)
			a.log.Info("gate agent: the cluster answers and the backlog is empty; online")
		}
		a.mu.Unlock()
		return false, nil
	}
	reqs := make([]gateapi.ScanRequest, len(recs))
	for i := range recs {
		reqs[i] = uploadRequest(&recs[i], a.cfg.Gate)
	}
	cctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
	out, err := a.client.ScanBatch(cctx, reqs)
	cancel()
	if err != nil {
		// A 4xx would refuse this batch for ever: say so, it needs a person.
		if gateapi.StatusOf(err)/100 == 4 {
			a.log.Error("gate agent: the cluster refused the backlog upload; it stays in the store", "err", err, "first_seq", recs[0].Seq)
		}
		return false, err
	}
	n := 0
	var again []gateapi.ScanRequest
	for n < len(out) && n < len(recs) && out[n].Error == "" {
		if out[n].Rescan && out[n].Result != reqs[n].Offline {
			// The cluster holds another decision under this scan id: the
			// live attempt the agent gave up on was applied after all,
			// and it differs from what the gate did. Record what the gate
			// did under an id of its own, so a double use shows as a
			// conflict instead of hiding behind the live deny.
			a.log.Warn("gate agent: the cluster applied the live scan the agent gave up on, with another decision; uploading what the gate did beside it",
				"scan_id", recs[n].ScanID, "cluster", out[n].Result, "gate", reqs[n].Offline)
			r := reqs[n]
			r.ScanID = offlineID(r.ScanID)
			again = append(again, r)
		}
		a.noteConflict(&recs[n], &out[n])
		n++
	}
	if n == 0 {
		return false, errNoProgress
	}
	if len(again) > 0 {
		cctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
		out2, err := a.client.ScanBatch(cctx, again)
		cancel()
		if err != nil {
			return false, err
		}
		for i := range out2 {
			if out2[i].Error != "" {
				return false, fmt.Errorf("scan %s: %s", again[i].ScanID, out2[i].Error)
			}
			a.noteConflict(&Record{ScanID: again[i].ScanID}, &out2[i])
		}
	}
	if err := a.store.Uploaded(recs[:n]); err != nil {
		return false, err
	}
	a.m.uploaded.Add(float64(n))
	return true, nil
}

func (a *Agent) noteConflict(r *Record, resp *gateapi.ScanResponse) {
	if resp.Conflict && !resp.Rescan {
		a.m.conflicts.Inc()
		a.log.Warn("gate agent: an offline admit met another admit of the same ticket (conflict recorded by the cluster)",
			"scan_id", r.ScanID, "ticket_id", resp.TicketID)
	}
}

// offlineID is the scan id under which the agent records what the gate did
// when the cluster holds another decision under the scan's own id: the id
// with "~o" (shortened with a checksum to fit 64 bytes), the same on every
// retry.
func offlineID(id string) string {
	if len(id) <= 62 {
		return id + "~o"
	}
	return fmt.Sprintf("%s~%08x~o", id[:53], crc32.ChecksumIEEE([]byte(id)))
}

// uploadRequest is a backlog record as POST /v1/scans carries it: same
// scan id (a retry is a rescan on the cluster), the device time and the
// decision the gate acted on.
func uploadRequest(r *Record, gate string) gateapi.ScanRequest {
	off := gateapi.ResultDeny
	if r.Admit {
		off = gateapi.ResultAdmit
	}
	return gateapi.ScanRequest{Code: r.Code, Gate: gate, ScanID: r.ScanID, Direction: r.Direction, Persons: r.Persons,
		DeviceTime: time.UnixMilli(r.DeviceTime).UTC(), Offline: off}
}
