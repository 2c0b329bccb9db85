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

// leaderCaller is implemented by nodes that can hand work to the leader
// (*cluster.Node): with it, a follower's scans join the leader's batches
// instead of making log entries of their own, so entries are deep and
// few whichever node the gates talk to.
type leaderCaller interface {
	CallLeader(ctx context.Context, payload []byte) ([]byte, error)
	SetLeaderHandler(h cluster.LeaderHandler)
}

// ErrStopped: the batcher is shut down.
var ErrStopped = errors.New("gate: batcher stopped")

// Batcher groups concurrent scans into ScanBatch commands.
type Batcher struct {
	node Applier
	// leader is node as a leaderCaller when leader batching is on; nil
	// when the node cannot hand scans to the leader or it is off.
	leader  leaderCaller
	cfg     Config
	m       *metrics
	queue   chan *pending
	done    chan struct{}
	wg      sync.WaitGroup
	stopped sync.Once
}

// pending is one caller's scans. They go into one log entry together, in
// order: a handheld's upload of "in, out, in" must be decided in that order.
type pending struct {
	scans []fsm.Scan
	res   chan outcome // buffered 1: workers never block on a gone caller
}

type outcome struct {
	r   []fsm.ScanResult
	err error
}

// NewBatcher starts cfg.Workers workers; Close stops them.
func NewBatcher(node Applier, cfg Config, m *metrics) *Batcher {
	b := &Batcher{node: node, cfg: cfg, m: m, queue: make(chan *pending, cfg.MaxBatch*cfg.Workers), done: make(chan struct{})}
	if lc, ok := node.(leaderCaller); ok && cfg.LeaderBatching {
		b.leader = lc // before the workers start: they read it
	}
	for i := 0; i < cfg.Workers; i++ {
		b.wg.Add(1)
		go b.work()
	}
	if b.leader != nil {
		b.leader.SetLeaderHandler(b.serveFollower)
	}
	return b
}

// serveFollower decides, on the leader, the scans a follower's batcher
// sent (a ScanBatch command): they join this node's next batch, and the
// answer is the ScanBatch result, as Apply would give it.
func (b *Batcher) serveFollower(ctx context.Context, cmd []byte) ([]byte, error) {
	c, err := fsm.DecodeCommand(cmd)
	if err != nil || (c.Type != fsm.TypeScanBatch && c.Type != fsm.TypeScanBatch2) {
		return nil, fmt.Errorf("%w: a leader call must be a scan batch (%v)", cluster.ErrBadRequest, err)
	}
	b.m.forwardedIn.Add(float64(len(c.Scans)))
	res, err := b.Scan(ctx, c.Scans)
	if errors.Is(err, ErrStopped) {
		return nil, fmt.Errorf("%w: %v", cluster.ErrShutdown, err)
	}
	if err != nil {
		return nil, err
	}
	return fsm.AppendScanResults(nil, res), nil
}

// submit sends one ScanBatch: on the leader through the log; on a
// follower to the leader's batcher (or, without leader batching, as a log
// entry of its own, which the cluster forwards).
func (b *Batcher) submit(ctx context.Context, cmd []byte) ([]byte, error) {
	if b.leader != nil && !b.node.IsLeader() {
		res, err := b.leader.CallLeader(ctx, cmd)
		if !errors.Is(err, cluster.ErrLeaderIsLocal) {
			return res, err
		}
	}
	return b.node.Apply(ctx, cmd)
}

// Close stops the workers after the batches in flight; queued scans fail.
func (b *Batcher) Close() {
	if b.leader != nil {
		b.leader.SetLeaderHandler(nil)
	}
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

// Scan decides scans in the order given, in one log entry; results come
// back in the same order. The error is for the whole call: no quorum,
// timeout (outcome unknown), or shutdown.
func (b *Batcher) Scan(ctx context.Context, scans []fsm.Scan) ([]fsm.ScanResult, error) {
	p := &pending{scans: scans, res: make(chan outcome, 1)}
	select {
	case b.queue <- p:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: node too busy to queue the scan", cluster.ErrNoLeader)
	case <-b.done:
		return nil, ErrStopped
	}
	select {
	case o := <-p.res:
		return o.r, o.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %v", cluster.ErrOutcomeUnknown, ctx.Err())
	}
}

func (b *Batcher) work() {
	defer b.wg.Done()
	var batch []*pending
	scans := make([]fsm.Scan, 0, b.cfg.MaxBatch)
	var buf []byte
	var held *pending // drained but did not fit: it starts the next batch
	var window *time.Timer
	busy := false // the last batch held more than one scan
	for {
		batch, scans = batch[:0], scans[:0]
		if held != nil {
			batch, held = append(batch, held), nil
		} else {
			select {
			case p := <-b.queue:
				batch = append(batch, p)
			case <-b.done:
				return
			}
		}
		n := len(batch[0].scans)
		// join adds p to the batch, or holds it for the next when it does
		// not fit.
		join := func(p *pending) bool {
			if n+len(p.scans) > b.cfg.MaxBatch {
				held = p
				return false
			}
			batch = append(batch, p)
			n += len(p.scans)
			return true
		}
	drain: // whatever queued while we waited joins this batch
		for n < b.cfg.MaxBatch {
			select {
			case p := <-b.queue:
				if !join(p) {
					break drain
				}
			default:
				if !busy || b.cfg.BatchWindow <= 0 {
					break drain
				}
				// Busy: give the scans arriving right now a moment to
				// join this entry.
				if window == nil {
					window = time.NewTimer(b.cfg.BatchWindow)
				}
				select {
				case p := <-b.queue:
					if !join(p) {
						break drain
					}
				case <-window.C:
					break drain
				case <-b.done:
					break drain
				}
			}
		}
		if window != nil {
			window.Stop()
			window = nil
		}
		busy = n > 1
		for _, p := range batch {
			scans = append(scans, p.scans...)
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
		res, err := b.submit(ctx, buf)
		cancel()
		b.m.observeBatch(len(scans), follower, !follower || b.leader == nil, time.Since(start))
		if err != nil {
			b.fail(batch, err)
			continue
		}
		results, err := fsm.DecodeScanResults(res)
		if err == nil && len(results) != len(scans) {
			err = fmt.Errorf("gate: %d results for %d scans", len(results), len(scans))
		}
		if err != nil {
			b.fail(batch, fmt.Errorf("%w: %v", cluster.ErrOutcomeUnknown, err))
			continue
		}
		for _, p := range batch {
			p.res <- outcome{r: results[:len(p.scans):len(p.scans)]}
			results = results[len(p.scans):]
		}
	}
}

func (b *Batcher) fail(batch []*pending, err error) {
	for _, p := range batch {
		p.res <- outcome{err: err}
	}
}
