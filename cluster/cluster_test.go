package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/cluster/countersm"
)

func counterOpts(configure func(*cluster.Config)) clustertest.Options {
	return clustertest.Options{
		StateMachine: func(string) cluster.StateMachine { return countersm.Counter{} },
		Configure:    configure,
	}
}

func add(t *testing.T, n *cluster.Node, op uint64, delta int64) int64 {
	t.Helper()
	res, err := n.Apply(context.Background(), countersm.Command(op, delta))
	if err != nil {
		t.Fatalf("apply op %d: %v", op, err)
	}
	total, err := countersm.DecodeResult(res)
	if err != nil {
		t.Fatal(err)
	}
	return total
}

func counter(t *testing.T, m *clustertest.Member) countersm.State {
	t.Helper()
	st, err := countersm.Read(m.Node())
	if err != nil {
		t.Fatalf("read counter on %s: %v", m.ID, err)
	}
	return st
}

// waitConverged waits until every running member has the same counter and
// that counter has no re-applied or out-of-order entries.
func waitConverged(t *testing.T, h *clustertest.Harness, want countersm.State) {
	t.Helper()
	clustertest.CheckFor(t, 15*time.Second, 20*time.Millisecond, func() error {
		for _, m := range h.Running() {
			st, err := countersm.Read(m.Node())
			if err != nil {
				return err
			}
			if st.Total != want.Total || st.Ops != want.Ops {
				return fmt.Errorf("%s has total %d over %d ops, want %d over %d", m.ID, st.Total, st.Ops, want.Total, want.Ops)
			}
			if st.Reapplied != 0 || st.OutOfOrder != 0 {
				return fmt.Errorf("%s re-applied %d entries, %d out of order", m.ID, st.Reapplied, st.OutOfOrder)
			}
		}
		return nil
	}, "members to converge on total %d", want.Total)
}

func TestApplyOnEveryNodeIsReplicated(t *testing.T) {
	h := clustertest.New(t, 3, counterOpts(nil))
	var total int64
	op := uint64(0)
	for _, m := range h.Members { // followers forward to the leader
		for i := 0; i < 10; i++ {
			op++
			total = add(t, m.Node(), op, int64(op))
		}
	}
	if total != 465 { // 1+2+...+30
		t.Fatalf("total after 30 ops = %d, want 465", total)
	}
	waitConverged(t, h, countersm.State{Total: 465, Ops: 30})

	// A retried op id is applied once.
	if got := add(t, h.Followers()[0].Node(), 1, 1); got != 465 {
		t.Fatalf("retried op changed the total to %d", got)
	}
}

// clients submits ops from several goroutines through every running member
// until stop closes, and records which ops were acknowledged.
type clients struct {
	mu    sync.Mutex
	acked map[uint64]int64
	sum   int64
	next  atomic.Uint64
	wg    sync.WaitGroup
	stop  chan struct{}
}

func startClients(h *clustertest.Harness, workers int) *clients {
	c := &clients{acked: map[uint64]int64{}, stop: make(chan struct{})}
	for w := 0; w < workers; w++ {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for i := w; ; i++ {
				select {
				case <-c.stop:
					return
				default:
				}
				running := h.Running()
				if len(running) == 0 {
					continue
				}
				n := running[i%len(running)].Node()
				if n == nil {
					continue
				}
				op := c.next.Add(1)
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				_, err := n.Apply(ctx, countersm.Command(op, 1))
				cancel()
				if err == nil {
					c.mu.Lock()
					c.acked[op] = 1
					c.sum++
					c.mu.Unlock()
				}
			}
		}()
	}
	return c
}

func (c *clients) waitAcked(t *testing.T, n int) {
	t.Helper()
	clustertest.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.acked) < n {
			return fmt.Errorf("%d acknowledged", len(c.acked))
		}
		return nil
	}, "%d acknowledged commands", n)
}

// count is how many commands were acknowledged so far.
func (c *clients) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.acked)
}

func (c *clients) halt() map[uint64]int64 {
	close(c.stop)
	c.wg.Wait()
	return c.acked
}

// checkAcked verifies that every acknowledged op is in every running member.
func checkAcked(t *testing.T, h *clustertest.Harness, acked map[uint64]int64) {
	t.Helper()
	for _, m := range h.Running() {
		for op := range acked {
			ok, err := countersm.HasOp(m.Node(), op)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				t.Fatalf("%s lost acknowledged op %d", m.ID, op)
			}
		}
	}
}

// settle waits for every running member to reach the leader's state, and
// returns that state.
func settle(t *testing.T, h *clustertest.Harness) countersm.State {
	t.Helper()
	leader := h.WaitLeader(10 * time.Second)
	// A no-op through the leader commits everything before it in its term.
	add(t, leader.Node(), 1<<62, 0)
	h.WaitApplied(leader.Node().AppliedIndex(), 10*time.Second)
	want := counter(t, leader)
	waitConverged(t, h, want)
	return want
}

