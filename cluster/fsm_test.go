package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/raft"
)

// Test-only exports for the external test package cluster_test
// (snapshot_test.go, tls_test.go). Those tests must be external because
// cluster/clustertest imports cluster, and an internal test importing it is
// an import cycle. These identifiers exist only in test builds.
type ExportFSM = fsm

// ExportNewFSM builds an fsm over db the way Open does, with its restore
// marker at markerPath. Close it with ExportCloseFSM.
func ExportNewFSM(db *badger.DB, sm StateMachine, markerPath string) *ExportFSM {
	applied, err := loadAppliedIndex(db)
	if err != nil {
		panic(err)
	}
	st, err := loadState(db, sm)
	if err != nil {
		panic(err)
	}
	log := slog.New(slog.DiscardHandler)
	f := &fsm{db: db, state: st, sm: sm, log: log, marker: markerPath,
		flush: newFlusher(db, log, 10*time.Millisecond, 16, applied)}
	f.flush.persists = st.persists
	f.applied.Store(applied)
	return f
}

// ExportCloseFSM writes what is pending to Badger and stops the flusher.
func ExportCloseFSM(f *ExportFSM) error { return f.flush.close() }

// ExportCrashFSM stops the flusher without writing what is pending, as a
// crash of the process would; the caller then closes Badger.
func ExportCrashFSM(f *ExportFSM) { f.flush.abandon() }

// ExportPersisted is the applied index Badger holds.
func ExportPersisted(f *ExportFSM) uint64 { return f.flush.persisted.Load() }

// ExportFlush writes what is pending to Badger and syncs it.
func ExportFlush(f *ExportFSM) error { return f.flush.sync() }

// ExportGet reads the fsm's in-memory state.
func ExportGet(f *ExportFSM, key string) ([]byte, error) {
	f.state.mu.RLock()
	defer f.state.mu.RUnlock()
	return f.state.get([]byte(key))
}

// ExportApplied is the fsm's in-memory applied index.
func ExportApplied(f *ExportFSM) uint64 { return f.applied.Load() }

var (
	ExportEncodeEnvelope   = encodeEnvelope
	ExportLoadAppliedIndex = loadAppliedIndex
	ExportErrBadSnapshot   = errBadSnapshot
)

// ExportResult unpacks what ApplyBatch returned for one entry. ok is false
// for entries that produced no result (replayed or configuration entries).
func ExportResult(r any) (data []byte, err error, ok bool) {
	ar, ok := r.(applyResult)
	return ar.data, ar.err, ok
}

// testDBOptions are the options Open uses, with a small memtable (and so a
// small maximum transaction) so tests stay light, and with value-log files
// small enough for t.TempDir().
func testDBOptions(dir string, memTable int64) badger.Options {
	return badger.DefaultOptions(dir).
		WithLogger(nil).
		WithSyncWrites(false).
		WithDetectConflicts(false).
		WithNumVersionsToKeep(1).
		WithMemTableSize(memTable).
		// The value threshold may not exceed the maximum transaction size,
		// which is 15% of the memtable.
		WithValueThreshold(min(1<<20, 15*memTable/100/2)).
		WithValueLogFileSize(16 << 20)
}

func openTestDB(t testing.TB, dir string, memTable int64) *badger.DB {
	t.Helper()
	db, err := badger.Open(testDBOptions(dir, memTable))
	if err != nil {
		t.Fatalf("open badger in %s: %v", dir, err)
	}
	return db
}

// newTestFSM opens Badger in a fresh directory and returns an fsm over it,
// with the applied index loaded as Open loads it. The database is closed at
// test cleanup unless the test closed it.
func newTestFSM(t testing.TB, sm StateMachine, memTable int64) (*fsm, string) {
	t.Helper()
	dir := t.TempDir()
	db := openTestDB(t, filepath.Join(dir, "state"), memTable)
	t.Cleanup(func() {
		if !db.IsClosed() {
			db.Close()
		}
	})
	return fsmOver(t, db, sm, dir), dir
}

