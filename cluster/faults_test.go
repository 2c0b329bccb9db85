package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/cluster/countersm"
)

// echoServer accepts connections and hands each to the test.
func echoServer(t *testing.T) (addr string, accepted <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan net.Conn, 16)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ch <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		close(ch)
		for c := range ch {
			c.Close()
		}
	})
	return ln.Addr().String(), ch
}

func acceptOne(t *testing.T, ch <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c := <-ch:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for the server to accept a connection")
		return nil
	}
}

// TestFaultsBlockClosesAndHeals: blocking a peer refuses new dials to it,
// closes the connections already dialled to it (the far side reads EOF, so
// nothing flows either way), leaves other peers alone, and an empty set heals.
func TestFaultsBlockClosesAndHeals(t *testing.T) {
	addrA, acceptedA := echoServer(t)
	addrB, acceptedB := echoServer(t)
	f := cluster.NewFaults(nil)
	ctx := context.Background()

	ca, err := f.Dial(ctx, addrA)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	sa := acceptOne(t, acceptedA)
	cb, err := f.Dial(ctx, addrB)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	sb := acceptOne(t, acceptedB)
	if got := f.Open(); got != 2 {
		t.Fatalf("open connections = %d, want 2", got)
	}

	if closed := f.SetBlocked([]string{addrA}); closed != 1 {
		t.Fatalf("SetBlocked closed %d connections, want 1", closed)
	}
	if got := f.Blocked(); !slices.Equal(got, []string{addrA}) {
		t.Fatalf("Blocked() = %v", got)
	}
	// The far side of the closed connection sees it end: the peer that was
	// dialled cannot send on it any more either.
	sa.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := sa.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("far side read after block: %d, %v; want EOF", n, err)
	}
	if _, err := ca.Write([]byte("x")); err == nil {
		t.Fatal("write on a blocked connection succeeded")
	}
	if _, err := f.Dial(ctx, addrA); !errors.Is(err, cluster.ErrLinkBlocked) {
		t.Fatalf("dial to a blocked peer: %v, want ErrLinkBlocked", err)
	}

	// The other link still carries data both ways.
	if _, err := cb.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	sb.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(sb, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("unblocked link: %q, %v", buf, err)
	}
	if _, err := sb.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	cb.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(cb, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("unblocked link back: %q, %v", buf, err)
	}
	if got := f.Open(); got != 1 {
		t.Fatalf("open connections = %d, want 1", got)
	}

	// Heal: dials to A work again.
	f.SetBlocked(nil)
	if got := f.Blocked(); len(got) != 0 {
		t.Fatalf("Blocked() after heal = %v", got)
	}
	ca2, err := f.Dial(ctx, addrA)
	if err != nil {
		t.Fatalf("dial after heal: %v", err)
	}
	ca2.Close()
	acceptOne(t, acceptedA)
	if got := f.Open(); got != 1 {
		t.Fatalf("open connections after closing = %d, want 1", got)
	}
}

// TestFaultsIsolateLeader cuts a real cluster's leader off with a Faults
// switch in every node, both ways, as the failover drill does with real
// processes: the others elect a new leader in a later term and commit
// without the old one, the old one stops leading, and after the heal it
// follows the new leader and catches up.
func TestFaultsIsolateLeader(t *testing.T) {
	var mu sync.Mutex
	faults := map[string]*cluster.Faults{}
	h := clustertest.New(t, 3, counterOpts(func(c *cluster.Config) {
		mu.Lock()
		defer mu.Unlock()
		f := faults[c.ID]
		if f == nil {
			f = cluster.NewFaults(c.Dial) // over the harness's network
			faults[c.ID] = f
		}
		c.Dial = f.Dial
	}))
	old := h.WaitLeader(10 * time.Second)
	oldTerm := old.Node().LocalStatus().Term
	add(t, old.Node(), 1, 1)

	var peers []string
	for _, m := range h.Members {
		if m != old {
			peers = append(peers, m.RaftAddr)
			faults[m.ID].SetBlocked([]string{old.RaftAddr})
		}
	}
	faults[old.ID].SetBlocked(peers)

	var leader *clustertest.Member
	clustertest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		for _, m := range h.Members {
			st := m.Node().LocalStatus()
			if m != old && st.State == "leader" && st.Term > oldTerm {
				leader = m
				return nil
			}
		}
		return errors.New("no new leader on the majority side")
	}, "a new leader without %s", old.ID)
	clustertest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if st := old.Node().LocalStatus(); st.State == "leader" {
			return fmt.Errorf("%s still leads (term %d)", old.ID, st.Term)
		}
		return nil
	}, "the cut-off leader to step down")
	// The majority commits; the isolated node cannot.
	add(t, leader.Node(), 2, 1)
	actx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, err := old.Node().Apply(actx, countersm.Command(3, 1))
	cancel()
	if err == nil {
		t.Fatal("the isolated old leader committed a command")
	}
	want := leader.Node().AppliedIndex()

	for _, m := range h.Members {
		faults[m.ID].SetBlocked(nil)
	}
	clustertest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		st := old.Node().LocalStatus()
		if st.State != "follower" || st.Leader == "" || st.Leader == old.ID {
			return fmt.Errorf("%s is %s with leader %q", old.ID, st.State, st.Leader)
		}
		if st.AppliedIndex < want {
			return fmt.Errorf("%s applied %d, want %d", old.ID, st.AppliedIndex, want)
		}
		return nil
	}, "%s to rejoin as a follower and catch up", old.ID)
}
