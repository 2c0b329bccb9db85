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
// marker at markerPath.
func ExportNewFSM(db *badger.DB, sm StateMachine, markerPath string) *ExportFSM {
	return &fsm{db: db, sm: sm, log: slog.New(slog.DiscardHandler), marker: markerPath}
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

func fsmOver(t testing.TB, db *badger.DB, sm StateMachine, dir string) *fsm {
	t.Helper()
	applied, err := loadAppliedIndex(db)
	if err != nil {
		t.Fatalf("load applied index: %v", err)
	}
	f := &fsm{db: db, sm: sm, log: slog.New(slog.DiscardHandler), marker: filepath.Join(dir, "restore-in-progress")}
	f.applied.Store(applied)
	return f
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
//
// It counts its calls and the ErrTxnTooBig errors it passed on, so tests can
// tell that a path was taken.
type kvSM struct {
	calls    atomic.Int64
	tooBig   atomic.Int64
	mu       sync.Mutex
	lastSeen Entry // copy of the last entry applied (Data copied)
}

var errBoom = errors.New("boom: state machine refused the entry")

func (s *kvSM) Apply(txn *badger.Txn, e Entry) ([]byte, error) {
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
			return nil, s.pass(err)
		}
		return fmt.Appendf(nil, "%s=%s@%d", f[1], f[2], e.Index), nil
	case f[0] == "fail" && len(f) == 3:
		if err := txn.Set([]byte(f[1]), []byte(f[2])); err != nil {
			return nil, s.pass(err)
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
				return nil, s.pass(err)
			}
		}
		return fmt.Appendf(nil, "filled %s@%d", f[1], e.Index), nil
	}
	return nil, fmt.Errorf("unknown command %q", e.Data)
}

func (s *kvSM) pass(err error) error {
	if errors.Is(err, badger.ErrTxnTooBig) {
		s.tooBig.Add(1)
	}
	return err
}

func fillValue(prefix string, i, size int) []byte {
	v := make([]byte, size)
	seed := fmt.Sprintf("%s/%d:", prefix, i)
	for j := range v {
		v[j] = seed[j%len(seed)]
	}
	return v
}

// dump reads every key and value, the cluster's reserved keys included.
func dump(t testing.TB, db *badger.DB) map[string]string {
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
		t.Fatalf("read state: %v", err)
	}
	return out
}

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

