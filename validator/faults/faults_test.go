package faults

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/validator/gate"
)

// Traffic before a fault, and while it lasts, in decided scans.
const (
	warmup   = 100
	duringIt = 100
	perNode  = 20 // decisions each node must make again after a heal
)

func TestLeaderKilled(t *testing.T) {
	t.Parallel()
	r := newRun(t, runOptions{})
	r.start()
	r.cycles(func(c int) {
		r.waitDecided(warmup, "traffic before the kill")
		old := r.h.WaitLeader(waitLong)
		r.park.Unserve(old) // Park.Kill, in two steps to time the node's death
		t0 := time.Now()
		r.h.Kill(old)
		leader := r.h.WaitLeader(waitLong)
		r.logf("cycle %d: killed leader %s; %s led %v later", c, old.ID, leader.ID, time.Since(t0).Round(time.Millisecond))
		r.waitDecided(duringIt, "traffic without %s", old.ID)
		r.park.Restart(old)
		r.h.WaitLeader(waitLong)
		r.waitEveryNode()
		r.logf("cycle %d: %s restarted, every node decides scans", c, old.ID)
	})
	r.verify()
}

func TestFollowerKilled(t *testing.T) {
	t.Parallel()
	r := newRun(t, runOptions{})
	r.start()
	r.cycles(func(c int) {
		r.waitDecided(warmup, "traffic before the kill")
		f := r.follower(c)
		leader := r.h.Leader()
		r.park.Kill(f)
		r.logf("cycle %d: killed follower %s", c, f.ID)
		r.waitDecided(duringIt, "traffic without %s", f.ID)
		if now := r.h.WaitLeader(waitLong); leader != nil && now != leader {
			r.logf("cycle %d: leadership moved from %s to %s meanwhile", c, leader.ID, now.ID)
		}
		r.park.Restart(f)
		r.h.WaitLeader(waitLong)
		r.waitEveryNode()
		r.logf("cycle %d: %s restarted, every node decides scans", c, f.ID)
	})
	r.verify()
}

func TestMinorityPartition(t *testing.T) {
	t.Parallel()
	r := newRun(t, runOptions{})
	r.start()
	r.cycles(func(c int) {
		// A follower alone.
		r.waitDecided(warmup, "traffic before the partition")
		f := r.follower(c)
		r.park.Disconnect(f)
		from := r.mark()
		r.logf("cycle %d: follower %s cut off", c, f.ID)
		r.waitDecided(duringIt, "the majority to go on without %s", f.ID)
		r.waitFailedSince(from, []*clustertest.Member{f}, 1)
		to := r.rec.Now()
		r.park.Heal()
		failed := r.noDecisionsFrom([]*clustertest.Member{f}, from, to, "cut-off follower "+f.ID)
		r.logf("cycle %d: healed after %v; %d attempts at %s failed meanwhile, none was decided", c, time.Duration(to-from.at).Round(time.Millisecond), failed, f.ID)
		r.h.WaitLeader(waitLong)
		r.waitEveryNode()

		// The leader alone: it is the minority now.
		r.waitDecided(warmup, "traffic before the leader is cut off")
		old := r.h.WaitLeader(waitLong)
		rest := others(r.h.Members, old)
		r.park.Partition([]*clustertest.Member{old}, rest)
		from, t0 := r.mark(), time.Now()
		leader := r.waitLeaderAmong(rest)
		r.logf("cycle %d: leader %s cut off; %s led %v later", c, old.ID, leader.ID, time.Since(t0).Round(time.Millisecond))
		r.waitDecided(duringIt, "the majority to go on without %s", old.ID)
		r.waitFailedSince(from, []*clustertest.Member{old}, 1)
		to = r.rec.Now()
		r.park.Heal()
		failed = r.noDecisionsFrom([]*clustertest.Member{old}, from, to, "cut-off old leader "+old.ID)
		r.logf("cycle %d: healed after %v; %d attempts at %s failed meanwhile, none was decided", c, time.Duration(to-from.at).Round(time.Millisecond), failed, old.ID)
		r.h.WaitLeader(waitLong)
		r.waitEveryNode()
	})
	r.verify()
}

