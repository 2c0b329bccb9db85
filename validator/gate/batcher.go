package gate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/validator/fsm"
)

// Applier submits a command to the cluster; *cluster.Node is one.
type Applier interface {
	Apply(ctx context.Context, cmd []byte) ([]byte, error)
	IsLeader() bool
}

// ErrStopped: the batcher is shut down.
var ErrStopped = errors.New("gate: batcher stopped")

// Batcher groups concurrent scans into ScanBatch commands.
type Batcher struct {
	node    Applier
	cfg     Config
	m       *metrics
	queue   chan *pending
	done    chan struct{}
	wg      sync.WaitGroup
	stopped sync.Once
}

type pending struct {
	scan fsm.Scan
	res  chan outcome // buffered 1: workers never block on a gone caller
}

type outcome struct {
	r   fsm.ScanResult
	err error
}

// NewBatcher starts cfg.Workers workers; Close stops them.
func NewBatcher(node Applier, cfg Config, m *metrics) *Batcher {
	b := &Batcher{node: node, cfg: cfg, m: m, queue: make(chan *pending, cfg.MaxBatch*cfg.Workers), done: make(chan struct{})}
	for i := 0; i < cfg.Workers; i++ {
		b.wg.Add(1)
		go b.work()
	}
	return b
}

// Close stops the workers after the batches in flight; queued scans fail.
func (b *Batcher) Close() {
	b.stopped.Do(func() { close(b.done) })
	b.wg.Wait()
	for {
		select {
		case p := <-b.queue:
			p.res <- outcome{err: ErrStopped}
		default:
			return
		}
	}
}

// Scan decides scans; results come back in the order given. The error is
// for the whole call: no quorum, timeout (outcome unknown), or shutdown.
func (b *Batcher) Scan(ctx context.Context, scans []fsm.Scan) ([]fsm.ScanResult, error) {
	ps := make([]*pending, len(scans))
	for i := range scans {
		ps[i] = &pending{scan: scans[i], res: make(chan outcome, 1)}
		select {
		case b.queue <- ps[i]:
		case <-ctx.Done():
			if i == 0 {
				return nil, fmt.Errorf("%w: node too busy to queue the scan", cluster.ErrNoLeader)
			}
			return nil, fmt.Errorf("%w: %v", cluster.ErrOutcomeUnknown, ctx.Err())
		case <-b.done:
			return nil, ErrStopped
		}
	}
	out := make([]fsm.ScanResult, len(scans))
	var firstErr error
	for i, p := range ps {
		select {
		case o := <-p.res:
			if o.err != nil && firstErr == nil {
				firstErr = o.err
			}
			out[i] = o.r
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %v", cluster.ErrOutcomeUnknown, ctx.Err())
		}
	}
	return out, firstErr
}

func (b *Batcher) work() {
	defer b.wg.Done()
	batch := make([]*pending, 0, b.cfg.MaxBatch)
	scans := make([]fsm.Scan, 0, b.cfg.MaxBatch)
	var buf []byte
	for {
		batch, scans = batch[:0], scans[:0]
		select {
		case p := <-b.queue:
			batch = append(batch, p)
		case <-b.done:
			return
		}
	drain: // whatever queued while we waited joins this batch
		for len(batch) < b.cfg.MaxBatch {
			select {
			case p := <-b.queue:
				batch = append(batch, p)
			default:
				break drain
			}
		}
		for _, p := range batch {
			scans = append(scans, p.scan)
		}
		var err error
		buf, err = fsm.AppendScanBatch(buf[:0], scans)
		if err != nil { // callers validate first; this is a bug, not input
			b.fail(batch, err)
			continue
		}
		follower := !b.node.IsLeader()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), b.cfg.ScanTimeout)
		res, err := b.node.Apply(ctx, buf)
		cancel()
		b.m.observeBatch(len(batch), follower, time.Since(start))
		if err != nil {
			b.fail(batch, err)
			continue
		}
		results, err := fsm.DecodeScanResults(res)
		if err == nil && len(results) != len(batch) {
			err = fmt.Errorf("gate: %d results for %d scans", len(results), len(batch))
		}
		if err != nil {
			b.fail(batch, fmt.Errorf("%w: %v", cluster.ErrOutcomeUnknown, err))
			continue
		}
		for i, p := range batch {
			p.res <- outcome{r: results[i]}
		}
	}
}

func (b *Batcher) fail(batch []*pending, err error) {
	for _, p := range batch {
		p.res <- outcome{err: err}
	}
}