func wantApplied(t testing.TB, f *fsm, want uint64) {
	t.Helper()
	if got := f.applied.Load(); got != want {
		t.Fatalf("in-memory applied index %d, want %d", got, want)
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

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
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
	wantKey(t, db, "a", "3")
	wantKey(t, db, "b", "2")
	wantKey(t, db, "c", "4")
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
	wantKey(t, f.db, "a", "1")
	wantKey(t, f.db, "b", "2")

	// The single-entry path skips too.
	if r := f.Apply(cmdLog(2, "set b Y")); r != nil {
		t.Fatalf("replayed Apply returned %v", r)
	}
	okResult(t, 0, f.Apply(cmdLog(3, "set b 3")), "b=3@3")
	wantApplied(t, f, 3)
	wantKey(t, f.db, "b", "3")
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
					wantNoKey(t, f.db, k)
				} else {
					wantKey(t, f.db, k, v)
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
	wantNoKey(t, f.db, "x")
	wantNoKey(t, f.db, "y")
	// The entries were decided (rejected); replaying them must not happen.
	wantApplied(t, f, 2)
}

// fillCost is what one Set of key and a value of size bytes counts against
// Badger's transaction size limit.
func fillCost(key string, size int) int64 {
	// Badger counts key + value + 2 meta bytes + 10 version bytes per Set,
	// for values below the value threshold.
	return int64(len(key)+size) + 2 + 10
}

func TestApplyBatchSplitsTransactionTooBig(t *testing.T) {
	sm := &kvSM{}
	f, _ := newTestFSM(t, sm, 1<<20)
	obs := &obsRecorder{}
	f.obs = obs
	const (
		perEntry = 10
		size     = 4000
		entries  = 12
	)
	// About 40 kB an entry against a limit of about 157 kB a transaction:
	// the batch needs four transactions.
	entrySize := perEntry * fillCost("e00/0", size)
	if max := f.db.MaxBatchSize(); entrySize*entries < 3*max || entrySize >= max/2 {
		t.Fatalf("test sizes no longer overflow: entry %d bytes, transaction limit %d", entrySize, max)
	}
	var logs []*raft.Log
	for i := 0; i < entries; i++ {
		logs = append(logs, cmdLog(uint64(10+i), fmt.Sprintf("fill e%02d %d %d", i, perEntry, size)))
	}
	res := f.ApplyBatch(logs)
	if sm.tooBig.Load() == 0 {
		t.Fatal("no transaction overflowed; the test does not exercise the split")
	}
	for i := 0; i < entries; i++ {
		okResult(t, i, res[i], fmt.Sprintf("filled e%02d@%d", i, 10+i))
		for j := 0; j < perEntry; j++ {
			key := fmt.Sprintf("e%02d/%d", i, j)
			wantKey(t, f.db, key, string(fillValue(fmt.Sprintf("e%02d", i), j, size)))
		}
	}
	wantApplied(t, f, 10+entries-1)
	if len(obs.batches) != 1 || obs.batches[0] != entries {
		t.Fatalf("observer saw batches %v, want one of %d entries (retries not counted twice)", obs.batches, entries)
	}
	t.Logf("%d entries, %d transaction overflows, %d state machine calls", entries, sm.tooBig.Load(), sm.calls.Load())
}

func TestApplyBatchEntryTooBigAloneIsRejected(t *testing.T) {
	sm := &kvSM{}
	f, _ := newTestFSM(t, sm, 1<<20)
	// "huge" writes about 200 kB, more than a whole transaction holds.
	if need := 50 * fillCost("huge/0", 4000); need <= f.db.MaxBatchSize() {
		t.Fatalf("huge entry (%d bytes) fits a transaction (%d)", need, f.db.MaxBatchSize())
	}
	logs := []*raft.Log{
		cmdLog(1, "fill a 10 4000"),
		cmdLog(2, "fill b 10 4000"),
		cmdLog(3, "fill huge 50 4000"),
		cmdLog(4, "fill c 10 4000"),
		cmdLog(5, "set d 5"),
	}
	res := f.ApplyBatch(logs)
	okResult(t, 0, res[0], "filled a@1")
	okResult(t, 1, res[1], "filled b@2")
	rejected(t, 2, res[2], badger.ErrTxnTooBig)
	okResult(t, 3, res[3], "filled c@4")
	okResult(t, 4, res[4], "d=5@5")
	for _, p := range []string{"a", "b", "c"} {
		for j := 0; j < 10; j++ {
			wantKey(t, f.db, fmt.Sprintf("%s/%d", p, j), string(fillValue(p, j, 4000)))
		}
	}
	for j := 0; j < 50; j++ {
		wantNoKey(t, f.db, fmt.Sprintf("huge/%d", j))
	}
	wantKey(t, f.db, "d", "5")
	wantApplied(t, f, 5)

	// Alone in its batch, too.
	res = f.ApplyBatch([]*raft.Log{cmdLog(6, "fill huge 50 4000")})
	rejected(t, 0, res[0], badger.ErrTxnTooBig)
	wantNoKey(t, f.db, "huge/0")
	wantApplied(t, f, 6)
}

// TestApplyBatchOverflowLeavesRoomForAppliedIndex covers a transaction that
// the state machine fills to within 36 bytes (or one entry) of Badger's
// limit: the fsm must still record the applied index in it, or split it
// before. (It once panicked there.)
func TestApplyBatchOverflowLeavesRoomForAppliedIndex(t *testing.T) {
	t.Run("entry count", func(t *testing.T) {
		// Entries of one Set each: Badger refuses the Set that would make
		// the count reach MaxBatchCount, so the transaction that overflows
		// holds MaxBatchCount-1 writes and has no slot for the index.
		f, _ := newTestFSM(t, &kvSM{}, 1<<20)
		n := int(f.db.MaxBatchCount()) + 10
		logs := make([]*raft.Log, n)
		for i := range logs {
			logs[i] = cmdLog(uint64(i+1), fmt.Sprintf("set k%05d v", i))
		}
		res := applyNoPanic(t, f, logs)
		for i := range logs {
			okResult(t, i, res[i], fmt.Sprintf("k%05d=v@%d", i, i+1))
		}
		wantApplied(t, f, uint64(n))
	})
	t.Run("bytes", func(t *testing.T) {
		// Four entries fill the transaction to within a few bytes of
		// MaxBatchSize; the fifth overflows it.
		f, _ := newTestFSM(t, &kvSM{}, 1<<20)
		// A transaction starts with txnBase bytes counted for Badger's
		// own commit marker ("!badger!txn" plus 10).
		const txnBase = 21
		max := f.db.MaxBatchSize() - txnBase
		size := int((max-1)/4) - int(fillCost("p0/0", 0))
		// The applied index Set counts 16 + 8 + 2 + 10 = 36 bytes.
		if room := max - 4*fillCost("p0/0", size); room <= 0 || room > 36 {
			t.Fatalf("room left %d; test sizes are off", room)
		}
		var logs []*raft.Log
		for i := 0; i < 5; i++ {
			logs = append(logs, cmdLog(uint64(i+1), fmt.Sprintf("fill p%d 1 %d", i, size)))
		}
		res := applyNoPanic(t, f, logs)
		for i := range logs {
			okResult(t, i, res[i], fmt.Sprintf("filled p%d@%d", i, i+1))
		}
		wantApplied(t, f, 5)
	})
	t.Run("batch ends with a full transaction", func(t *testing.T) {
		// No entry overflows: the last one takes the last slot, and the
		// commit at the end of the batch has none for the index.
		f, _ := newTestFSM(t, &kvSM{}, 1<<20)
		n := int(f.db.MaxBatchCount()) - 2 // the transaction's own marker takes one
		logs := make([]*raft.Log, n)
		for i := range logs {
			logs[i] = cmdLog(uint64(i+1), fmt.Sprintf("set k%05d v", i))
		}
		res := applyNoPanic(t, f, logs)
		for i := range logs {
			okResult(t, i, res[i], fmt.Sprintf("k%05d=v@%d", i, i+1))
		}
		wantApplied(t, f, uint64(n))
	})
	t.Run("one entry fills the transaction", func(t *testing.T) {
		// One command whose writes fit, but leave less than the index
		// needs. State and index must share a transaction, so the command
		// is rejected (the same way on every replica) and only its index
		// is recorded; it once panicked every replica at every restart.
		f, _ := newTestFSM(t, &kvSM{}, 1<<20)
		const txnBase = 21
		max := f.db.MaxBatchSize() - txnBase
		size := int((max-1)/4) - int(fillCost("p/0", 0))
		if room := max - 4*fillCost("p/0", size); room <= 0 || room > 36 {
			t.Fatalf("room left %d; test sizes are off", room)
		}
		res := applyNoPanic(t, f, []*raft.Log{cmdLog(1, fmt.Sprintf("fill p 4 %d", size))})
		rejected(t, 0, res[0], badger.ErrTxnTooBig)
		wantNoKey(t, f.db, "p/0")
		wantApplied(t, f, 1)
	})
}

func applyNoPanic(t *testing.T, f *fsm, logs []*raft.Log) (res []any) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("ApplyBatch panicked: %v", p)
		}
	}()
	return f.ApplyBatch(logs)
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
	wantNoKey(t, f.db, "z")
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