// fsmOver builds an fsm over db as Open does: the state loaded from db, a
// flusher writing behind. The flusher is closed at cleanup; a test that
// closes db first calls closeFSM.
func fsmOver(t testing.TB, db *badger.DB, sm StateMachine, dir string) *fsm {
	t.Helper()
	f := ExportNewFSM(db, sm, filepath.Join(dir, "restore-in-progress"))
	t.Cleanup(func() {
		if !db.IsClosed() {
			f.flush.close()
		}
	})
	return f
}

// closeFSM writes what is pending and closes Badger, as Close does.
func closeFSM(t testing.TB, f *fsm) {
	t.Helper()
	if err := f.flush.close(); err != nil {
		t.Fatal(err)
	}
	if err := f.db.Close(); err != nil {
		t.Fatal(err)
	}
}

var testTime = time.Date(2026, 7, 1, 9, 30, 0, 0, time.UTC)

func cmdLog(index uint64, cmd string) *raft.Log {
	return &raft.Log{Index: index, Term: 3, Type: raft.LogCommand, Data: encodeEnvelope(testTime, []byte(cmd))}
}

func configLog(index uint64) *raft.Log {
	return &raft.Log{Index: index, Term: 3, Type: raft.LogConfiguration, Data: []byte("not an envelope")}
}

// kvSM is a small state machine over text commands:
//
//	set K V      sets K to V; result "K=V@index"
//	fail K V     sets K to V, then fails with errBoom
//	fill P N S   sets P/0 .. P/N-1 to values of S bytes; result "filled P@index"
//	add K N      adds N to the number at K; result the new number
//
// It counts its calls.
type kvSM struct {
	calls    atomic.Int64
	mu       sync.Mutex
	lastSeen Entry // copy of the last entry applied (Data copied)
}

var errBoom = errors.New("boom: state machine refused the entry")

func (s *kvSM) Apply(txn Txn, e Entry) ([]byte, error) {
	s.calls.Add(1)
	s.mu.Lock()
	s.lastSeen = Entry{Index: e.Index, Term: e.Term, Time: e.Time, Data: append([]byte(nil), e.Data...)}
	s.mu.Unlock()
	f := strings.Fields(string(e.Data))
	if len(f) == 0 {
		return nil, errors.New("empty command")
	}
	switch {
	case f[0] == "set" && len(f) == 3:
		if err := txn.Set([]byte(f[1]), []byte(f[2])); err != nil {
			return nil, err
		}
		return fmt.Appendf(nil, "%s=%s@%d", f[1], f[2], e.Index), nil
	case f[0] == "fail" && len(f) == 3:
		if err := txn.Set([]byte(f[1]), []byte(f[2])); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("entry %d: %w", e.Index, errBoom)
	case f[0] == "fill" && len(f) == 4:
		n, err1 := strconv.Atoi(f[2])
		size, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil {
			return nil, errors.New("bad fill command")
		}
		for i := 0; i < n; i++ {
			if err := txn.Set(fmt.Appendf(nil, "%s/%d", f[1], i), fillValue(f[1], i, size)); err != nil {
				return nil, err
			}
		}
		return fmt.Appendf(nil, "filled %s@%d", f[1], e.Index), nil
	case f[0] == "add" && len(f) == 3:
		n, err := strconv.Atoi(f[2])
		if err != nil {
			return nil, err
		}
		old := 0
		if v, err := txn.Get([]byte(f[1])); err == nil {
			old, _ = strconv.Atoi(string(v))
		} else if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		v := strconv.AppendInt(nil, int64(old+n), 10)
		if err := txn.Set([]byte(f[1]), v); err != nil {
			return nil, err
		}
		return v, nil
	}
	return nil, fmt.Errorf("unknown command %q", e.Data)
}

func fillValue(prefix string, i, size int) []byte {
	v := make([]byte, size)
	seed := fmt.Sprintf("%s/%d:", prefix, i)
	for j := range v {
		v[j] = seed[j%len(seed)]
	}
	return v
}

