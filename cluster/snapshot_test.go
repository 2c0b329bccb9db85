// These tests are in the external package because the end-to-end ones use
// cluster/clustertest, which imports cluster: an internal test importing it
// would be an import cycle. They reach the unexported fsm through the
// test-only exports in fsm_test.go (ExportFSM and friends).
package cluster_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/raft"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/cluster/countersm"
)

// restoreMarker is the file Open looks for (node.go: "restore-in-progress").
const restoreMarker = "restore-in-progress"

// memSink is a raft.SnapshotSink that keeps the snapshot in memory.
type memSink struct {
	bytes.Buffer
	failAfter int // fail writes once this many bytes were written; 0: never
	cancelled atomic.Bool
	closed    atomic.Bool
}

func (s *memSink) ID() string { return "mem" }

func (s *memSink) Write(p []byte) (int, error) {
	if s.failAfter > 0 && s.Len()+len(p) > s.failAfter {
		return 0, errDiskFull
	}
	return s.Buffer.Write(p)
}

func (s *memSink) Cancel() error { s.cancelled.Store(true); return nil }
func (s *memSink) Close() error  { s.closed.Store(true); return nil }

var _ raft.SnapshotSink = (*memSink)(nil)

var errDiskFull = errors.New("sink: no space left on device")

// putSM sets and deletes keys: "K=V" sets K, "-K" deletes it.
type putSM struct{}

func (s *putSM) Apply(txn cluster.Txn, e cluster.Entry) ([]byte, error) {
	cmd := string(e.Data)
	if k, ok := strings.CutPrefix(cmd, "-"); ok {
		return nil, txn.Delete([]byte(k))
	}
	k, v, ok := strings.Cut(cmd, "=")
	if !ok || k == "" {
		return nil, fmt.Errorf("bad command %q", cmd)
	}
	return nil, txn.Set([]byte(k), []byte(v))
}

// snapFSM is an fsm over Badger in a fresh directory.
type snapFSM struct {
	*cluster.ExportFSM
	db     *badger.DB
	dir    string
	marker string
	sm     *putSM
	next   uint64 // next log index to apply
}

func newSnapFSM(t testing.TB) *snapFSM {
	t.Helper()
	dir := t.TempDir()
	db, err := badger.Open(badger.DefaultOptions(filepath.Join(dir, "state")).
		WithLogger(nil).WithSyncWrites(false).WithDetectConflicts(false).WithNumVersionsToKeep(1).
		WithMemTableSize(8 << 20).WithValueLogFileSize(16 << 20))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sm := &putSM{}
	marker := filepath.Join(dir, restoreMarker)
	f := cluster.ExportNewFSM(db, sm, marker)
	t.Cleanup(func() { cluster.ExportCloseFSM(f) }) // before Badger closes
	return &snapFSM{ExportFSM: f, db: db, dir: dir, marker: marker, sm: sm, next: 1}
}

// apply applies the commands as one batch at the next indexes.
func (f *snapFSM) apply(t testing.TB, cmds ...string) {
	t.Helper()
	logs := make([]*raft.Log, len(cmds))
	for i, c := range cmds {
		logs[i] = &raft.Log{Index: f.next, Term: 2, Type: raft.LogCommand, Data: cluster.ExportEncodeEnvelope(time.Now(), []byte(c))}
		f.next++
	}
	for i, r := range f.ApplyBatch(logs) {
		if _, err, ok := cluster.ExportResult(r); !ok || err != nil {
			t.Fatalf("apply %q: %v (result %v)", cmds[i], err, r)
		}
	}
	f.flush(t)
}

// flush writes what apply changed to Badger, which the tests read.
func (f *snapFSM) flush(t testing.TB) {
	t.Helper()
	if err := cluster.ExportFlush(f.ExportFSM); err != nil {
		t.Fatal(err)
	}
}

// configuration applies a configuration entry at the next index.
func (f *snapFSM) configuration() {
	f.ApplyBatch([]*raft.Log{{Index: f.next, Term: 2, Type: raft.LogConfiguration}})
	f.next++
	cluster.ExportFlush(f.ExportFSM)
}