func TestLeaderKilledKeepsAcknowledgedCommands(t *testing.T) {
	h := clustertest.New(t, 3, counterOpts(nil))
	c := startClients(h, 8)
	c.waitAcked(t, 200)

	old := h.Leader()
	h.Kill(old)
	start := time.Now()
	newLeader := h.WaitLeader(10 * time.Second)
	t.Logf("new leader %s elected %v after the kill", newLeader.ID, time.Since(start))
	c.waitAcked(t, c.count()+200) // commands flow again
	acked := c.halt()

	want := settle(t, h)
	checkAcked(t, h, acked)
	if want.Ops < uint64(len(acked)) {
		t.Fatalf("state has %d ops, clients saw %d acknowledged", want.Ops, len(acked))
	}

	// The old leader comes back as a follower with the same state.
	h.Restart(old)
	want = settle(t, h)
	checkAcked(t, h, acked)
	if old.Node().IsLeader() {
		t.Logf("restarted %s won leadership back; fine, but unusual", old.ID)
	}
}

func TestRestartAppliesNothingTwice(t *testing.T) {
	// Small snapshot threshold so the restart replays log entries on top of
	// a snapshot: the case where a double apply would show.
	h := clustertest.New(t, 3, counterOpts(func(c *cluster.Config) {
		c.TrailingLogs = 50
	}))
	leader := h.Leader()
	for op := uint64(1); op <= 100; op++ {
		add(t, leader.Node(), op, 1)
	}
	for _, m := range h.Members {
		if _, err := m.Node().Snapshot(context.Background(), ""); err != nil {
			t.Fatalf("snapshot %s: %v", m.ID, err)
		}
	}
	for op := uint64(101); op <= 200; op++ {
		add(t, leader.Node(), op, 1)
	}

	for _, m := range []*clustertest.Member{h.Followers()[0], h.Leader()} {
		before := settle(t, h)
		h.Kill(m)
		// The cluster goes on while m is down.
		for i := 0; i < 20; i++ {
			add(t, h.Running()[0].Node(), uint64(1000+before.Ops)+uint64(i), 1)
		}
		h.Restart(m)
		after := settle(t, h)
		if after.Total != before.Total+20 {
			t.Fatalf("after restarting %s: total %d, want %d", m.ID, after.Total, before.Total+20)
		}
		if st := counter(t, m); st != after {
			t.Fatalf("restarted %s has %+v, cluster has %+v", m.ID, st, after)
		}
	}
}

func TestLateJoinerCatchesUpFromSnapshot(t *testing.T) {
	h := clustertest.New(t, 3, counterOpts(func(c *cluster.Config) {
		c.TrailingLogs = 10
	}))
	leader := h.Leader()
	for op := uint64(1); op <= 300; op++ {
		add(t, leader.Node(), op, 2)
	}
	snap, err := leader.Node().Snapshot(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for op := uint64(301); op <= 320; op++ {
		add(t, leader.Node(), op, 2)
	}

	late := h.AddMember()
	h.WaitVoters(4, 10*time.Second)
	want := settle(t, h)
	if want.Total != 640 {
		t.Fatalf("total %d, want 640", want.Total)
	}
	snaps, err := late.Node().Snapshots()
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) == 0 || snaps[0].Index < snap.Index {
		t.Fatalf("late joiner has snapshots %+v; want one installed from the leader at index >= %d", snaps, snap.Index)
	}
}

func TestMinorityPartitionCannotCommit(t *testing.T) {
	h := clustertest.New(t, 5, counterOpts(nil))
	add(t, h.Leader().Node(), 1, 1)
	old := h.Leader()
	var minority, majority []*clustertest.Member
	minority = append(minority, old)
	for _, m := range h.Members {
		if m == old {
			continue
		}
		if len(minority) < 2 {
			minority = append(minority, m)
		} else {
			majority = append(majority, m)
		}
	}
	h.Partition(minority, majority)

	// The old leader cannot commit: it answers with an error, not a hang.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_, err := old.Node().Apply(ctx, countersm.Command(666, 1000))
	cancel()
	if err == nil {
		t.Fatal("a command committed in the minority partition")
	}
	if !errors.Is(err, cluster.ErrOutcomeUnknown) && !errors.Is(err, cluster.ErrNoLeader) {
		t.Fatalf("minority apply failed with %v, want ErrOutcomeUnknown or ErrNoLeader", err)
	}

	// The majority elects a leader and commits.
	var newLeader *clustertest.Member
	clustertest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		for _, m := range majority {
			if m.Node().IsLeader() {
				newLeader = m
				return nil
			}
		}
		return errors.New("no leader in the majority")
	}, "the majority to elect a leader")
	add(t, newLeader.Node(), 2, 1)

	h.Heal()
	want := settle(t, h)
	if want.Total != 2 {
		t.Fatalf("after heal total is %d, want 2 (the minority's command must not survive)", want.Total)
	}
	for _, m := range h.Members {
		if ok, _ := countersm.HasOp(m.Node(), 666); ok {
			t.Fatalf("%s applied the minority's command", m.ID)
		}
	}
}