func TestMajorityLost(t *testing.T) {
	t.Parallel()
	r := newRun(t, runOptions{})
	r.start()
	r.cycles(func(c int) {
		r.waitDecided(warmup, "traffic before the partition")
		r.h.WaitLeader(waitLong)
		var groups [][]*clustertest.Member
		for _, m := range r.h.Members {
			groups = append(groups, []*clustertest.Member{m})
		}
		r.park.Partition(groups...)
		from, t0 := r.mark(), time.Now()
		clustertest.CheckFor(t, waitLong, 10*time.Millisecond, func() error {
			for _, m := range r.h.Members {
				if m.Node().IsLeader() {
					return fmt.Errorf("%s still leads", m.ID)
				}
			}
			return nil
		}, "the leader to step down")
		r.logf("cycle %d: every node cut off; no leader after %v", c, time.Since(t0).Round(time.Millisecond))
		commit := map[string]uint64{}
		for _, m := range r.h.Members {
			commit[m.ID] = m.Node().LocalStatus().CommitIndex
		}
		r.waitFailedSince(from, nil, 2*numGates)
		for _, m := range r.h.Members {
			if now := m.Node().LocalStatus().CommitIndex; now != commit[m.ID] {
				t.Errorf("cycle %d: %s committed %d -> %d without a quorum", c, m.ID, commit[m.ID], now)
			}
		}
		to := r.rec.Now()
		r.park.Heal()

		r.noDecisionsFrom(nil, from, to, "no quorum")
		var n503 int
		var slowest time.Duration
		for _, a := range r.since(from, to, nil) {
			if a.status != http.StatusServiceUnavailable {
				if !a.decided {
					t.Errorf("cycle %d: gate %s on %s without a quorum: %s, want 503", c, r.gateIDs[a.gate], r.h.Members[a.node].ID, a.err)
				}
				continue
			}
			n503++
			slowest = max(slowest, time.Duration(a.ret-a.call))
		}
		r.logf("cycle %d: healed after %v; %d attempts got 503 meanwhile, the slowest after %v (scan timeout %v)",
			c, time.Duration(to-from.at).Round(time.Millisecond), n503, slowest.Round(time.Millisecond), gate.DefaultConfig("x").ScanTimeout)
		r.h.WaitLeader(waitLong)
		r.waitEveryNode()
	})
	r.verify()
}

func TestRestartFromDataDir(t *testing.T) {
	t.Parallel()
	r := newRun(t, runOptions{})
	r.start()
	r.cycles(func(c int) {
		for _, role := range []string{"follower", "leader"} {
			r.waitDecided(warmup, "traffic before the restart")
			m := r.h.WaitLeader(waitLong)
			if role == "follower" {
				m = r.follower(c)
			}
			// What m knows before it dies it must know again at once.
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			err := m.Node().CatchUp(ctx)
			cancel()
			if err != nil {
				t.Fatalf("%s catching up: %v", m.ID, err)
			}
			known := r.usedOn(m)
			before := m.Node().AppliedIndex()
			r.park.Kill(m)
			r.park.Restart(m)
			after := r.usedOn(m)
			have := map[int]bool{}
			for _, idx := range after {
				have[idx] = true
			}
			for _, idx := range known {
				if !have[idx] {
					t.Errorf("cycle %d: t%d was used on %s before the restart, not after", c, idx, m.ID)
					break
				}
			}
			r.logf("cycle %d: %s %s restarted from its data dir (applied %d; %d used tickets known before, %d right after)",
				c, role, m.ID, before, len(known), len(after))
			r.h.WaitLeader(waitLong)
			r.waitEveryNode()
		}
	})
	r.verify()
}

// snapshotWatch counts "Installed remote snapshot" log lines (Raft's, on
// the follower that installs one) per node.
type snapshotWatch struct {
	mu    sync.Mutex
	count map[string]int
}

func (w *snapshotWatch) installs(id string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.count[id]
}

func (w *snapshotWatch) configure(cfg *cluster.Config) {
	inner := cfg.Logger.Handler()
	id := cfg.ID
	cfg.Logger = slog.New(&watchHandler{inner: inner, hit: func(msg string) {
		if msg == "Installed remote snapshot" {
			w.mu.Lock()
			w.count[id]++
			w.mu.Unlock()
		}
	}})
}

// watchHandler sees every record from Info up, and passes on to inner
// what inner wants.
type watchHandler struct {
	inner slog.Handler
	hit   func(msg string)
}

func (h *watchHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.inner.Enabled(ctx, l)
}

func (h *watchHandler) Handle(ctx context.Context, rec slog.Record) error {
	h.hit(rec.Message)
	if h.inner.Enabled(ctx, rec.Level) {
		return h.inner.Handle(ctx, rec)
	}
	return nil
}

func (h *watchHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &watchHandler{inner: h.inner.WithAttrs(as), hit: h.hit}
}

