package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
)

// ErrLinkBlocked is what a dial to a peer blocked by Faults fails with.
var ErrLinkBlocked = errors.New("link blocked by fault injection")

// Faults is a runtime network fault switch for one node, for failover
// drills against real processes. Used as Config.Dial, it opens every
// outbound connection to another node and can block a set of peer addresses
// at any time: dials to a blocked peer fail at once, and the connections
// already open to it are closed.
//
// A process only controls the connections it dialled. Connections between
// two nodes are dialled by either side (each side's Raft replication and
// forwarding), so cutting the link A–B takes both A blocking B and B
// blocking A: each closes its own connections, the other side reads EOF on
// them, and no new ones are opened either way.
//
// Production nodes never use it: `admit node` builds one only when started
// with --fault-injection.
type Faults struct {
	dial func(ctx context.Context, addr string) (net.Conn, error)

	mu      sync.Mutex
	blocked map[string]bool
	conns   map[*faultConn]struct{}
}

// NewFaults returns a switch with no link blocked. dial opens the real
// connections; nil means plain TCP.
func NewFaults(dial func(ctx context.Context, addr string) (net.Conn, error)) *Faults {
	if dial == nil {
		dial = func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}
	}
	return &Faults{dial: dial, blocked: map[string]bool{}, conns: map[*faultConn]struct{}{}}
}

// Dial opens a connection to addr unless addr is blocked. It has the
// signature of Config.Dial.
func (f *Faults) Dial(ctx context.Context, addr string) (net.Conn, error) {
	if f.isBlocked(addr) {
		return nil, fmt.Errorf("%w: %s", ErrLinkBlocked, addr)
	}
	c, err := f.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	fc := &faultConn{Conn: c, f: f, addr: addr}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.blocked[addr] { // blocked while we dialled
		c.Close()
		return nil, fmt.Errorf("%w: %s", ErrLinkBlocked, addr)
	}
	f.conns[fc] = struct{}{}
	return fc, nil
}

func (f *Faults) isBlocked(addr string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.blocked[addr]
}

// SetBlocked makes addrs the whole set of blocked peer addresses (none:
// every link heals) and closes the open connections to the addresses in it.
// It returns how many connections it closed.
func (f *Faults) SetBlocked(addrs []string) int {
	f.mu.Lock()
	f.blocked = make(map[string]bool, len(addrs))
	for _, a := range addrs {
		f.blocked[a] = true
	}
	var toClose []*faultConn
	for c := range f.conns {
		if f.blocked[c.addr] {
			toClose = append(toClose, c)
		}
	}
	f.mu.Unlock()
	for _, c := range toClose {
		c.Close()
	}
	return len(toClose)
}

// Blocked returns the blocked addresses, sorted.
func (f *Faults) Blocked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.blocked))
	for a := range f.blocked {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// Open is how many connections dialled through f are open.
func (f *Faults) Open() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns)
}

// faultConn is a connection Faults dialled; closing it forgets it.
type faultConn struct {
	net.Conn
	f    *Faults
	addr string
	once sync.Once
}

func (c *faultConn) Close() error {
	c.once.Do(func() {
		c.f.mu.Lock()
		delete(c.f.conns, c)
		c.f.mu.Unlock()
	})
	return c.Conn.Close()
}
