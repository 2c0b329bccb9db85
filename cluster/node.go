package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/hashicorp/raft"

	"github.com/admitpark/admit/cluster/logstore"
)

// Node is one member of the cluster: a Raft replica whose state lives in
// Badger. It is safe for concurrent use.
type Node struct {
	cfg     Config
	log     *slog.Logger
	db      *badger.DB
	fsm     *fsm
	logs    logstore.Store
	snaps   *raft.FileSnapshotStore
	mux     *mux
	trans   *raft.NetworkTransport
	raft    *raft.Raft
	rpcSrv  *rpcServer
	peers   *rpcPool
	metrics *metrics

	shutdown      chan struct{}
	started       chan struct{} // closed once raft is set: RPCs and metrics wait for it
	closeOnce     sync.Once
	closeErr      error
	leaderHandler atomic.Pointer[LeaderHandler]
	lapi          leaderAPI
}

// Open starts a node from cfg.DataDir, creating it on first start. A new
// node is not part of any cluster until Bootstrap is called on it or another
// member adds it with Join; a restarted node rejoins its cluster by itself.
func Open(cfg Config, sm StateMachine) (n *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sm == nil {
		return nil, fmt.Errorf("%w: state machine is nil", ErrConfig)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("node", cfg.ID)
	n = &Node{cfg: cfg, log: log, shutdown: make(chan struct{}), started: make(chan struct{})}
	// On failure, close what was opened, in reverse.
	var closers []func()
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()

	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	bopts := badger.DefaultOptions(filepath.Join(cfg.DataDir, "state")).
		WithLogger(badgerLogger{log.With("component", "badger")}).
		WithSyncWrites(false). // the Raft log is the durable record; see doc.go
		WithDetectConflicts(false).
		WithNumVersionsToKeep(1).
		// Badger is written behind apply in large segments and read only
		// at start: two memtables and a small block cache are enough, and
		// the defaults (five, 256 MB) cost more memory than the state.
		WithNumMemtables(2).
		WithBlockCacheSize(16 << 20).
		// Nothing reads Badger by key (the state is loaded by one walk at
		// start): bloom filters would only cost hashing per key, and
		// compression CPU on every flush for a few MB of disk.
		WithBloomFalsePositive(0).
		WithCompression(options.None)
	if n.db, err = badger.Open(bopts); err != nil {
		return nil, fmt.Errorf("open state: %w", err)
	}
	closers = append(closers, func() { n.db.Close() })

	applied, err := loadAppliedIndex(n.db)
	if err != nil {
		return nil, fmt.Errorf("read applied index: %w", err)
	}
	marker := filepath.Join(cfg.DataDir, "restore-in-progress")
	_, statErr := os.Stat(marker)
	dirty := statErr == nil
	st := newState(layoutOf(sm))
	if !dirty { // else Raft restores the snapshot, which replaces it all
		loadStart := time.Now()
		if st, err = loadState(n.db, sm); err != nil {
			return nil, fmt.Errorf("load state: %w", err)
		}
		log.Info("state loaded into memory", "keys", st.keys, "applied_index", applied, "took", time.Since(loadStart).Round(time.Millisecond),
			"read", st.readTook.Round(time.Millisecond), "rebuild", st.rebuildTook.Round(time.Millisecond))
	}
	n.fsm = &fsm{db: n.db, state: st, sm: sm, log: log, marker: marker,
		flush: newFlusher(n.db, log, cfg.FlushInterval, cfg.FlushQueue, applied)}
	n.fsm.flush.persists = st.persists
	n.fsm.applied.Store(applied)
	closers = append(closers, func() { n.fsm.flush.close() })

	hlog := newHCLog(log, "raft")
	lcfg := logstore.DefaultConfig(filepath.Join(cfg.DataDir, "raft"))
	lcfg.Logger = hlog.Named("wal")
	if n.logs, err = logstore.Open(lcfg); err != nil {
		return nil, fmt.Errorf("open raft log: %w", err)
	}
	closers = append(closers, func() { n.logs.Close() })
	if n.snaps, err = raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, cfg.SnapshotRetain, hlog); err != nil {
		return nil, fmt.Errorf("open snapshot store: %w", err)
	}

	if n.mux, err = newMux(&n.cfg, log); err != nil {
		return nil, fmt.Errorf("listen on raft address %s: %w", cfg.RaftAddr, err)
	}
	closers = append(closers, n.mux.close)
	n.peers = newRPCPool(func(ctx context.Context, addr string) (net.Conn, error) { return n.mux.dial(ctx, addr, connRPC) }, cfg.RPCIdleTimeout/2)
	closers = append(closers, n.peers.close)
	n.rpcSrv = newRPCServer(n.handleRPC, log, cfg.RPCIdleTimeout, cfg.RPCReadTimeout)
	closers = append(closers, n.rpcSrv.close)
	n.mux.rpcConn = n.rpcSrv.serveConn
	n.mux.serve()

	n.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  raftLayer{n.mux},
		MaxPool: 3,
		Timeout: 2 * time.Second,
		Logger:  hlog,
	})
	closers = append(closers, func() { n.trans.Close() })

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.MaxAppendEntries = cfg.MaxAppendEntries
	rc.BatchApplyCh = true
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.TrailingLogs = cfg.TrailingLogs
	rc.Logger = hlog
	// Badger already holds the state up to its applied index, which is at
	// least the latest snapshot's (Snapshot syncs first). Restoring the
	// snapshot on every start would only rewrite it. After an interrupted
	// restore the state is not trusted and Raft restores it again.
	rc.NoSnapshotRestoreOnStart = !dirty
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}

	if n.metrics, err = newMetrics(n, cfg.Registerer); err != nil {
		return nil, err
	}
	closers = append(closers, n.metrics.unregister)
	n.fsm.obs = n.metrics
	n.fsm.flush.obs = n.metrics

	var logs raft.LogStore = n.logs
	if cfg.LogCache > 0 {
		if logs, err = raft.NewLogCache(cfg.LogCache, n.logs); err != nil {
			return nil, fmt.Errorf("log cache: %w", err)
		}
	}
	if n.raft, err = raft.NewRaft(rc, n.fsm, logs, n.logs, n.snaps, n.trans); err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	close(n.started) // peers' calls may be answered from here on
	log.Info("node started", "raft_addr", n.RaftAddr(), "applied_index", applied, "restore_needed", dirty)
	return n, nil
}

