package cluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures one cluster node. Build it with DefaultConfig, set what
// differs, and pass it to Open, which validates it. A Config is not changed
// after Open.
type Config struct {
	// ID names this node in the Raft configuration. It must be stable across
	// restarts and unique in the cluster: letters, digits, '-', '_' and '.'.
	ID string

	// DataDir holds the Raft log, snapshots and the Badger state. Created if
	// missing.
	DataDir string

	// RaftAddr is the TCP address the node listens on for Raft and for
	// node-to-node calls (forwarded commands, membership). Port 0 picks a free
	// port (tests).
	RaftAddr string

	// AdvertiseAddr is the address other nodes dial to reach RaftAddr. Empty
	// means the bound listener address, which must then not be unspecified
	// (0.0.0.0 or ::).
	AdvertiseAddr string

	// APIAddr is the node's HTTP address as clients should use it. The cluster
	// only reports it in status, so that operators can find every member.
	APIAddr string

	// HeartbeatTimeout is how long a follower waits without hearing from the
	// leader before it starts an election. Raft randomises it up to twice this.
	// The leader sends heartbeats ten times as often. Unit: time.
	HeartbeatTimeout time.Duration

	// ElectionTimeout is how long a candidate waits for votes before it tries
	// again (also randomised up to twice this).
	ElectionTimeout time.Duration

	// LeaderLeaseTimeout is how long a leader keeps leading without contact
	// with a quorum. After it, the leader steps down and fails the commands it
	// holds, so callers learn fast that there is no quorum. At most
	// HeartbeatTimeout.
	LeaderLeaseTimeout time.Duration

	// CommitTimeout is how long the leader waits without new commands before
	// it tells followers the latest commit index, which bounds how stale a
	// follower's applied state is when the cluster is idle.
	CommitTimeout time.Duration

	// MaxAppendEntries caps the log entries sent in one replication call and
	// applied to the state machine in one Badger transaction.
	MaxAppendEntries int

	// LogCache is how many of the newest log entries are also kept in
	// memory, so that replication and a follower's apply read them there
	// instead of back from the log file (a pread and a decode per entry per
	// follower). The cache holds whole entries, so it stays short: an
	// entry of scans is up to ~25 KB, but one issuing 1,000 tickets is
	// ~250 KB (1,024 of those held 250 MB). Unit: entries. 0: none.
	LogCache int

	// SnapshotInterval is how often Raft checks whether to snapshot, and
	// SnapshotThreshold how many new log entries make it do so. A snapshot
	// streams the whole state to disk on every node (125 MB for 1.3M
	// tickets, a second of disk and CPU here), so it must be rare: the log
	// is cheap, and a restart does not replay it (Badger holds the state up
	// to its applied index). Snapshots only compact the log and catch up a
	// follower that fell behind the trailing logs.
	SnapshotInterval  time.Duration
	SnapshotThreshold uint64

	// TrailingLogs is how many log entries stay after a snapshot, so that a
	// briefly lagging follower catches up from the log, not a full snapshot.
	TrailingLogs uint64

	// SnapshotRetain is how many snapshots are kept on disk.
	SnapshotRetain int

	// FlushInterval is how often the state changed in memory is written to
	// Badger (sooner when 4 MB or 30,000 keys are pending). A restart
	// replays the log entries applied since the last flush. Unit: time.
	FlushInterval time.Duration

	// FlushQueue is how many written-behind segments (each up to 4 MB) may
	// wait for the disk before apply waits for it: the bound on memory held
	// for Badger when the disk is slower than apply. Unit: segments.
	FlushQueue int

	// ApplyTimeout bounds Apply when the caller's context has no deadline,
	// including the wait for a leader. Unit: time.
	ApplyTimeout time.Duration

	// RPCTimeout bounds one node-to-node call (membership, status, snapshot).
	RPCTimeout time.Duration

	// DialTimeout bounds opening a connection to another node.
	DialTimeout time.Duration

	// Dial, when set, opens every outbound connection to another node. Tests
	// use it to inject network faults; nil means a plain TCP dial.
	Dial func(ctx context.Context, addr string) (net.Conn, error)

	// ServerTLS and ClientTLS, when both set, wrap every node-to-node
	// connection in TLS. Use mutual TLS (cluster/pki.PeerTLS builds both):
	// the Raft port accepts membership changes, so only cluster members may
	// reach it. With ServerTLS set, node-to-node calls (forwarded commands,
	// join, remove, transfer, status, snapshot) are served only to a peer
	// whose verified certificate's Subject CommonName is the id of a member
	// of the current configuration; Raft traffic needs only the handshake
	// (a node being added is not yet in its own configuration).
	ServerTLS *tls.Config
	ClientTLS *tls.Config

	// HandshakeTimeout bounds, on an accepted connection, the TLS handshake
	// and the first byte (which says Raft or node-to-node call); a peer too
	// slow is disconnected. Unit: time.
	HandshakeTimeout time.Duration

	// RPCIdleTimeout is how long an accepted node-to-node call connection
	// may go without a request while none is in flight before it is closed.
	// Callers stop reusing a connection after half of it and dial anew.
	// Unit: time.
	RPCIdleTimeout time.Duration

	// RPCReadTimeout bounds reading the rest of one request frame once its
	// first byte has arrived; a peer that stalls mid-frame is disconnected.
	// Unit: time.
	RPCReadTimeout time.Duration

	// MaxConns caps the connections open at once that this node accepted on
	// the Raft port (Raft and node-to-node calls, and those still in the
	// handshake); more are closed at once. Each peer holds a few (Raft's
	// pool and pipeline, one for calls). Unit: connections.
	MaxConns int

	// Logger receives the node's and Raft's logs. Nil discards them.
	Logger *slog.Logger

	// Registerer receives the node's metrics. Nil registers none.
	Registerer prometheus.Registerer
}