// flushed writes what f holds in memory only to Badger and returns it.
func flushed(t testing.TB, f *fsm) *badger.DB {
	t.Helper()
	if err := f.flush.sync(); err != nil {
		t.Fatal(err)
	}
	return f.db
}

// getKey reads key from Badger: what is on disk. Tests flush first.
func getKey(t testing.TB, db *badger.DB, key string) (string, bool) {
	t.Helper()
	var v []byte
	err := db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(key))
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return "", false
	}
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	return string(v), true
}

func wantKey(t testing.TB, db *badger.DB, key, want string) {
	t.Helper()
	got, ok := getKey(t, db, key)
	if !ok {
		t.Fatalf("key %q missing, want %q", key, want)
	}
	if got != want {
		t.Fatalf("key %q = %q, want %q", key, got, want)
	}
}

func wantNoKey(t testing.TB, db *badger.DB, key string) {
	t.Helper()
	if got, ok := getKey(t, db, key); ok {
		t.Fatalf("key %q = %q, want it absent", key, got)
	}
}

// wantApplied checks the applied index in memory, then flushes and checks
// the one on disk.
func wantApplied(t testing.TB, f *fsm, want uint64) {
	t.Helper()
	if got := f.applied.Load(); got != want {
		t.Fatalf("in-memory applied index %d, want %d", got, want)
	}
	if err := f.flush.sync(); err != nil {
		t.Fatal(err)
	}
	got, err := loadAppliedIndex(f.db)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("stored applied index %d, want %d", got, want)
	}
}

// okResult checks that r is a successful result with data want.
func okResult(t testing.TB, i int, r any, want string) {
	t.Helper()
	ar, ok := r.(applyResult)
	if !ok {
		t.Fatalf("result %d is %T (%v), want applyResult", i, r, r)
	}
	if ar.err != nil {
		t.Fatalf("result %d: unexpected error %v", i, ar.err)
	}
	if string(ar.data) != want {
		t.Fatalf("result %d = %q, want %q", i, ar.data, want)
	}
}

// rejected checks that r is a rejection matching ErrRejected and every cause.
func rejected(t testing.TB, i int, r any, causes ...error) {
	t.Helper()
	ar, ok := r.(applyResult)
	if !ok {
		t.Fatalf("result %d is %T (%v), want applyResult", i, r, r)
	}
	if ar.err == nil {
		t.Fatalf("result %d succeeded with %q, want a rejection", i, ar.data)
	}
	if !errors.Is(ar.err, ErrRejected) {
		t.Fatalf("result %d: error %v does not match ErrRejected", i, ar.err)
	}
	for _, c := range causes {
		if !errors.Is(ar.err, c) {
			t.Fatalf("result %d: error %v does not match %v", i, ar.err, c)
		}
	}
	if ar.data != nil {
		t.Fatalf("result %d: rejected entry has data %q", i, ar.data)
	}
}

// flushRecorder counts flushes.
type flushRecorder struct{ n atomic.Int64 }

func (r *flushRecorder) observeFlush(keys, bytes int, d time.Duration) { r.n.Add(1) }
func (r *flushRecorder) observeFlushWait(time.Duration)                {}
func (r *flushRecorder) count() int                                    { return int(r.n.Load()) }

// obsRecorder records what the fsm reports to its observer.
type obsRecorder struct {
	batches []int
}

func (o *obsRecorder) observeApply(entries int, d time.Duration) {
	o.batches = append(o.batches, entries)
}

func TestApplyBatchAppliedIndexSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	db := openTestDB(t, stateDir, 8<<20)
	sm := &kvSM{}
	f := fsmOver(t, db, sm, dir)
	if f.applied.Load() != 0 {
		t.Fatalf("fresh state has applied index %d", f.applied.Load())
	}

	res := f.ApplyBatch([]*raft.Log{cmdLog(1, "set a 1"), cmdLog(2, "set b 2"), cmdLog(3, "set a 3")})
	if len(res) != 3 {
		t.Fatalf("%d results for 3 entries", len(res))
	}
	okResult(t, 0, res[0], "a=1@1")
	okResult(t, 1, res[1], "b=2@2")
	okResult(t, 2, res[2], "a=3@3") // sees its own batch's writes
	wantApplied(t, f, 3)

	// The entry the state machine saw carries the envelope's leader time,
	// the index and the term.
	sm.mu.Lock()
	last := sm.lastSeen
	sm.mu.Unlock()
	if last.Index != 3 || last.Term != 3 || !last.Time.Equal(testTime) || string(last.Data) != "set a 3" {
		t.Fatalf("state machine saw %+v", last)
	}

	closeFSM(t, f)
	db = openTestDB(t, stateDir, 8<<20)
	defer db.Close()
	idx, err := loadAppliedIndex(db)
	if err != nil {
		t.Fatal(err)
	}
	if idx != 3 {
		t.Fatalf("applied index after reopen = %d, want 3", idx)
	}
	wantKey(t, db, "a", "3")
	wantKey(t, db, "b", "2")

	// A restart replays the log from before the applied index: those
	// entries are skipped, later ones applied.
	sm2 := &kvSM{}
	f = fsmOver(t, db, sm2, dir)
	res = f.ApplyBatch([]*raft.Log{
		cmdLog(2, "set b REPLAYED"), cmdLog(3, "set a REPLAYED"), cmdLog(4, "set c 4"),
	})
	if res[0] != nil || res[1] != nil {
		t.Fatalf("replayed entries returned %v and %v, want nil", res[0], res[1])
	}
	okResult(t, 2, res[2], "c=4@4")
	if n := sm2.calls.Load(); n != 1 {
		t.Fatalf("state machine called %d times, want once (replayed entries skipped)", n)
	}
	wantKey(t, flushed(t, f), "a", "3")
	wantKey(t, flushed(t, f), "b", "2")
	wantKey(t, flushed(t, f), "c", "4")
	wantApplied(t, f, 4)
}

func TestApplyBatchSkipsReplayedEntries(t *testing.T) {
	sm := &kvSM{}
	f, _ := newTestFSM(t, sm, 8<<20)
	f.ApplyBatch([]*raft.Log{cmdLog(1, "set a 1"), cmdLog(2, "set b 2")})

	// A batch entirely at or below the applied index changes nothing, not
	// even the applied index.
	before := sm.calls.Load()
	res := f.ApplyBatch([]*raft.Log{cmdLog(1, "set a X"), cmdLog(2, "set b X")})
	for i, r := range res {
		if r != nil {
			t.Fatalf("replayed entry %d returned %v, want nil", i, r)
		}
	}
	if sm.calls.Load() != before {
		t.Fatal("state machine called for replayed entries")
	}
	wantApplied(t, f, 2)
	wantKey(t, flushed(t, f), "a", "1")
	wantKey(t, flushed(t, f), "b", "2")

	// The single-entry path skips too.
	if r := f.Apply(cmdLog(2, "set b Y")); r != nil {
		t.Fatalf("replayed Apply returned %v", r)
	}
	okResult(t, 0, f.Apply(cmdLog(3, "set b 3")), "b=3@3")
	wantApplied(t, f, 3)
	wantKey(t, flushed(t, f), "b", "3")
}