// Bootstrap makes this node a one-member cluster. It is for the first node
// only; it does nothing on a node that already has Raft state.
func (n *Node) Bootstrap() error {
	has, err := raft.HasExistingState(n.logs, n.logs, n.snaps)
	if err != nil {
		return err
	}
	if has {
		n.log.Info("bootstrap skipped: node already has cluster state")
		return nil
	}
	cfg := raft.Configuration{Servers: []raft.Server{{
		Suffrage: raft.Voter, ID: raft.ServerID(n.cfg.ID), Address: raft.ServerAddress(n.RaftAddr()),
	}}}
	if err := n.raft.BootstrapCluster(cfg).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return fmt.Errorf("bootstrap: %w", err)
	}
	return nil
}

// HasState reports whether the node has been part of a cluster before, so a
// restarted node need not ask to join again.
func (n *Node) HasState() (bool, error) {
	return raft.HasExistingState(n.logs, n.logs, n.snaps)
}

// ID is the node's id.
func (n *Node) ID() string { return n.cfg.ID }

// RaftAddr is the address other nodes reach this node on.
func (n *Node) RaftAddr() string { return n.mux.advertise.String() }

// View runs fn on this node's state, as of what it has applied (a
// follower may trail the leader). All writes go through Apply, which
// waits while fn runs: keep fn short.
func (n *Node) View(fn func(r Reader) error) error {
	s := n.fsm.state
	s.mu.RLock()
	defer s.mu.RUnlock()
	return fn(reader{s})
}

// PersistedIndex is the applied index the state on disk holds; the state
// in memory is at AppliedIndex, a flush interval ahead at most.
func (n *Node) PersistedIndex() uint64 { return n.fsm.flush.persisted.Load() }

// IsLeader reports whether this node is the leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the leader's id and Raft address, empty when unknown.
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// AppliedIndex is the last log index applied to the state.
func (n *Node) AppliedIndex() uint64 { return n.raft.AppliedIndex() }

// StateIndex is the index of the last entry the state in memory holds.
// Raft counts an entry applied once it is handed to the state machine,
// a moment before the state holds it; and entries Raft makes for itself
// (a new leader's no-op) never reach the state, so StateIndex may stay
// below AppliedIndex.
func (n *Node) StateIndex() uint64 { return n.fsm.applied.Load() }

