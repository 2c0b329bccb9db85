package cluster

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// leaderAPI caches the current leader's API address, learnt from its
// status, so that a follower can tell clients where the leader answers
// (rqlite redirects to the leader the same way): a gate that follows the
// hint saves the forwarding hop, two node-to-node messages a scan.
type leaderAPI struct {
	mu       sync.Mutex
	raftAddr string // the leader the cached address belongs to
	api      string
	busy     bool // a lookup is running
	closed   bool // the node is closing: no new lookups
	wg       sync.WaitGroup
}

// stop waits for a running lookup and refuses new ones.
func (l *leaderAPI) stop() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.wg.Wait()
}

// LeaderAPI returns the leader's API address (its Config.APIAddr) when
// this node is a follower and knows it, else "". After a leader change
// the first call starts a lookup in the background and returns "": a
// hint is never worth waiting for.
func (n *Node) LeaderAPI() string {
	if n.raft.State() != raft.Follower {
		return ""
	}
	_, addr := n.Leader()
	if addr == "" {
		return ""
	}
	l := &n.lapi
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.raftAddr == addr {
		return l.api
	}
	if !l.busy && !l.closed {
		l.busy = true
		l.wg.Add(1)
		go n.lookupLeaderAPI(addr)
	}
	return ""
}

// lookupLeaderAPI asks the leader at addr for its status. It ends with
// the node: Close cancels it and waits.
func (n *Node) lookupLeaderAPI(addr string) {
	l := &n.lapi
	defer l.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), min(n.cfg.RPCTimeout, time.Second))
	defer cancel()
	go func() {
		select {
		case <-n.shutdown:
			cancel()
		case <-ctx.Done():
		}
	}()
	var ms MemberStatus
	b, err := n.peers.call(ctx, addr, opStatus, nil)
	if err == nil {
		err = json.Unmarshal(b, &ms)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.busy = false
	if err != nil || ms.RaftAddr != addr {
		return // asked again on the next call
	}
	l.raftAddr, l.api = addr, ms.APIAddr
}