func (f *snapFSM) markerPresent(t testing.TB) bool {
	t.Helper()
	_, err := os.Stat(f.marker)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// readAll reads every key and value, the cluster's reserved keys included.
func readAll(t testing.TB, db *badger.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out[string(it.Item().KeyCopy(nil))] = string(v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameState(t testing.TB, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("key %q missing", k)
		} else if g != v {
			t.Errorf("key %q = %q, want %q", k, g, v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected key %q = %q", k, v)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

func appliedIn(t testing.TB, db *badger.DB) uint64 {
	t.Helper()
	idx, err := cluster.ExportLoadAppliedIndex(db)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// trackedReader is the ReadCloser Restore gets; it records Close.
type trackedReader struct {
	io.Reader
	closed bool
}

func (r *trackedReader) Close() error { r.closed = true; return nil }

// persist takes a snapshot of f and persists it into memory.
func persist(t testing.TB, f *snapFSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	return sink.Bytes()
}

func TestSnapshotHoldsStateAsOfSnapshotCall(t *testing.T) {
	src := newSnapFSM(t)
	for b := 0; b < 4; b++ {
		var cmds []string
		for i := 0; i < 50; i++ {
			cmds = append(cmds, fmt.Sprintf("k%03d=v1-%d", b*50+i, b*50+i))
		}
		src.apply(t, cmds...)
	}
	src.configuration() // the index covers configuration entries too
	want := readAll(t, src.db)
	wantIdx := src.next - 1
	if len(want) != 201 || appliedIn(t, src.db) != wantIdx {
		t.Fatalf("source has %d keys at index %d, want 201 at %d", len(want), appliedIn(t, src.db), wantIdx)
	}

	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Raft goes on applying while the snapshot persists: overwrite, delete
	// and add keys before and during Persist.
	var cmds []string
	for i := 0; i < 50; i++ {
		cmds = append(cmds, fmt.Sprintf("k%03d=v2", i))
	}
	src.apply(t, cmds...)
	sink := &memSink{}
	var wg sync.WaitGroup
	var perr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		perr = snap.Persist(sink)
	}()
	for i := 50; i < 60; i++ {
		src.apply(t, fmt.Sprintf("-k%03d", i), fmt.Sprintf("new%03d=x", i))
	}
	wg.Wait()
	snap.Release()
	if perr != nil {
		t.Fatalf("persist: %v", perr)
	}
	if !sink.closed.Load() || sink.cancelled.Load() {
		t.Fatalf("sink closed=%v cancelled=%v, want closed only", sink.closed.Load(), sink.cancelled.Load())
	}
	if _, ok := readAll(t, src.db)["new055"]; !ok {
		t.Fatal("later writes did not reach the source")
	}

	dst := newSnapFSM(t)
	rc := &trackedReader{Reader: bytes.NewReader(sink.Bytes())}
	if err := dst.Restore(rc); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if !rc.closed {
		t.Error("Restore did not close the snapshot reader")
	}
	sameState(t, readAll(t, dst.db), want)
	if got := cluster.ExportApplied(dst.ExportFSM); got != wantIdx {
		t.Fatalf("restored fsm's applied index %d, want %d", got, wantIdx)
	}
	if dst.markerPresent(t) {
		t.Fatal("restore marker left after a successful restore")
	}
	// The state in memory, which apply and reads use, is the restored one.
	if v, err := cluster.ExportGet(dst.ExportFSM, "k000"); err != nil || string(v) != "v1-0" {
		t.Fatalf("in memory after restore: k000 = %q, %v; want v1-0", v, err)
	}
	if _, err := cluster.ExportGet(dst.ExportFSM, "new055"); !errors.Is(err, cluster.ErrNotFound) {
		t.Fatalf("in memory after restore: new055 present (%v); the snapshot predates it", err)
	}

	// The restored fsm skips the entries the snapshot covers and applies
	// the ones after it.
	res := dst.ApplyBatch([]*raft.Log{
		{Index: wantIdx, Term: 2, Type: raft.LogCommand, Data: cluster.ExportEncodeEnvelope(time.Now(), []byte("k000=replayed"))},
		{Index: wantIdx + 1, Term: 2, Type: raft.LogCommand, Data: cluster.ExportEncodeEnvelope(time.Now(), []byte("k000=after"))},
	})
	if res[0] != nil {
		t.Fatalf("entry at the snapshot index was applied again: %v", res[0])
	}
	dst.flush(t)
	if got := readAll(t, dst.db)["k000"]; got != "after" {
		t.Fatalf("k000 = %q after applying past the snapshot, want %q", got, "after")
	}
}

func TestRestoreReplacesPriorState(t *testing.T) {
	src := newSnapFSM(t)
	src.apply(t, "shared=from-snapshot", "only-in-snapshot=1")
	want := readAll(t, src.db)
	stream := persist(t, src)

	dst := newSnapFSM(t)
	// The destination is further along, with other keys: a restore is
	// authoritative all the same.
	dst.next = 100
	dst.apply(t, "shared=old", "only-before-1=x", "only-before-2=y")
	if err := dst.Restore(io.NopCloser(bytes.NewReader(stream))); err != nil {
		t.Fatalf("restore: %v", err)
	}
	sameState(t, readAll(t, dst.db), want)
	if got := appliedIn(t, dst.db); got != 2 {
		t.Fatalf("stored applied index %d after restore, want the snapshot's 2", got)
	}
	if got := cluster.ExportApplied(dst.ExportFSM); got != 2 {
		t.Fatalf("in-memory applied index %d after restore, want the snapshot's 2", got)
	}
	if dst.markerPresent(t) {
		t.Fatal("restore marker left after a successful restore")
	}
}

// snapshotStream builds a stream the way writeSnapshot does, for damaging.
func snapshotStream(kv [][2]string, count uint64) []byte {
	b := []byte("ADMITSNAP1")
	for _, r := range kv {
		b = binary.AppendUvarint(b, uint64(len(r[0])))
		b = append(b, r[0]...)
		b = binary.AppendUvarint(b, uint64(len(r[1])))
		b = append(b, r[1]...)
	}
	b = append(b, 0)
	return binary.AppendUvarint(b, count)
}

func TestRestoreRejectsDamagedStream(t *testing.T) {
	src := newSnapFSM(t)
	for i := 0; i < 20; i++ {
		src.apply(t, fmt.Sprintf("key-%02d=%s", i, strings.Repeat("v", i*7)))
	}
	want := readAll(t, src.db)
	good := persist(t, src)
	// The stream format is what the test expects, so the hand-made damages
	// below are damages to a real stream.
	if !bytes.HasPrefix(good, []byte("ADMITSNAP1")) || good[len(good)-2] != 0 || good[len(good)-1] != byte(len(want)) {
		t.Fatalf("unexpected stream layout: % x ... % x", good[:12], good[len(good)-4:])
	}

	damaged := map[string][]byte{
		"empty":                  {},
		"bad magic":              append([]byte("ADMITSNAP0"), good[10:]...),
		"magic only":             good[:10],
		"short magic":            good[:6],
		"cut after magic+1":      good[:11],
		"cut mid stream":         good[:len(good)/2],
		"no end marker":          good[:len(good)-2],
		"no trailer":             good[:len(good)-1],
		"count too high":         append(append([]byte{}, good[:len(good)-1]...), byte(len(want)+1)),
		"count too low":          append(append([]byte{}, good[:len(good)-1]...), byte(len(want)-1)),
		"huge key length":        binary.AppendUvarint([]byte("ADMITSNAP1"), 1<<40),
		"huge value length":      binary.AppendUvarint(append(binary.AppendUvarint([]byte("ADMITSNAP1"), 1), 'k'), 1<<40),
		"value cut short":        append(binary.AppendUvarint(append(binary.AppendUvarint([]byte("ADMITSNAP1"), 1), 'k'), 10), "abc"...),
		"hand-made, count wrong": snapshotStream([][2]string{{"a", "1"}, {"b", "2"}}, 3),
	}
	// Every cut in the last records and the trailer, too.
	for cut := len(good) - 40; cut < len(good); cut++ {
		damaged[fmt.Sprintf("cut at %d of %d", cut, len(good))] = good[:cut]
	}

	dst := newSnapFSM(t)
	dst.apply(t, "before=1")
	for name, stream := range damaged {
		rc := &trackedReader{Reader: bytes.NewReader(stream)}
		err := dst.Restore(rc)
		if err == nil {
			t.Fatalf("%s: Restore accepted a damaged stream", name)
		}
		if !errors.Is(err, cluster.ExportErrBadSnapshot) {
			t.Errorf("%s: error %v does not match the malformed-snapshot error", name, err)
		}
		if !rc.closed {
			t.Errorf("%s: reader not closed", name)
		}
		if !dst.markerPresent(t) {
			t.Fatalf("%s: restore marker missing after a failed restore; the next start would trust half-restored state", name)
		}
	}

	// A good stream afterwards restores and clears the marker.
	if err := dst.Restore(io.NopCloser(bytes.NewReader(good))); err != nil {
		t.Fatalf("restore after failures: %v", err)
	}
	sameState(t, readAll(t, dst.db), want)
	if dst.markerPresent(t) {
		t.Fatal("restore marker left after a successful restore")
	}

	// A hand-made stream in the same format restores too: the test's idea
	// of the format matches the code's.
	if err := dst.Restore(io.NopCloser(bytes.NewReader(snapshotStream([][2]string{{"a", "1"}, {"b", ""}}, 2)))); err != nil {
		t.Fatalf("restore hand-made stream: %v", err)
	}
	sameState(t, readAll(t, dst.db), map[string]string{"a": "1", "b": ""})
}

func TestPersistCancelsSinkOnWriteError(t *testing.T) {
	src := newSnapFSM(t)
	var cmds []string
	for i := 0; i < 2000; i++ {
		cmds = append(cmds, fmt.Sprintf("key-%04d=%s", i, strings.Repeat("v", 1000)))
	}
	src.apply(t, cmds...)
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	sink := &memSink{failAfter: 64 << 10}
	err = snap.Persist(sink)
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("persist into a failing sink: %v, want the sink's error", err)
	}
	if !sink.cancelled.Load() || sink.closed.Load() {
		t.Fatalf("sink cancelled=%v closed=%v, want cancelled only", sink.cancelled.Load(), sink.closed.Load())
	}
}

// End-to-end: snapshots and restarts through clustertest.

func counterHarness(t *testing.T, configure func(*cluster.Config)) *clustertest.Harness {
	t.Helper()
	return clustertest.New(t, 3, clustertest.Options{
		StateMachine: func(string) cluster.StateMachine { return countersm.Counter{} },
		Configure:    configure,
	})
}

// applyOps applies ops from..to through n (any member: followers forward).
func applyOps(t *testing.T, n *cluster.Node, from, to uint64) {
	t.Helper()
	for op := from; op <= to; op++ {
		if _, err := n.Apply(context.Background(), countersm.Command(op, int64(op))); err != nil {
			t.Fatalf("apply op %d: %v", op, err)
		}
	}
}

// converge commits a no-op through the leader, waits for every running
// member to apply it, and checks they all hold the leader's counter with
// nothing applied twice or out of order. It returns that counter.
func converge(t *testing.T, h *clustertest.Harness, noop uint64) countersm.State {
	t.Helper()
	leader := h.WaitLeader(10 * time.Second)
	if _, err := leader.Node().Apply(context.Background(), countersm.Command(noop, 0)); err != nil {
		t.Fatalf("no-op through the leader: %v", err)
	}
	h.WaitApplied(leader.Node().AppliedIndex(), 10*time.Second)
	want, err := countersm.Read(leader.Node())
	if err != nil {
		t.Fatal(err)
	}
	clustertest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		for _, m := range h.Running() {
			st, err := countersm.Read(m.Node())
			if err != nil {
				return err
			}
			if st.Total != want.Total || st.Ops != want.Ops {
				return fmt.Errorf("%s has total %d over %d ops, leader %d over %d", m.ID, st.Total, st.Ops, want.Total, want.Ops)
			}
			if st.Reapplied != 0 || st.OutOfOrder != 0 {
				return fmt.Errorf("%s re-applied %d entries, %d out of order", m.ID, st.Reapplied, st.OutOfOrder)
			}
		}
		return nil
	}, "members to converge")
	return want
}

// editStoppedState opens a stopped member's Badger and runs fn on it.
func editStoppedState(t *testing.T, m *clustertest.Member, fn func(txn *badger.Txn) error) {
	t.Helper()
	if m.Node() != nil {
		t.Fatalf("%s is running", m.ID)
	}
	db, err := badger.Open(badger.DefaultOptions(filepath.Join(m.Dir, "state")).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		db.Close()
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

var sentinelKey = []byte("zz-test-sentinel")

func hasSentinel(t *testing.T, m *clustertest.Member) bool {
	t.Helper()
	err := m.Node().View(func(r cluster.Reader) error {
		_, err := r.Get(sentinelKey)
		return err
	})
	if err != nil && !errors.Is(err, cluster.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func TestNodeSnapshotThenRestartKeepsState(t *testing.T) {
	h := counterHarness(t, func(c *cluster.Config) { c.TrailingLogs = 20 })
	applyOps(t, h.Running()[0].Node(), 1, 100)
	converge(t, h, 1<<40)
	m := h.Followers()[0]
	info, err := m.Node().Snapshot(context.Background(), "")
	if err != nil {
		t.Fatalf("snapshot %s: %v", m.ID, err)
	}
	if info.Index == 0 || info.Node != m.ID {
		t.Fatalf("snapshot info %+v", info)
	}
	before, err := countersm.Read(m.Node())
	if err != nil {
		t.Fatal(err)
	}

	h.Kill(m)
	// A key outside the replicated state: a restart that restored the
	// snapshot (DropAll) would lose it, one that trusts Badger keeps it.
	editStoppedState(t, m, func(txn *badger.Txn) error { return txn.Set(sentinelKey, []byte("1")) })
	applyOps(t, h.Running()[0].Node(), 101, 120) // the cluster goes on meanwhile
	h.Restart(m)

	if !hasSentinel(t, m) {
		t.Fatal("the restarted node restored its snapshot on start; it should have kept its Badger state")
	}
	if _, err := os.Stat(filepath.Join(m.Dir, restoreMarker)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("restore marker after a clean restart: %v", err)
	}
	st, err := countersm.Read(m.Node())
	if err != nil {
		t.Fatal(err)
	}
	if st.Ops < before.Ops {
		t.Fatalf("restarted %s has %d ops, had %d before the kill", m.ID, st.Ops, before.Ops)
	}
	after := converge(t, h, 1<<41)
	if want := before.Total + (101+120)*20/2; after.Total != want {
		t.Fatalf("total %d after restart, want %d", after.Total, want)
	}
	// A second restart without a new snapshot replays the same log tail
	// onto the same state, and applies nothing twice.
	h.Kill(m)
	h.Restart(m)
	converge(t, h, 1<<42)
}

func TestRestartWithRestoreMarkerRestoresFromSnapshot(t *testing.T) {
	h := counterHarness(t, nil)
	applyOps(t, h.Running()[0].Node(), 1, 60)
	converge(t, h, 1<<40)
	m := h.Followers()[0]
	info, err := m.Node().Snapshot(context.Background(), "")
	if err != nil {
		t.Fatalf("snapshot %s: %v", m.ID, err)
	}
	// Entries after the snapshot: on restart they are replayed from the
	// log onto the restored state.
	applyOps(t, h.Running()[0].Node(), 61, 80)
	converge(t, h, 1<<41)
	if m.Node().AppliedIndex() <= info.Index {
		t.Fatalf("%s applied %d, not past its snapshot at %d", m.ID, m.Node().AppliedIndex(), info.Index)
	}

	h.Kill(m)
	// Pretend the node died in the middle of a restore: its Badger state is
	// half written (a wrong total, a stray key) and the marker is there.
	editStoppedState(t, m, func(txn *badger.Txn) error {
		if err := txn.Set([]byte("counter/total"), binary.BigEndian.AppendUint64(nil, 999999)); err != nil {
			return err
		}
		return txn.Set(sentinelKey, []byte("1"))
	})
	if err := os.WriteFile(filepath.Join(m.Dir, restoreMarker), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h.Restart(m)

	clustertest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if _, err := os.Stat(filepath.Join(m.Dir, restoreMarker)); err == nil {
			return errors.New("marker still present")
		}
		return nil
	}, "the restore marker to go")
	if hasSentinel(t, m) {
		t.Fatal("the stray key survived: the node did not restore from its snapshot")
	}
	converge(t, h, 1<<42)
	st, err := countersm.Read(m.Node())
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(80 * 81 / 2); st.Total != want || st.Ops != 80+3 {
		t.Fatalf("%s after restore: %+v, want total %d over 83 ops", m.ID, st, want)
	}
}