func TestApplyBatchRejectedEntryKeepsNeighbours(t *testing.T) {
	cases := []struct {
		name string
		cmds []string
		keys map[string]string // expected afterwards; "" means absent
	}{
		{"middle", []string{"set a 1", "fail x 9", "set b 2"}, map[string]string{"a": "1", "b": "2", "x": ""}},
		{"first", []string{"fail x 9", "set a 1", "set b 2"}, map[string]string{"a": "1", "b": "2", "x": ""}},
		{"last", []string{"set a 1", "set b 2", "fail x 9"}, map[string]string{"a": "1", "b": "2", "x": ""}},
		// The failing entry overwrote a key an earlier entry of the batch
		// wrote: the earlier value stays.
		{"overwrites earlier", []string{"set a 1", "fail a 9", "set b 2"}, map[string]string{"a": "1", "b": "2"}},
		{"two failures", []string{"set a 1", "fail x 9", "fail y 9", "set b 2", "fail z 9", "set c 3"},
			map[string]string{"a": "1", "b": "2", "c": "3", "x": "", "y": "", "z": ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := newTestFSM(t, &kvSM{}, 8<<20)
			var logs []*raft.Log
			for i, c := range tc.cmds {
				logs = append(logs, cmdLog(uint64(i+1), c))
			}
			res := f.ApplyBatch(logs)
			for i, c := range tc.cmds {
				if strings.HasPrefix(c, "fail") {
					rejected(t, i, res[i], errBoom)
					// The state machine's own message is kept.
					_, err, _ := ExportResult(res[i])
					if !strings.Contains(err.Error(), fmt.Sprintf("entry %d", i+1)) {
						t.Fatalf("rejection %q lost the state machine's message", err)
					}
					continue
				}
				fs := strings.Fields(c)
				okResult(t, i, res[i], fmt.Sprintf("%s=%s@%d", fs[1], fs[2], i+1))
			}
			for k, v := range tc.keys {
				if v == "" {
					wantNoKey(t, flushed(t, f), k)
				} else {
					wantKey(t, flushed(t, f), k, v)
				}
			}
			wantApplied(t, f, uint64(len(tc.cmds)))
		})
	}
}

func TestApplyBatchOnlyRejectedEntriesStillAdvanceIndex(t *testing.T) {
	f, _ := newTestFSM(t, &kvSM{}, 8<<20)
	res := f.ApplyBatch([]*raft.Log{cmdLog(1, "fail x 1"), cmdLog(2, "fail y 2")})
	rejected(t, 0, res[0], errBoom)
	rejected(t, 1, res[1], errBoom)
	wantNoKey(t, flushed(t, f), "x")
	wantNoKey(t, flushed(t, f), "y")
	// The entries were decided (rejected); replaying them must not happen.
	wantApplied(t, f, 2)
}

func TestApplyBatchWritesBigBatchesInSegments(t *testing.T) {
	f, _ := newTestFSM(t, &kvSM{}, 64<<20)
	obs := &flushRecorder{}
	f.flush.obs = obs
	// 12 MB over three entries: more than one flush segment (4 MB), each
	// entry within what one entry may write.
	res := f.ApplyBatch([]*raft.Log{cmdLog(1, "fill p 1000 4000"), cmdLog(2, "fill q 1000 4000"), cmdLog(3, "fill r 1000 4000")})
	for i, r := range res {
		okResult(t, i, r, fmt.Sprintf("filled %s@%d", []string{"p", "q", "r"}[i], i+1))
	}
	wantApplied(t, f, 3)
	for _, p := range []string{"p", "q", "r"} {
		for _, i := range []int{0, 999} {
			wantKey(t, flushed(t, f), fmt.Sprintf("%s/%d", p, i), string(fillValue(p, i, 4000)))
		}
	}
	if n := obs.count(); n < 2 {
		t.Fatalf("%d flushes for 12 MB, want the writes split in segments", n)
	}
}

func TestApplyBatchEntryTooBigAloneIsRejected(t *testing.T) {
	f, _ := newTestFSM(t, &kvSM{}, 64<<20)
	res := f.ApplyBatch([]*raft.Log{
		cmdLog(1, "set a 1"),
		cmdLog(2, fmt.Sprintf("fill big %d 16", maxEntryWriteKeys+1)), // too many keys
		cmdLog(3, fmt.Sprintf("fill huge 2 %d", maxEntryWriteBytes)),  // too many bytes
		cmdLog(4, "set b 4"),
	})
	okResult(t, 0, res[0], "a=1@1")
	rejected(t, 1, res[1], ErrTooLarge)
	rejected(t, 2, res[2], ErrTooLarge)
	okResult(t, 3, res[3], "b=4@4")
	wantApplied(t, f, 4)
	wantNoKey(t, flushed(t, f), "big/0")
	wantNoKey(t, flushed(t, f), "huge/0")
	if _, err := ExportGet(f, "big/0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rejected entry's write is in memory: %v", err)
	}
	wantKey(t, flushed(t, f), "b", "4")
}

