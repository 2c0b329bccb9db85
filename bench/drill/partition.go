package drill

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/admitpark/admit/cluster/localproc"
)

// Partition mode cuts the leader off from every peer in both directions
// through each node's fault switch (nodes run with --fault-injection; see
// cluster.Faults). A node only controls the connections it dials, so the
// leader blocks every peer and every peer blocks the leader: between them
// they close every open connection of those links and refuse new ones.

// setBlocked tells one node which peers (raft addresses) to block; none
// heals it. It asks that node only: a fall-over to another node would cut
// the wrong links.
func setBlocked(ctx context.Context, n *localproc.Node, token string, peers []string) error {
	if _, err := adminAt([]string{n.HTTPURL}, token, 5*time.Second).SetFaults(ctx, peers); err != nil {
		return fmt.Errorf("%s: set blocked peers %v: %w", n.ID, peers, err)
	}
	return nil
}

// isolate cuts victim off from the other nodes, both ways, all nodes told at
// once.
func (lc *localCluster) isolate(ctx context.Context, token string, victim *localproc.Node) error {
	var others []string
	for _, n := range lc.Nodes() {
		if n != victim {
			others = append(others, n.RaftAddr)
		}
	}
	return lc.eachNode(func(n *localproc.Node) error {
		if n == victim {
			return setBlocked(ctx, n, token, others)
		}
		return setBlocked(ctx, n, token, []string{victim.RaftAddr})
	})
}

// heal unblocks every link of every node. A node that does not answer is
// asked again until ctx ends: a drill must not leave a cut behind.
func (lc *localCluster) heal(ctx context.Context, token string) error {
	return lc.eachNode(func(n *localproc.Node) error {
		for {
			err := setBlocked(ctx, n, token, nil)
			if err == nil || ctx.Err() != nil {
				return err
			}
			wait(ctx, 100*time.Millisecond)
		}
	})
}

// eachNode runs fn for every node in parallel and joins their errors.
func (lc *localCluster) eachNode(fn func(*localproc.Node) error) error {
	errs := make([]error, len(lc.Nodes()))
	var wg sync.WaitGroup
	for i, n := range lc.Nodes() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(n)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// majorityLeader returns the node a quorum of the nodes other than old
// names as leader, when that node itself says it leads in a term after
// oldTerm.
func majorityLeader(ctx context.Context, lc *localCluster, token, old string, oldTerm uint64) (id string, term uint64) {
	var mu sync.Mutex
	named := map[string]int{}
	leads := map[string]uint64{}
	var wg sync.WaitGroup
	for _, n := range lc.Nodes() {
		if n.ID == old {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ms, err := self(ctx, n.HTTPURL, token, 250*time.Millisecond)
			if err != nil || ms.Leader == "" || ms.Term <= oldTerm {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			named[ms.Leader]++
			if ms.State == "leader" {
				leads[ms.ID] = ms.Term
			}
		}()
	}
	wg.Wait()
	quorum := len(lc.Nodes())/2 + 1
	for l, votes := range named {
		if t, ok := leads[l]; ok && l != old && votes >= quorum {
			return l, t
		}
	}
	return "", 0
}

// partition is one round of partition mode: cut the leader off, time the
// majority's election, hold the cut for half a round under traffic, heal,
// and wait until every node follows one leader again.
func (tr *traffic) partition(ctx context.Context, lc *localCluster, oldID string, oldTerm uint64, rd *Round) (err error) {
	victim := lc.Node(oldID)
	if victim == nil {
		return fmt.Errorf("leader %s is not one of the drill's nodes", oldID)
	}
	t0 := time.Now()
	defer func() {
		// Heal whatever happened above; bounded, so that a dead node
		// cannot hang the drill.
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		rd.PartitionMs = ms(time.Since(t0))
		healed := time.Now()
		if herr := lc.heal(hctx, tr.token); herr != nil {
			err = errors.Join(err, fmt.Errorf("heal: %w", herr))
			return
		}
		if err != nil {
			return
		}
		if serr := waitSelfSettled(ctx, tr.urls, tr.token, 30*time.Second); serr != nil {
			err = fmt.Errorf("cluster did not settle after the heal: %w", serr)
			return
		}
		rd.SettleMs = ms(time.Since(healed))
	}()
	if err := lc.isolate(ctx, tr.token, victim); err != nil {
		return fmt.Errorf("cut %s off: %w", oldID, err)
	}
	// Until the majority follows a new leader, and the old one, alone,
	// has given up leading (its lease ran out: gates there now get 503).
	deadline := t0.Add(30 * time.Second)
	for {
		if rd.NewLeader == "" {
			if id, _ := majorityLeader(ctx, lc, tr.token, oldID, oldTerm); id != "" {
				rd.NewLeader = id
				rd.LeaderlessMs = ms(time.Since(t0))
			}
		}
		if rd.StepDownMs == 0 {
			if st, err := self(ctx, victim.HTTPURL, tr.token, 250*time.Millisecond); err == nil && (st.State != "leader" || st.Term > oldTerm) {
				rd.StepDownMs = ms(time.Since(t0))
			}
		}
		if rd.NewLeader != "" && rd.StepDownMs != 0 {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if rd.NewLeader == "" {
				return fmt.Errorf("the majority elected no new leader within 30 s of cutting %s off", oldID)
			}
			return fmt.Errorf("%s, cut off, still says it leads after 30 s", oldID)
		}
		wait(ctx, 5*time.Millisecond)
	}
	wait(ctx, time.Until(t0.Add(tr.o.RoundTime/2)))
	return nil
}
