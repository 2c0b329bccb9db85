package clustertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
)

// ErrBlocked is what a dial across a cut link fails with.
var ErrBlocked = errors.New("link blocked by fault injection")

// FaultNet injects network faults between harness nodes at the transport:
// every node dials through it, so it can refuse new connections across a
// cut link and close the ones already open. Traffic is still real TCP.
type FaultNet struct {
	mu      sync.Mutex
	addrs   map[string]string // raft address -> node id
	blocked map[[2]string]bool
	conns   map[*trackedConn]struct{}
}

// NewFaultNet returns a network with every link up.
func NewFaultNet() *FaultNet {
	return &FaultNet{addrs: map[string]string{}, blocked: map[[2]string]bool{}, conns: map[*trackedConn]struct{}{}}
}

// Register tells the network which node listens on addr.
func (f *FaultNet) Register(id, addr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addrs[addr] = id
}

// Dialer returns the dial function for node from.
func (f *FaultNet) Dialer(from string) func(ctx context.Context, addr string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		f.mu.Lock()
		to := f.addrs[addr]
		cut := f.blocked[link(from, to)]
		f.mu.Unlock()
		if cut {
			return nil, fmt.Errorf("%w: %s -> %s", ErrBlocked, from, to)
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: c, f: f, link: link(from, to)}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.blocked[tc.link] { // cut while we dialled
			c.Close()
			return nil, fmt.Errorf("%w: %s -> %s", ErrBlocked, from, to)
		}
		f.conns[tc] = struct{}{}
		return tc, nil
	}
}

func link(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// Cut blocks the link between a and b in both directions and closes the
// connections open on it.
func (f *FaultNet) Cut(a, b string) {
	f.mu.Lock()
	l := link(a, b)
	f.blocked[l] = true
	var toClose []*trackedConn
	for c := range f.conns {
		if c.link == l {
			toClose = append(toClose, c)
		}
	}
	f.mu.Unlock()
	for _, c := range toClose {
		c.Close()
	}
}

// Uncut restores the link between a and b.
func (f *FaultNet) Uncut(a, b string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.blocked, link(a, b))
}

// HealAll restores every link.
func (f *FaultNet) HealAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blocked = map[[2]string]bool{}
}

type trackedConn struct {
	net.Conn
	f    *FaultNet
	link [2]string
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.f.mu.Lock()
		delete(c.f.conns, c)
		c.f.mu.Unlock()
	})
	return c.Conn.Close()
}