func TestNoQuorumFailsFast(t *testing.T) {
	h := clustertest.New(t, 3, counterOpts(nil))
	survivor := h.Followers()[0]
	for _, m := range h.Members {
		if m != survivor {
			h.Kill(m)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := survivor.Node().Apply(ctx, countersm.Command(1, 1))
	if !errors.Is(err, cluster.ErrNoLeader) && !errors.Is(err, cluster.ErrOutcomeUnknown) {
		t.Fatalf("apply without quorum: %v, want ErrNoLeader or ErrOutcomeUnknown", err)
	}
	if survivor.Node().Ready() == nil {
		t.Fatal("a node without quorum says it is ready")
	}
}

func TestTransferLeadershipAndRemove(t *testing.T) {
	h := clustertest.New(t, 3, counterOpts(nil))
	old := h.Leader()
	target := h.Followers()[0]
	// Asked through the other follower: the call finds the leader itself.
	via := h.Followers()[1]
	if err := via.Node().TransferLeadership(context.Background(), target.ID); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	if got := h.WaitLeader(5 * time.Second); got != target {
		t.Fatalf("leader is %s after transfer to %s", got.ID, target.ID)
	}
	add(t, old.Node(), 1, 5)

	if err := old.Node().Remove(context.Background(), "nope"); !errors.Is(err, cluster.ErrUnknownNode) {
		t.Fatalf("remove unknown node: %v, want ErrUnknownNode", err)
	}
	if err := old.Node().Remove(context.Background(), via.ID); err != nil {
		t.Fatalf("remove %s: %v", via.ID, err)
	}
	h.WaitVoters(2, 5*time.Second)
	st, err := target.Node().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Members) != 2 || st.Leader != target.ID {
		t.Fatalf("status after remove: %+v", st)
	}
}

func TestStatusShowsEveryMember(t *testing.T) {
	h := clustertest.New(t, 3, counterOpts(nil))
	add(t, h.Leader().Node(), 1, 1)
	h.WaitApplied(h.Leader().Node().AppliedIndex(), 10*time.Second) // a late joiner may still be catching up
	f := h.Followers()[0]
	st, err := f.Node().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Leader != h.Leader().ID || len(st.Members) != 3 {
		t.Fatalf("status: %+v", st)
	}
	states := map[string]int{}
	for _, m := range st.Members {
		states[m.State]++
		if m.Suffrage != "voter" || m.Term == 0 || m.LastIndex == 0 {
			t.Fatalf("member %+v lacks suffrage, term or index", m)
		}
	}
	if states["leader"] != 1 || states["follower"] != 2 {
		t.Fatalf("states %v, want one leader and two followers", states)
	}

	other := h.Followers()[1]
	h.Kill(other)
	st, err = f.Node().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st.Members {
		if m.ID == other.ID && m.State != "unreachable" {
			t.Fatalf("killed member shows as %q", m.State)
		}
	}
}

// A follower that catches up sees every write acknowledged before.
func TestCatchUpGivesReadYourWrites(t *testing.T) {
	h := clustertest.New(t, 3, counterOpts(nil))
	leader, follower := h.Leader(), h.Followers()[0]
	for op := uint64(1); op <= 50; op++ {
		add(t, leader.Node(), op, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := follower.Node().CatchUp(ctx)
		cancel()
		if err != nil {
			t.Fatalf("catch up: %v", err)
		}
		if ok, err := countersm.HasOp(follower.Node(), op); err != nil || !ok {
			t.Fatalf("after CatchUp the follower lacks op %d (err %v)", op, err)
		}
	}
}

// A follower names the leader's API address (what the leader was
// configured to advertise), after looking it up once in the background;
// the leader names nobody; after a leader change the followers name the
// new one.
func TestFollowersNameTheLeadersAPI(t *testing.T) {
	h := clustertest.New(t, 3, counterOpts(func(c *cluster.Config) { c.APIAddr = "http://api-of-" + c.ID }))
	leader := h.WaitLeader(10 * time.Second)
	waitNamed := func(leader *clustertest.Member) {
		t.Helper()
		want := "http://api-of-" + leader.ID
		clustertest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			if got := leader.Node().LeaderAPI(); got != "" {
				return fmt.Errorf("the leader %s names %q", leader.ID, got)
			}
			for _, f := range h.Followers() {
				if got := f.Node().LeaderAPI(); got != want {
					return fmt.Errorf("follower %s names %q", f.ID, got)
				}
			}
			return nil
		}, "followers to name %s", want)
	}
	waitNamed(leader)

	h.Kill(leader)
	waitNamed(h.WaitLeader(10 * time.Second))
}
