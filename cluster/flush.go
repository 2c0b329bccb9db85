package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Limits of what goes to Badger in one transaction. Badger refuses a
// transaction over 15 % of its memtable (64 MB by default: 9.6 MB) or
// about 100,000 keys; a segment holds at most one of these limits' worth
// plus nothing (see add), so every flush fits in one transaction.
const (
	// flushSegmentBytes seals a segment once it holds this many bytes.
	flushSegmentBytes = 4 << 20
	// flushSegmentKeys seals a segment once it holds this many keys.
	flushSegmentKeys = 30_000
	// maxEntryWriteBytes and maxEntryWriteKeys bound what one entry may
	// write; a bigger entry is rejected (deterministically, on every node).
	maxEntryWriteBytes = 6 << 20
	maxEntryWriteKeys  = 60_000
)

// segment is a run of applied entries whose writes go to Badger together,
// with the index of the last of them, in one transaction: Badger never
// holds a state newer or older than the applied index stored with it.
type segment struct {
	w     writes
	bytes int
	index uint64
}

// flusher writes what apply changed in memory to Badger, behind it: in
// segments, in order, each in one transaction with its applied index. The
// apply goroutine adds to the open segment; the flusher's goroutine seals
// it every interval (or when it is full) and writes sealed segments.
type flusher struct {
	db       *badger.DB
	segBytes int // seal a segment at this many bytes
	segKeys  int // or this many keys
	log      *slog.Logger
	interval time.Duration
	maxQueue int // sealed segments waiting; apply waits beyond it
	obs      flushObserver
	// persists says which writes go to Badger (nil: all); derived keys
	// live in memory only.
	persists func(k string, w write) bool

	mu     sync.Mutex
	cond   *sync.Cond // signalled when the queue shrinks or the writer idles
	open   segment
	queue  []segment
	busy   bool // a segment is being written
	closed bool

	persisted atomic.Uint64 // the applied index Badger holds
	kick      chan struct{}
	stop      chan struct{}
	done      chan struct{}
}

// flushObserver receives flush measurements; metrics implements it.
type flushObserver interface {
	observeFlush(keys, bytes int, d time.Duration)
	observeFlushWait(d time.Duration)
}

func newFlusher(db *badger.DB, log *slog.Logger, interval time.Duration, maxQueue int, persisted uint64) *flusher {
	f := &flusher{db: db, log: log, interval: interval, maxQueue: maxQueue,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	// Half of what Badger takes in one transaction (less with a small
	// memtable, as in tests), so a segment plus one entry fits.
	f.segBytes = int(min(int64(flushSegmentBytes), db.MaxBatchSize()/2))
	f.segKeys = int(min(int64(flushSegmentKeys), db.MaxBatchCount()/2))
	f.cond = sync.NewCond(&f.mu)
	f.open = segment{w: writes{}, index: persisted}
	f.persisted.Store(persisted)
	go f.run()
	return f
}

// add records the writes of the entry at index (none for entries that
// change nothing but the index). It runs on the apply goroutine and waits
// while too many sealed segments are queued, so memory stays bounded when
// the disk is slower than apply.
func (f *flusher) add(w writes, bytes int, index uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.open.w) > 0 && (f.open.bytes+bytes > f.segBytes || len(f.open.w)+len(w) > f.segKeys) {
		f.sealLocked()
	}
	for k, v := range w {
		if f.persists == nil || f.persists(k, v) {
			f.open.w[k] = v
		}
	}
	f.open.bytes += bytes
	f.open.index = index
	if f.open.bytes >= f.segBytes || len(f.open.w) >= f.segKeys {
		f.sealLocked()
	}
	if len(f.queue) > f.maxQueue && !f.closed {
		start := time.Now()
		for len(f.queue) > f.maxQueue && !f.closed {
			f.cond.Wait()
		}
		if f.obs != nil {
			f.obs.observeFlushWait(time.Since(start))
		}
	}
}

