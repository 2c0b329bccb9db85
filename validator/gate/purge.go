package gate

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/admitpark/admit/validator/fsm"
)

// purger keeps the state machine's memory flat: on the leader, every
// Config.PurgeInterval it applies PurgeScans for what is older than
// Config.ScanRetention (entry events and the scan-id records they
// decided), as a replicated command, so every replica forgets the same
// keys at the same log index. A scan id older than the retention is then
// decided afresh if a gate ever sends it again; gates retry within
// seconds, far inside it.
type purger struct {
	node  Applier
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	stop  chan struct{}
	done  sync.WaitGroup
	purge func(context.Context, fsm.PurgeResult) // observes each command's result; tests
}

func newPurger(node Applier, cfg Config, log *slog.Logger) *purger {
	p := &purger{node: node, cfg: cfg, log: log, now: time.Now, stop: make(chan struct{})}
	if cfg.PurgeInterval <= 0 {
		return p
	}
	p.done.Add(1)
	go p.run()
	return p
}

func (p *purger) close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.done.Wait()
}

func (p *purger) run() {
	defer p.done.Done()
	t := time.NewTicker(p.cfg.PurgeInterval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		if p.node.IsLeader() {
			p.once()
		}
	}
}

// once purges everything older than the retention, command by command
// (each deletes at most fsm.DefaultPurgeMax keys, so no entry is huge).
func (p *purger) once() {
	before := p.now().Add(-p.cfg.ScanRetention).UnixMilli()
	cmd, err := fsm.EncodePurgeScans(fsm.PurgeScans{Before: before})
	if err != nil {
		p.log.Error("purge: encode", "err", err)
		return
	}
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := p.node.Apply(ctx, cmd)
		cancel()
		if err != nil {
			p.log.Warn("purge of old scan ids and events failed; next round will retry", "err", err)
			return
		}
		r, err := fsm.DecodePurgeResult(res)
		if err != nil {
			p.log.Error("purge: result", "err", err)
			return
		}
		if p.purge != nil {
			p.purge(context.Background(), r)
		}
		if r.Events > 0 {
			p.log.Info("purged old entry events and scan ids", "events", r.Events, "scan_ids", r.ScanIDs, "before", time.UnixMilli(before).UTC())
		}
		if !r.More {
			return
		}
	}
}
