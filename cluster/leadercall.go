package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// ErrLeaderIsLocal: CallLeader was made on the leader itself; the caller
// does the work locally (Apply) instead.
var ErrLeaderIsLocal = errors.New("this node is the leader")

// LeaderHandler serves what followers send with CallLeader, on the
// leader. The validator's gate API uses it to make log entries on the
// leader from the scans every node receives, so entries are deep and
// few. It must honour ctx (the caller's deadline).
type LeaderHandler func(ctx context.Context, payload []byte) ([]byte, error)

// SetLeaderHandler sets the handler this node serves CallLeader with
// while it leads. Set it before the node takes traffic; nil removes it.
func (n *Node) SetLeaderHandler(h LeaderHandler) {
	if h == nil {
		n.leaderHandler.Store(nil)
		return
	}
	n.leaderHandler.Store(&h)
}

// CallLeader sends payload to the leader's LeaderHandler over the
// connection this node keeps to it, and returns its answer. While there
// is no leader it waits and tries again, until ctx ends. Errors are
// Apply's: ErrNoLeader (nothing was sent), ErrOutcomeUnknown (sent, no
// answer in time), ErrRejected and others from the handler; on the leader
// itself it returns ErrLeaderIsLocal at once.
func (n *Node) CallLeader(ctx context.Context, payload []byte) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.ApplyTimeout)
		defer cancel()
	}
	dl, _ := ctx.Deadline()
	req := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint64(req, uint64(dl.UnixNano()))
	copy(req[8:], payload)
	var lastErr error
	retry := time.NewTicker(10 * time.Millisecond)
	defer retry.Stop()
	for {
		if n.raft.State() == raft.Leader {
			return nil, ErrLeaderIsLocal
		}
		if _, addr := n.Leader(); addr != "" {
			n.metrics.forwarded.Inc()
			res, err := n.peers.call(ctx, addr, opLeaderCall, req)
			switch {
			case errors.Is(err, errConnLost):
				return nil, fmt.Errorf("%w: %v", ErrOutcomeUnknown, err)
			case err == nil, !retryable(err):
				return res, err
			}
			lastErr = err
		}
		select {
		case <-retry.C:
		case <-ctx.Done():
			if lastErr == nil {
				lastErr = errors.New("no leader elected")
			}
			return nil, fmt.Errorf("%w: %v", ErrNoLeader, lastErr)
		case <-n.shutdown:
			return nil, ErrShutdown
		}
	}
}

// serveLeaderCall runs a follower's CallLeader on this node, if it leads.
func (n *Node) serveLeaderCall(ctx context.Context, payload []byte) ([]byte, error) {
	if len(payload) < 8 {
		return nil, fmt.Errorf("%w: short leader call", ErrBadRequest)
	}
	if n.raft.State() != raft.Leader {
		return nil, ErrNotLeader
	}
	h := n.leaderHandler.Load()
	if h == nil { // starting or stopping: the caller retries, or times out
		return nil, fmt.Errorf("%w: not serving leader calls right now", ErrNotLeader)
	}
	dl := time.Unix(0, int64(binary.BigEndian.Uint64(payload)))
	ctx, cancel := context.WithDeadline(ctx, dl)
	defer cancel()
	return (*h)(ctx, payload[8:])
}