func (h *watchHandler) WithGroup(name string) slog.Handler {
	return &watchHandler{inner: h.inner.WithGroup(name), hit: h.hit}
}

func TestSnapshotInstall(t *testing.T) {
	t.Parallel()
	const trailing = 16
	watch := &snapshotWatch{count: map[string]int{}}
	r := newRun(t, runOptions{configure: func(cfg *cluster.Config) {
		cfg.SnapshotThreshold = 64
		cfg.TrailingLogs = trailing
		cfg.SnapshotInterval = 50 * time.Millisecond
		watch.configure(cfg)
	}})
	r.start()
	r.cycles(func(c int) {
		r.waitDecided(warmup, "traffic before the partition")
		f := r.follower(c)
		rest := others(r.h.Members, f)
		installs := watch.installs(f.ID)
		r.park.Disconnect(f)
		from := r.mark()
		r.logf("cycle %d: follower %s cut off", c, f.ID)
		// Wait until both others have dropped, after a snapshot, log
		// entries f lacks: then whichever leads can only catch f up with a
		// snapshot.
		var behind uint64
		clustertest.CheckFor(t, waitLong, 20*time.Millisecond, func() error {
			behind = f.Node().LocalStatus().LastIndex
			for _, m := range rest {
				snaps, err := m.Node().Snapshots()
				if err != nil {
					return err
				}
				if len(snaps) == 0 || snaps[0].Index < behind+1+trailing+1 {
					return fmt.Errorf("%s has no snapshot past %s's last index %d with %d trailing entries", m.ID, f.ID, behind, trailing)
				}
			}
			return nil
		}, "the others to snapshot and compact past %s's log", f.ID)
		var snapIndex uint64
		for _, m := range rest {
			snaps, _ := m.Node().Snapshots()
			snapIndex = max(snapIndex, snaps[0].Index)
		}
		r.waitFailedSince(from, []*clustertest.Member{f}, 1)
		to := r.rec.Now()
		r.park.Heal()
		r.noDecisionsFrom([]*clustertest.Member{f}, from, to, "cut-off follower "+f.ID)
		r.logf("cycle %d: healed; %s's log ends at %d, the others snapshotted at %d", c, f.ID, behind, snapIndex)

		clustertest.CheckFor(t, waitLong, 20*time.Millisecond, func() error {
			if watch.installs(f.ID) == installs {
				return fmt.Errorf("%s has installed no snapshot (applied index %d)", f.ID, f.Node().AppliedIndex())
			}
			return nil
		}, "%s to install a snapshot", f.ID)
		clustertest.CheckFor(t, waitLong, 20*time.Millisecond, func() error {
			if got := f.Node().AppliedIndex(); got < snapIndex {
				return fmt.Errorf("%s applied %d", f.ID, got)
			}
			return nil
		}, "%s to apply past the snapshot's index %d", f.ID, snapIndex)
		r.logf("cycle %d: %s installed a snapshot and applied up to %d", c, f.ID, f.Node().AppliedIndex())
		r.h.WaitLeader(waitLong)
		r.waitDecidedOn(f, perNode)

		// The state f restored answers: tickets used before the cut, and
		// above all while f was cut off (f had never heard of those
		// scans), are used, through f's API (its own state) and through a
		// scan on f.
		before := r.admittedBetween(0, from.at, 5)
		during := r.admittedBetween(from.at, to, 5)
		if len(before) == 0 || len(during) == 0 {
			t.Fatalf("cycle %d: %d tickets admitted before the cut, %d while it lasted; want some of both", c, len(before), len(during))
		}
		used := append(before, during...)
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		if err := f.Node().CatchUp(ctx); err != nil {
			t.Fatalf("%s catching up: %v", f.ID, err)
		}
		cancel()
		for _, idx := range used {
			r.wantUsedVia(f, idx)
			clustertest.CheckFor(t, waitLong, 20*time.Millisecond, func() error {
				resp, err := r.probe(r.member(f), idx)
				if err != nil {
					return err
				}
				if resp.Result != "deny" || resp.Reason != "already_used" {
					t.Errorf("cycle %d: t%d, used before the heal, scanned on %s after its snapshot install: %s %s, want deny already_used", c, idx, f.ID, resp.Result, resp.Reason)
				}
				return nil
			}, "a decision from %s", f.ID)
		}
		r.logf("cycle %d: %d tickets used before the cut and %d used while it lasted read as used on %s and are denied already_used there", c, len(before), len(during), f.ID)
	})
	r.verify()
}
