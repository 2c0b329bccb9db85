package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/raft"
)

// sumLog is a log of "add sum D" entries; deltas[i] is entry i+1's.
type sumLog struct{ deltas, sums []int }

func newSumLog(n int, seed uint64) sumLog {
	r := rand.New(rand.NewPCG(seed, 1))
	l := sumLog{deltas: make([]int, n), sums: make([]int, n+1)}
	for i := range l.deltas {
		l.deltas[i] = r.IntN(100) + 1
		l.sums[i+1] = l.sums[i] + l.deltas[i]
	}
	return l
}

func (l sumLog) entry(i int) *raft.Log { // i from 1
	return cmdLog(uint64(i), fmt.Sprintf("add sum %d", l.deltas[i-1]))
}

// sumAt is the value of "sum" once entries 1..index are applied.
func (l sumLog) sumAt(index uint64) int { return l.sums[index] }

// diskSum reads, in one Badger read transaction, the applied index and
// "sum" as they are on disk.
func diskSum(db *badger.DB) (index uint64, sum int, err error) {
	err = db.View(func(txn *badger.Txn) error {
		if item, err := txn.Get(appliedKey); err == nil {
			if err := item.Value(func(v []byte) error { index = binary.BigEndian.Uint64(v); return nil }); err != nil {
				return err
			}
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		item, err := txn.Get([]byte("sum"))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { sum, err = strconv.Atoi(string(v)); return err })
	})
	return index, sum, err
}

// Whatever Badger holds at any moment, its applied index and its state
// belong together: a reader never sees an index ahead of the state or a
// state ahead of the index. A node killed in the middle of a flush comes
// back with one of these states, so this is what makes its replay exact.
func TestFlushNeverSeparatesIndexFromState(t *testing.T) {
	dir := t.TempDir()
	db := openTestDB(t, filepath.Join(dir, "state"), 64<<20)
	defer db.Close()
	f := fsmOver(t, db, &kvSM{}, dir)
	f.flush.close()
	f.flush = newFlusher(db, f.log, time.Millisecond, 16, 0) // many small flushes
	const n = 20000
	l := newSumLog(n, 7)

	var stop atomic.Bool
	var wg sync.WaitGroup
	var checks, distinct atomic.Int64
	var bad atomic.Value
	wg.Go(func() {
		last := uint64(0)
		for !stop.Load() {
			idx, sum, err := diskSum(db)
			if err != nil {
				bad.Store(err.Error())
				return
			}
			if want := l.sumAt(idx); sum != want {
				bad.Store(fmt.Sprintf("on disk: applied index %d with sum %d; the state at index %d has sum %d", idx, sum, idx, want))
				return
			}
			checks.Add(1)
			if idx != last {
				distinct.Add(1)
				last = idx
			}
		}
	})
	r := rand.New(rand.NewPCG(3, 4))
	batches := 0
	for i := 1; i <= n; {
		var batch []*raft.Log
		for k := r.IntN(8) + 1; k > 0 && i <= n; k-- {
			batch = append(batch, l.entry(i))
			i++
		}
		f.ApplyBatch(batch)
		if batches++; batches%40 == 0 { // seal often: many segments, written while the reader reads
			f.flush.mu.Lock()
			f.flush.sealLocked()
			f.flush.mu.Unlock()
		}
		runtime.Gosched() // let the reader and the flusher in, as raft's pauses do
	}
	wantApplied(t, f, n)
	stop.Store(true)
	wg.Wait()
	if msg := bad.Load(); msg != nil {
		t.Fatal(msg)
	}
	idx, sum, err := diskSum(db)
	if err != nil || idx != n || sum != l.sumAt(n) {
		t.Fatalf("after the last flush: index %d sum %d (%v), want %d and %d", idx, sum, err, n, l.sumAt(n))
	}
	t.Logf("%d consistent reads of the disk state at %d distinct applied indexes", checks.Load(), distinct.Load())
	if distinct.Load() < 5 {
		t.Fatal("the reader saw fewer than five flushed states: the test proved little")
	}
}

// A node killed after apply and before the flush (or between flushes)
// restarts from what Badger holds and replays the log after it: every
// entry counts exactly once, and the results of replayed entries are the
// ones the first run gave.
func TestCrashBeforeFlushReplaysExactlyOnce(t *testing.T) {
	for _, crashAt := range []int{1, 57, 400, 999, 1000} {
		t.Run(fmt.Sprint("crash after ", crashAt), func(t *testing.T) {
			dir := t.TempDir()
			stateDir := filepath.Join(dir, "state")
			const n = 1000
			l := newSumLog(n, uint64(crashAt))
			db := openTestDB(t, stateDir, 64<<20)
			f := fsmOver(t, db, &kvSM{}, dir)
			first := map[uint64]string{}
			for i := 1; i <= crashAt; i++ {
				res := f.ApplyBatch([]*raft.Log{l.entry(i)})
				data, err, _ := ExportResult(res[0])
				if err != nil {
					t.Fatal(err)
				}
				first[uint64(i)] = string(data)
				if i == crashAt/2 {
					f.flush.sync() // part of the run reaches the disk
				}
			}
			persisted := f.flush.persisted.Load()
			f.flush.abandon()
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if persisted >= uint64(crashAt) && crashAt > 1 {
				t.Logf("everything was flushed before the crash (persisted %d)", persisted)
			}

			db = openTestDB(t, stateDir, 64<<20)
			defer db.Close()
			sm := &kvSM{}
			f = fsmOver(t, db, sm, dir)
			back := f.applied.Load()
			if back > uint64(crashAt) {
				t.Fatalf("restarted at index %d, beyond the %d entries applied", back, crashAt)
			}
			// Raft replays its log from the start (no snapshot here).
			for i := 1; i <= n; i++ {
				res := f.ApplyBatch([]*raft.Log{l.entry(i)})
				if uint64(i) <= back {
					if res[0] != nil {
						t.Fatalf("entry %d at or below the restart index %d applied again", i, back)
					}
					continue
				}
				data, err, _ := ExportResult(res[0])
				if err != nil {
					t.Fatal(err)
				}
				if want, ok := first[uint64(i)]; ok && string(data) != want {
					t.Fatalf("entry %d replayed to %q, first run gave %q", i, data, want)
				}
			}
			if got := sm.calls.Load(); got != int64(n)-int64(back) {
				t.Fatalf("state machine called %d times after the restart, want %d", got, int64(n)-int64(back))
			}
			wantApplied(t, f, n)
			wantKey(t, flushed(t, f), "sum", strconv.Itoa(l.sumAt(n)))
			t.Logf("crash after %d entries: %d were on disk, %d replayed", crashAt, back, int64(n)-int64(back))
		})
	}
}