// Ready returns nil when the node is a member of a cluster that has a leader.
func (n *Node) Ready() error {
	select {
	case <-n.shutdown:
		return ErrShutdown
	default:
	}
	if id, _ := n.Leader(); id == "" {
		return ErrNoLeader
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	for _, s := range f.Configuration().Servers {
		if s.ID == raft.ServerID(n.cfg.ID) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is not in the cluster configuration", ErrUnknownNode, n.cfg.ID)
}

// Apply replicates cmd and returns the state machine's result once the
// command is applied on the leader. Any node accepts commands: a follower
// forwards them to the leader. Without a deadline on ctx, Config.ApplyTimeout
// bounds the call. Errors: ErrNoLeader and ErrNotLeader mean nothing was
// submitted; ErrOutcomeUnknown that it may have been; ErrRejected that the
// state machine refused it.
func (n *Node) Apply(ctx context.Context, cmd []byte) ([]byte, error) {
	if len(cmd) > MaxCommandSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(cmd), MaxCommandSize)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.ApplyTimeout)
		defer cancel()
	}
	start := time.Now()
	res, path, err := n.apply(ctx, cmd)
	n.metrics.observeCommand(path, err, time.Since(start))
	return res, err
}

func (n *Node) apply(ctx context.Context, cmd []byte) ([]byte, string, error) {
	var lastErr error
	retry := time.NewTicker(10 * time.Millisecond)
	defer retry.Stop()
	for {
		if n.raft.State() == raft.Leader {
			res, err := n.applyLocal(ctx, cmd)
			if !errors.Is(err, ErrNotLeader) {
				return res, "local", err
			}
			lastErr = err
		} else if _, addr := n.Leader(); addr != "" {
			res, err := n.forwardApply(ctx, addr, cmd)
			switch {
			case err == nil, !retryable(err):
				return res, "forwarded", err
			}
			lastErr = err
		}
		select {
		case <-retry.C:
		case <-ctx.Done():
			if lastErr == nil {
				lastErr = errors.New("no leader elected")
			}
			return nil, "none", fmt.Errorf("%w: %v", ErrNoLeader, lastErr)
		case <-n.shutdown:
			return nil, "none", ErrShutdown
		}
	}
}

// retryable reports whether err guarantees the command was not submitted.
func retryable(err error) bool {
	return errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNoLeader) || errors.Is(err, errUnreachable)
}

func (n *Node) forwardApply(ctx context.Context, addr string, cmd []byte) ([]byte, error) {
	dl, _ := ctx.Deadline()
	req := make([]byte, 8+len(cmd))
	binary.BigEndian.PutUint64(req, uint64(dl.UnixNano()))
	copy(req[8:], cmd)
	n.metrics.forwarded.Inc()
	res, err := n.peers.call(ctx, addr, opApply, req)
	if errors.Is(err, errConnLost) {
		return nil, fmt.Errorf("%w: %v", ErrOutcomeUnknown, err)
	}
	return res, err
}

func (n *Node) applyLocal(ctx context.Context, cmd []byte) ([]byte, error) {
	dl, _ := ctx.Deadline()
	timeout := time.Until(dl)
	if timeout <= 0 {
		return nil, fmt.Errorf("%w: deadline passed before submit", ErrNoLeader)
	}
	f := n.raft.Apply(encodeEnvelope(time.Now(), cmd), timeout)
	done := make(chan error, 1)
	go func() { done <- f.Error() }() // ends when raft resolves f, as it always does
	select {
	case err := <-done:
		if err != nil {
			return nil, mapRaftError(err)
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %v", ErrOutcomeUnknown, ctx.Err())
	}
	r, ok := f.Response().(applyResult)
	if !ok {
		return nil, fmt.Errorf("%w: unexpected apply response %T", ErrOutcomeUnknown, f.Response())
	}
	return r.data, r.err
}

func mapRaftError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: leader too busy to accept the command: %v", ErrNoLeader, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, ErrShutdown)
	default:
		return fmt.Errorf("%w: %v", ErrOutcomeUnknown, err)
	}
}

// Close stops the node: no new calls, Raft shut down, stores closed, in the
// reverse order of Open. It is safe to call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		close(n.shutdown)
		n.mux.stop()
		n.rpcSrv.close()
		n.mux.close()
		n.peers.close()
		n.lapi.stop()
		errs := []error{n.raft.Shutdown().Error(), n.trans.Close()}
		errs = append(errs, n.fsm.flush.close(), n.logs.Close(), n.db.Close())
		n.metrics.unregister()
		n.closeErr = errors.Join(errs...)
		n.log.Info("node stopped")
	})
	return n.closeErr
}

var _ io.Closer = (*Node)(nil)
