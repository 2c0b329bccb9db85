package cluster

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// MemberStatus is one member as it sees itself.
type MemberStatus struct {
	ID           string `json:"id"`
	RaftAddr     string `json:"raft_addr"`
	APIAddr      string `json:"api_addr,omitempty"`
	Suffrage     string `json:"suffrage"` // voter, nonvoter
	State        string `json:"state"`    // leader, follower, candidate, shutdown, unreachable
	Leader       string `json:"leader,omitempty"`
	Term         uint64 `json:"term"`
	LastIndex    uint64 `json:"last_index"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	// LastContactMs is how long ago a follower last heard from the leader;
	// 0 on the leader, -1 when never.
	LastContactMs float64 `json:"last_contact_ms"`
	Error         string  `json:"error,omitempty"`
}

// Status is the cluster as one node sees it, with every member's own view.
type Status struct {
	Leader     string         `json:"leader"` // empty: no leader
	LeaderAddr string         `json:"leader_addr,omitempty"`
	AskedNode  string         `json:"asked_node"`
	Members    []MemberStatus `json:"members"`
}

// SnapshotInfo describes a snapshot a member took.
type SnapshotInfo struct {
	Node  string `json:"node"`
	ID    string `json:"id"`
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
	Size  int64  `json:"size"`
}

type joinRequest struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	Nonvoter bool   `json:"nonvoter,omitempty"`
}

type nodeRequest struct {
	ID string `json:"id"`
}

// LocalStatus is this node's own view of itself.
func (n *Node) LocalStatus() MemberStatus {
	leader, _ := n.Leader()
	ms := MemberStatus{
		ID: n.cfg.ID, RaftAddr: n.RaftAddr(), APIAddr: n.cfg.APIAddr,
		State: stateName(n.raft.State()), Leader: leader,
		Term: n.raft.CurrentTerm(), LastIndex: n.raft.LastIndex(),
		CommitIndex: n.raft.CommitIndex(), AppliedIndex: n.raft.AppliedIndex(),
		Suffrage: "none",
	}
	switch lc := n.raft.LastContact(); {
	case ms.State == "leader":
	case lc.IsZero():
		ms.LastContactMs = -1
	default:
		ms.LastContactMs = float64(time.Since(lc).Microseconds()) / 1000
	}
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			if s.ID == raft.ServerID(n.cfg.ID) {
				ms.Suffrage = suffrageName(s.Suffrage)
			}
		}
	}
	return ms
}

func stateName(s raft.RaftState) string {
	switch s {
	case raft.Leader:
		return "leader"
	case raft.Follower:
		return "follower"
	case raft.Candidate:
		return "candidate"
	default:
		return "shutdown"
	}
}

func suffrageName(s raft.ServerSuffrage) string {
	if s == raft.Voter {
		return "voter"
	}
	return "nonvoter"
}

// Status asks every member of the configuration for its own view, in
// parallel; a member that does not answer within the RPC timeout (capped at
// one second) is listed as unreachable.
func (n *Node) Status(ctx context.Context) (Status, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return Status{}, err
	}
	leader, leaderAddr := n.Leader()
	st := Status{Leader: leader, LeaderAddr: leaderAddr, AskedNode: n.cfg.ID}
	servers := f.Configuration().Servers
	st.Members = make([]MemberStatus, len(servers))
	ctx, cancel := context.WithTimeout(ctx, min(n.cfg.RPCTimeout, time.Second))
	defer cancel()
	var wg sync.WaitGroup
	for i, s := range servers {
		if s.ID == raft.ServerID(n.cfg.ID) {
			st.Members[i] = n.LocalStatus()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ms := MemberStatus{ID: string(s.ID), RaftAddr: string(s.Address), Suffrage: suffrageName(s.Suffrage), State: "unreachable"}
			b, err := n.peers.call(ctx, string(s.Address), opStatus, nil)
			if err == nil {
				err = json.Unmarshal(b, &ms)
			}
			if err != nil {
				ms.State, ms.Error = "unreachable", err.Error()
			}
			ms.Suffrage = suffrageName(s.Suffrage)
			st.Members[i] = ms
		}()
	}
	wg.Wait()
	sort.Slice(st.Members, func(i, j int) bool { return st.Members[i].ID < st.Members[j].ID })
	return st, nil
}

// Join adds a node to the cluster as a voter (or a nonvoter). Any member
// accepts the call and passes it to the leader. Joining again with the same
// id and address changes nothing, so a restarted node may always ask.
func (n *Node) Join(ctx context.Context, id, raftAddr string, nonvoter bool) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%w: node id %q", ErrBadRequest, id)
	}
	if err := checkDialable(raftAddr); err != nil {
		return fmt.Errorf("%w: raft address: %v", ErrBadRequest, err)
	}
	return n.leaderCall(ctx, opJoin, joinRequest{ID: id, RaftAddr: raftAddr, Nonvoter: nonvoter})
}

// Remove takes a node out of the cluster, through the leader.
func (n *Node) Remove(ctx context.Context, id string) error {
	if id == "" {
		return fmt.Errorf("%w: node id is required", ErrBadRequest)
	}
	return n.leaderCall(ctx, opRemove, nodeRequest{ID: id})
}

// TransferLeadership asks the leader to hand over to the named node, or to
// the most up-to-date follower when id is empty, and waits until it has.
func (n *Node) TransferLeadership(ctx context.Context, id string) error {
	old, _ := n.Leader()
	if err := n.leaderCall(ctx, opTransfer, nodeRequest{ID: id}); err != nil {
		return err
	}
	if id == old && id != "" {
		return nil
	}
	// The new leader is elected; wait until this node has heard from it, so
	// that callers asking "who leads now?" get the answer.
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RPCTimeout)
	defer cancel()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		if now, _ := n.Leader(); now != "" && now != old {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("leadership left %s but no new leader was seen: %w", old, ctx.Err())
		}
	}
}

// leaderCall runs a membership operation on the leader, here or remotely,
// retrying while there is no leader until ctx (or the RPC timeout) ends.
func (n *Node) leaderCall(ctx context.Context, op rpcOp, req any) error {
	payload, err := json.Marshal(req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RPCTimeout)
	defer cancel()
	retry := time.NewTicker(20 * time.Millisecond)
	defer retry.Stop()
	for {
		if n.IsLeader() {
			_, err = n.handleRPC(ctx, op, payload)
		} else if _, addr := n.Leader(); addr != "" {
			_, err = n.peers.call(ctx, addr, op, payload)
		} else {
			err = ErrNoLeader
		}
		if err == nil || !retryable(err) {
			return err
		}
		select {
		case <-retry.C:
		case <-ctx.Done():
			return err
		case <-n.shutdown:
			return ErrShutdown
		}
	}
}

// Snapshot makes the named member (this node when id is empty) take a
// snapshot now, which also compacts its log.
func (n *Node) Snapshot(ctx context.Context, id string) (SnapshotInfo, error) {
	if id == "" || id == n.cfg.ID {
		return n.snapshotLocal()
	}
	addr, err := n.memberAddr(id)
	if err != nil {
		return SnapshotInfo{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RPCTimeout)
	defer cancel()
	b, err := n.peers.call(ctx, addr, opSnapshot, nil)
	if err != nil {
		return SnapshotInfo{}, err
	}
	var info SnapshotInfo
	return info, json.Unmarshal(b, &info)
}

// Members lists the cluster configuration as this node knows it.
func (n *Node) Members() ([]raft.Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, err
	}
	return f.Configuration().Servers, nil
}

func (n *Node) memberAddr(id string) (string, error) {
	servers, err := n.Members()
	if err != nil {
		return "", err
	}
	for _, s := range servers {
		if s.ID == raft.ServerID(id) {
			return string(s.Address), nil
		}
	}
	return "", fmt.Errorf("%w: %q", ErrUnknownNode, id)
}

func (n *Node) snapshotLocal() (SnapshotInfo, error) {
	err := n.raft.Snapshot().Error()
	if err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return SnapshotInfo{}, err
	}
	metas, lerr := n.snaps.List()
	if lerr != nil {
		return SnapshotInfo{}, lerr
	}
	if len(metas) == 0 {
		return SnapshotInfo{}, fmt.Errorf("no snapshot taken: %v", err)
	}
	m := metas[0]
	return SnapshotInfo{Node: n.cfg.ID, ID: m.ID, Index: m.Index, Term: m.Term, Size: m.Size}, nil
}

// handleRPC serves node-to-node calls.
func (n *Node) handleRPC(ctx context.Context, op rpcOp, payload []byte) ([]byte, error) {
	select { // the port is open before Raft is: callers wait for it
	case <-n.started:
	case <-ctx.Done():
		return nil, ErrShutdown
	case <-n.shutdown:
		return nil, ErrShutdown
	}
	select {
	case <-n.shutdown:
		return nil, ErrShutdown
	default:
	}
	p, remote := peerFrom(ctx)
	if remote {
		if err := n.authorize(p); err != nil {
			n.log.Warn("node-to-node call refused", "op", opName(op), "peer", p.id, "remote", p.addr, "err", err)
			return nil, err
		}
	}
	switch op {
	case opApply:
		return n.serveApply(ctx, payload)
	case opLeaderCall:
		return n.serveLeaderCall(ctx, payload)
	case opStatus:
		return json.Marshal(n.LocalStatus())
	case opSnapshot:
		info, err := n.snapshotLocal()
		if err != nil {
			return nil, err
		}
		return json.Marshal(info)
	case opJoin, opRemove, opTransfer:
		if !n.IsLeader() {
			return nil, ErrNotLeader
		}
		by := peer{id: n.cfg.ID, addr: "this node's admin API"}
		if remote {
			by = p
		}
		return nil, n.serveMembership(op, payload, by)
	default:
		return nil, fmt.Errorf("%w: unknown operation %d", ErrBadRequest, op)
	}
}

func (n *Node) serveApply(ctx context.Context, payload []byte) ([]byte, error) {
	if len(payload) < 8 {
		return nil, fmt.Errorf("%w: short apply request", ErrBadRequest)
	}
	dl := time.Unix(0, int64(binary.BigEndian.Uint64(payload)))
	if n.raft.State() != raft.Leader {
		return nil, ErrNotLeader
	}
	ctx, cancel := context.WithDeadline(ctx, dl)
	defer cancel()
	return n.applyLocal(ctx, payload[8:])
}

// authorize admits a node-to-node call from p. Without TLS there is no
// identity to check (the port must then be reachable by members only);
// with it, the peer's certificate must name a member of the configuration.
func (n *Node) authorize(p peer) error {
	if n.cfg.ServerTLS == nil {
		return nil
	}
	if p.id == "" {
		return fmt.Errorf("%w: the peer's certificate names no node", ErrUnauthorized)
	}
	if _, err := n.memberAddr(p.id); err != nil {
		return fmt.Errorf("%w: %q is not a member of the cluster", ErrUnauthorized, p.id)
	}
	return nil
}

func opName(op rpcOp) string {
	switch op {
	case opApply:
		return "apply"
	case opJoin:
		return "join"
	case opRemove:
		return "remove"
	case opTransfer:
		return "transfer"
	case opSnapshot:
		return "snapshot"
	case opStatus:
		return "status"
	case opLeaderCall:
		return "leader call"
	}
	return fmt.Sprintf("op %d", op)
}

// serveMembership changes the configuration on the leader; by is who asked
// (a peer, or this node's own admin API), logged with every change.
func (n *Node) serveMembership(op rpcOp, payload []byte, by peer) error {
	timeout := n.cfg.RPCTimeout
	switch op {
	case opJoin:
		var req joinRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
		servers, err := n.Members()
		if err != nil {
			return err
		}
		for _, s := range servers {
			if s.ID == raft.ServerID(req.ID) && s.Address == raft.ServerAddress(req.RaftAddr) &&
				(s.Suffrage == raft.Voter) != req.Nonvoter {
				return nil // already a member as asked
			}
			if s.ID != raft.ServerID(req.ID) && s.Address == raft.ServerAddress(req.RaftAddr) {
				return fmt.Errorf("%w: address %s belongs to node %s", ErrBadRequest, req.RaftAddr, s.ID)
			}
		}
		var f raft.IndexFuture
		if req.Nonvoter {
			f = n.raft.AddNonvoter(raft.ServerID(req.ID), raft.ServerAddress(req.RaftAddr), 0, timeout)
		} else {
			f = n.raft.AddVoter(raft.ServerID(req.ID), raft.ServerAddress(req.RaftAddr), 0, timeout)
		}
		if err := f.Error(); err != nil {
			return mapRaftError(err)
		}
		n.log.Info("node joined", "id", req.ID, "raft_addr", req.RaftAddr, "nonvoter", req.Nonvoter, "asked_by", by.id, "asked_from", by.addr)
		return nil
	case opRemove:
		var req nodeRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
		if _, err := n.memberAddr(req.ID); err != nil {
			return err
		}
		if err := n.raft.RemoveServer(raft.ServerID(req.ID), 0, timeout).Error(); err != nil {
			return mapRaftError(err)
		}
		n.log.Info("node removed", "id", req.ID, "asked_by", by.id, "asked_from", by.addr)
		return nil
	default: // opTransfer
		var req nodeRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
		var f raft.Future
		if req.ID == "" {
			f = n.raft.LeadershipTransfer()
		} else {
			if req.ID == n.cfg.ID {
				return nil // already the leader
			}
			addr, err := n.memberAddr(req.ID)
			if err != nil {
				return err
			}
			f = n.raft.LeadershipTransferToServer(raft.ServerID(req.ID), raft.ServerAddress(addr))
		}
		if err := f.Error(); err != nil {
			return fmt.Errorf("leadership transfer: %w", err)
		}
		n.log.Info("leadership transferred", "to", req.ID, "asked_by", by.id, "asked_from", by.addr)
		return nil
	}
}

// Snapshots lists the snapshots this node keeps, newest first.
func (n *Node) Snapshots() ([]SnapshotInfo, error) {
	metas, err := n.snaps.List()
	if err != nil {
		return nil, err
	}
	out := make([]SnapshotInfo, len(metas))
	for i, m := range metas {
		out[i] = SnapshotInfo{Node: n.cfg.ID, ID: m.ID, Index: m.Index, Term: m.Term, Size: m.Size}
	}
	return out, nil
}

// CatchUp waits until this node has applied everything the leader had
// committed when CatchUp was called, so a read that follows sees every
// write acknowledged before it (a ReadIndex, without leader lease checks).
// Use it before concluding that something is absent on a follower.
func (n *Node) CatchUp(ctx context.Context) error {
	var target uint64
	if n.IsLeader() {
		target = n.raft.CommitIndex()
	} else {
		_, addr := n.Leader()
		if addr == "" {
			return ErrNoLeader
		}
		b, err := n.peers.call(ctx, addr, opStatus, nil)
		if err != nil {
			return err
		}
		var ms MemberStatus
		if err := json.Unmarshal(b, &ms); err != nil {
			return err
		}
		target = ms.CommitIndex
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	wait := func(done func() bool) error {
		for !done() {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return fmt.Errorf("applied %d of %d: %w", n.fsm.applied.Load(), target, ctx.Err())
			case <-n.shutdown:
				return ErrShutdown
			}
		}
		return nil
	}
	// Raft counts an entry applied once it is handed to the state machine,
	// which may still be working on it: wait for Raft, then for the state
	// machine to reach the last entry it will see (no-ops and barriers
	// never reach it).
	if err := wait(func() bool { return n.raft.AppliedIndex() >= target }); err != nil {
		return err
	}
	last := n.fsm.applied.Load()
	for i := target; i > last; i-- {
		var l raft.Log
		if err := n.logs.GetLog(i, &l); err != nil {
			break // compacted: a snapshot, which the state already covers
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			last = i
			break
		}
	}
	return wait(func() bool { return n.fsm.applied.Load() >= last })
}