// DefaultConfig returns a configuration tuned for a park LAN: a dead leader is
// noticed within 250–500 ms and replaced a few milliseconds later.
func DefaultConfig(id, dataDir, raftAddr string) Config {
	return Config{
		ID:                 id,
		DataDir:            dataDir,
		RaftAddr:           raftAddr,
		HeartbeatTimeout:   250 * time.Millisecond,
		ElectionTimeout:    250 * time.Millisecond,
		LeaderLeaseTimeout: 200 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
		MaxAppendEntries:   256,
		LogCache:           64,
		SnapshotInterval:   2 * time.Minute,
		SnapshotThreshold:  1 << 20,
		TrailingLogs:       65536,
		SnapshotRetain:     2,
		FlushInterval:      50 * time.Millisecond,
		FlushQueue:         16,
		ApplyTimeout:       2 * time.Second,
		RPCTimeout:         5 * time.Second,
		DialTimeout:        time.Second,
		HandshakeTimeout:   5 * time.Second,
		RPCIdleTimeout:     2 * time.Minute,
		RPCReadTimeout:     10 * time.Second,
		MaxConns:           256,
	}
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Validate reports the first problem with c, or nil.
func (c Config) Validate() error {
	switch {
	case !idPattern.MatchString(c.ID):
		return fmt.Errorf("%w: node id %q: use 1-64 letters, digits, '.', '_' or '-'", ErrConfig, c.ID)
	case c.DataDir == "":
		return fmt.Errorf("%w: data dir is required", ErrConfig)
	case c.RaftAddr == "":
		return fmt.Errorf("%w: raft address is required", ErrConfig)
	case c.HeartbeatTimeout < 5*time.Millisecond:
		return fmt.Errorf("%w: heartbeat timeout %v is below 5ms", ErrConfig, c.HeartbeatTimeout)
	case c.ElectionTimeout < c.HeartbeatTimeout:
		return fmt.Errorf("%w: election timeout %v is below heartbeat timeout %v", ErrConfig, c.ElectionTimeout, c.HeartbeatTimeout)
	case c.LeaderLeaseTimeout < 5*time.Millisecond || c.LeaderLeaseTimeout > c.HeartbeatTimeout:
		return fmt.Errorf("%w: leader lease %v must be between 5ms and the heartbeat timeout", ErrConfig, c.LeaderLeaseTimeout)
	case c.CommitTimeout < time.Millisecond:
		return fmt.Errorf("%w: commit timeout %v is below 1ms", ErrConfig, c.CommitTimeout)
	case c.MaxAppendEntries < 1 || c.MaxAppendEntries > 1024:
		return fmt.Errorf("%w: max append entries %d must be 1-1024", ErrConfig, c.MaxAppendEntries)
	case c.LogCache < 0 || c.LogCache > 1<<20:
		return fmt.Errorf("%w: log cache %d must be 0-%d entries", ErrConfig, c.LogCache, 1<<20)
	case c.SnapshotInterval < time.Millisecond || c.SnapshotThreshold < 1:
		return fmt.Errorf("%w: snapshot interval and threshold must be positive", ErrConfig)
	case c.FlushInterval < time.Millisecond || c.FlushQueue < 1:
		return fmt.Errorf("%w: flush interval %v and flush queue %d must be at least 1ms and 1", ErrConfig, c.FlushInterval, c.FlushQueue)
	case c.SnapshotRetain < 1:
		return fmt.Errorf("%w: snapshot retain must be at least 1", ErrConfig)
	case c.ApplyTimeout <= 0 || c.RPCTimeout <= 0 || c.DialTimeout <= 0:
		return fmt.Errorf("%w: apply, rpc and dial timeouts must be positive", ErrConfig)
	case c.HandshakeTimeout <= 0 || c.RPCIdleTimeout <= 0 || c.RPCReadTimeout <= 0:
		return fmt.Errorf("%w: handshake, rpc idle and rpc read timeouts must be positive", ErrConfig)
	case c.MaxConns < 8:
		return fmt.Errorf("%w: max conns %d is below 8 (each peer holds a few)", ErrConfig, c.MaxConns)
	case (c.ServerTLS == nil) != (c.ClientTLS == nil):
		return fmt.Errorf("%w: set both ServerTLS and ClientTLS, or neither", ErrConfig)
	}
	if c.AdvertiseAddr != "" {
		if err := checkDialable(c.AdvertiseAddr); err != nil {
			return fmt.Errorf("%w: advertise address: %v", ErrConfig, err)
		}
	}
	if _, _, err := net.SplitHostPort(c.RaftAddr); err != nil {
		return fmt.Errorf("%w: raft address %q: %v", ErrConfig, c.RaftAddr, err)
	}
	return nil
}

// checkDialable reports whether addr is host:port with a host others can dial.
func checkDialable(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if port == "" || port == "0" {
		return fmt.Errorf("%q has no port", addr)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return fmt.Errorf("%q is not an address other nodes can dial", addr)
	}
	return nil
}