func TestApplyBatchConfigurationAndMalformedEntries(t *testing.T) {
	sm := &kvSM{}
	f, _ := newTestFSM(t, sm, 8<<20)
	obs := &obsRecorder{}
	f.obs = obs

	wrongKind := encodeEnvelope(testTime, []byte("set z 1"))
	wrongKind[0] = 2
	logs := []*raft.Log{
		cmdLog(1, "set a 1"),
		configLog(2),
		{Index: 3, Term: 3, Type: raft.LogCommand, Data: []byte("garbage")}, // shorter than the header
		cmdLog(4, "set b 4"),
		{Index: 5, Term: 3, Type: raft.LogCommand, Data: nil},
		{Index: 6, Term: 3, Type: raft.LogCommand, Data: wrongKind},
		configLog(7),
		cmdLog(8, "set c 8"),
		configLog(9),
	}
	res := f.ApplyBatch(logs)
	okResult(t, 0, res[0], "a=1@1")
	if res[1] != nil || res[6] != nil || res[8] != nil {
		t.Fatalf("configuration entries returned %v, %v, %v; want nil", res[1], res[6], res[8])
	}
	for _, i := range []int{2, 4, 5} {
		rejected(t, i, res[i])
		_, err, _ := ExportResult(res[i])
		if !strings.Contains(err.Error(), "malformed") {
			t.Fatalf("result %d: %v, want a malformed-envelope rejection", i, err)
		}
	}
	okResult(t, 3, res[3], "b=4@4")
	okResult(t, 7, res[7], "c=8@8")
	wantNoKey(t, flushed(t, f), "z")
	// The batch ends with a configuration entry: the index covers it.
	wantApplied(t, f, 9)
	if n := sm.calls.Load(); n != 3 {
		t.Fatalf("state machine called %d times, want 3", n)
	}

	// A batch of configuration entries only moves the index.
	res = f.ApplyBatch([]*raft.Log{configLog(10), configLog(11)})
	if res[0] != nil || res[1] != nil {
		t.Fatalf("configuration entries returned %v", res)
	}
	wantApplied(t, f, 11)
	if n := sm.calls.Load(); n != 3 {
		t.Fatalf("state machine called for configuration entries (%d calls)", n)
	}
	// Six command entries in the first batch (malformed ones included), no
	// observation for a batch without commands.
	if len(obs.batches) != 1 || obs.batches[0] != 6 {
		t.Fatalf("observer saw %v, want [6]", obs.batches)
	}

	// A configuration entry at the applied index is a replay and changes
	// nothing either.
	f.ApplyBatch([]*raft.Log{configLog(11)})
	wantApplied(t, f, 11)
}

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, cmd := range [][]byte{nil, {}, []byte("x"), make([]byte, 1<<16)} {
		ts, got, err := decodeEnvelope(encodeEnvelope(testTime, cmd))
		if err != nil {
			t.Fatal(err)
		}
		if !ts.Equal(testTime) || ts.Location() != time.UTC {
			t.Fatalf("time %v, want %v in UTC", ts, testTime)
		}
		if string(got) != string(cmd) {
			t.Fatalf("command of %d bytes came back as %d bytes", len(cmd), len(got))
		}
	}
	for _, b := range [][]byte{nil, {1}, {1, 2, 3, 4, 5, 6, 7, 8}, {2, 0, 0, 0, 0, 0, 0, 0, 0}} {
		if _, _, err := decodeEnvelope(b); err == nil {
			t.Fatalf("decodeEnvelope(%v) accepted a malformed envelope", b)
		}
	}
}