// sealLocked queues the open segment for writing and opens a new one.
func (f *flusher) sealLocked() {
	if len(f.open.w) == 0 && f.open.index == f.persistedQueuedLocked() {
		return
	}
	f.queue = append(f.queue, f.open)
	f.open = segment{w: writes{}, index: f.open.index}
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// persistedQueuedLocked is the index Badger will hold once the queue is
// written.
func (f *flusher) persistedQueuedLocked() uint64 {
	if n := len(f.queue); n > 0 {
		return f.queue[n-1].index
	}
	return f.persisted.Load()
}

// sync seals the open segment and waits until everything before it is in
// Badger, then syncs Badger to disk: what Snapshot, Restore and Close need.
func (f *flusher) sync() error {
	f.mu.Lock()
	f.sealLocked()
	for (len(f.queue) > 0 || f.busy) && !f.closed {
		f.cond.Wait()
	}
	f.mu.Unlock()
	return f.db.Sync()
}

// reset drops everything not yet written and starts over at index: after
// a restore replaced the state. The caller has called sync.
func (f *flusher) reset(index uint64) {
	f.mu.Lock()
	f.open = segment{w: writes{}, index: index}
	f.queue = nil
	f.persisted.Store(index)
	f.mu.Unlock()
}

// close writes what is pending, syncs, and stops the goroutine.
func (f *flusher) close() error {
	err := f.sync()
	f.mu.Lock()
	f.closed = true
	f.cond.Broadcast()
	f.mu.Unlock()
	close(f.stop)
	<-f.done
	return err
}

// abandon stops the goroutine and drops what is not written, as a crash
// would. Tests only.
func (f *flusher) abandon() {
	f.mu.Lock()
	f.closed = true
	f.queue, f.open = nil, segment{w: writes{}}
	f.cond.Broadcast()
	f.mu.Unlock()
	close(f.stop)
	<-f.done
}

func (f *flusher) run() {
	defer close(f.done)
	t := time.NewTicker(f.interval)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
			f.mu.Lock()
			f.sealLocked()
			f.mu.Unlock()
		case <-f.kick:
		}
		for f.writeNext() {
		}
	}
}

// writeNext writes the oldest sealed segment; false when there was none.
func (f *flusher) writeNext() bool {
	f.mu.Lock()
	if len(f.queue) == 0 {
		f.mu.Unlock()
		return false
	}
	seg := f.queue[0]
	f.busy = true
	f.mu.Unlock()

	start := time.Now()
	err := f.write(seg)
	if f.obs != nil && err == nil {
		f.obs.observeFlush(len(seg.w), seg.bytes, time.Since(start))
	}

	if err != nil {
		// The disk failed under us. Going on would let memory run ahead
		// of what can ever be written; the node stops and, on restart,
		// replays its log from what Badger holds.
		f.log.Error("writing the state to disk failed; stopping the node", "index", seg.index, "err", err)
		panic(fmt.Sprintf("admit cluster: flush state at index %d: %v", seg.index, err))
	}
	f.mu.Lock()
	f.busy = false
	if len(f.queue) > 0 { // else abandoned meanwhile
		f.queue = f.queue[1:]
	}
	f.persisted.Store(seg.index)
	f.cond.Broadcast()
	f.mu.Unlock()
	return true
}

// write stores seg and its applied index in one transaction. A segment
// Badger cannot take whole (one entry's writes beyond what a configured
// memtable allows; never with the default one, see the limits above) is
// written in parts with the index in the last: a crash between parts
// would leave state ahead of its index, so it is logged loudly.
func (f *flusher) write(seg segment) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], seg.index)
	txn := f.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	parts := 1
	for k, w := range seg.w {
		for {
			var err error
			if w.del {
				err = txn.Delete([]byte(k))
			} else {
				err = txn.Set([]byte(k), w.v)
			}
			if err == nil {
				break
			}
			if !errors.Is(err, badger.ErrTxnTooBig) {
				return fmt.Errorf("flush key %q: %w", k, err)
			}
			if err := txn.Commit(); err != nil {
				return fmt.Errorf("flush part %d: %w", parts, err)
			}
			txn.Discard()
			txn = f.db.NewTransaction(true)
			parts++
		}
	}
	if err := txn.Set(appliedKey, v[:]); errors.Is(err, badger.ErrTxnTooBig) {
		if err := txn.Commit(); err != nil {
			return fmt.Errorf("flush part %d: %w", parts, err)
		}
		txn.Discard()
		txn = f.db.NewTransaction(true)
		parts++
		err = txn.Set(appliedKey, v[:])
		if err != nil {
			return fmt.Errorf("flush applied index: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("flush applied index: %w", err)
	}
	if parts > 1 {
		f.log.Warn("a flush did not fit in one Badger transaction and was written in parts; "+
			"a crash between them would need a snapshot restore (raise the memtable size)",
			"index", seg.index, "parts", parts, "keys", len(seg.w))
	}
	return txn.Commit()
}
