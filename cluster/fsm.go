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
	"github.com/hashicorp/raft"
)

// StateMachine is the application state the cluster replicates. The cluster
// knows nothing of tickets: the validator plugs its state machine in here.
type StateMachine interface {
	// Apply applies one committed command inside txn and returns the result
	// for whoever submitted it.
	//
	// Apply must be deterministic: it reads and writes only txn and e, never
	// the clock, the network or randomness (e.Time is the leader's clock when
	// it accepted the command). An error rejects the command: its writes are
	// discarded and the submitter gets the error wrapped in ErrRejected.
	// Apply may run more than once for the same entry when the cluster
	// retries a transaction, so it keeps no state outside txn, unless it
	// implements Committer to learn which writes became durable.
	Apply(txn *badger.Txn, e Entry) ([]byte, error)
}

// Reloader is implemented by state machines that cache state in memory.
// Reload runs after the node opens and after a snapshot replaced the state.
type Reloader interface {
	Reload(db *badger.DB) error
}

// Committer is implemented by state machines that keep an in-memory copy
// of what they write. Committed runs after the transaction holding the
// writes of the entries applied so far committed; Discarded when those
// writes were thrown away (the entries are then applied again, in a new
// transaction). Both run on the apply goroutine, like Apply.
type Committer interface {
	Committed()
	Discarded()
}

// Entry is one committed command.
type Entry struct {
	Index uint64    // Raft log index, unique and increasing
	Term  uint64    // Raft term the entry was written in
	Time  time.Time // the leader's clock when it accepted the command
	Data  []byte    // the command; valid only during Apply
}

// Keys starting with reservedPrefix belong to the cluster; state machines
// use other keys.
const reservedPrefix = "\x00cluster/"

var appliedKey = []byte(reservedPrefix + "applied")

// Log entries carry an envelope: kind byte, leader time, command.
const (
	envelopeCommand byte = 1
	envelopeHeader       = 9
)

func encodeEnvelope(now time.Time, cmd []byte) []byte {
	b := make([]byte, envelopeHeader+len(cmd))
	b[0] = envelopeCommand
	binary.BigEndian.PutUint64(b[1:], uint64(now.UnixNano()))
	copy(b[envelopeHeader:], cmd)
	return b
}

func decodeEnvelope(b []byte) (time.Time, []byte, error) {
	if len(b) < envelopeHeader || b[0] != envelopeCommand {
		return time.Time{}, nil, errors.New("malformed log entry envelope")
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b[1:]))).UTC(), b[envelopeHeader:], nil
}

// applyResult is what a raft ApplyFuture's Response holds.
type applyResult struct {
	data []byte
	err  error
}

// fsmObserver receives apply measurements; metrics implements it.
type fsmObserver interface {
	observeApply(entries int, d time.Duration)
}

// fsm adapts the StateMachine to raft.BatchingFSM. A batch of committed
// entries is applied in one Badger transaction that also records the last
// applied index, so state and index are always written together: on replay
// after a restart, entries at or below the index are skipped.
type fsm struct {
	db      *badger.DB
	sm      StateMachine
	log     *slog.Logger
	obs     fsmObserver
	applied atomic.Uint64
	marker  string // file present while a restore is in progress
	// broken is set when a restore failed after dropping the state: nothing
	// may be applied on top; the node must restart and restore again.
	broken atomic.Bool
	// stateMu keeps readers out while a restore drops and reloads Badger
	// (Badger's DropAll does not tolerate concurrent reads).
	stateMu sync.RWMutex
	// writing counts commits handed to Badger and not yet written; see
	// commit. Snapshot, Restore and Close wait for them.
	writing sync.WaitGroup
}

var _ raft.BatchingFSM = (*fsm)(nil)

func loadAppliedIndex(db *badger.DB) (uint64, error) {
	var idx uint64
	err := db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(appliedKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("applied index has %d bytes", len(v))
			}
			idx = binary.BigEndian.Uint64(v)
			return nil
		})
	})
	return idx, err
}

func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// pending is an entry in the open transaction, kept so the transaction can
// be rebuilt when a later entry is rejected or overflows it.
type pending struct {
	pos      int   // in the batch
	entry    Entry // Data nil for entries that are not commands
	cmd      bool
	rejected bool // a rejected command: only its index is recorded
}

func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	if f.broken.Load() {
		f.fatal("state is not trusted after a failed restore", errors.New("restart the node to restore again"), logs[0].Index)
	}
	start := time.Now()
	results := make([]any, len(logs))
	applied := f.applied.Load()
	txn := f.db.NewTransaction(true)
	var inTxn []pending
	hooks, _ := f.sm.(Committer)
	count := 0
	for _, l := range logs {
		if l.Index > applied && l.Type == raft.LogCommand {
			count++
		}
	}

	// run applies one entry and records its index in the transaction. Every
	// entry records the index, so "the state and its applied index fit in
	// one transaction" is checked entry by entry.
	run := func(p *pending) ([]byte, error) {
		var res []byte
		if p.cmd && !p.rejected {
			var err error
			if res, err = f.sm.Apply(txn, p.entry); err != nil {
				return nil, err
			}
		}
		return res, setApplied(txn, p.entry.Index)
	}
	// rebuild discards the open transaction and re-runs the entries it held;
	// they succeeded before in the same order, so they do again.
	rebuild := func() {
		txn.Discard()
		if hooks != nil {
			hooks.Discarded()
		}
		txn = f.db.NewTransaction(true)
		for i := range inTxn {
			res, err := run(&inTxn[i])
			if err != nil {
				f.fatal("entry failed on re-apply: state machine is not deterministic", err, inTxn[i].entry.Index)
			}
			if inTxn[i].cmd && !inTxn[i].rejected {
				results[inTxn[i].pos] = applyResult{data: res}
			}
		}
	}
	flush := func() {
		if len(inTxn) > 0 {
			f.commit(txn, inTxn[len(inTxn)-1].entry.Index)
			if hooks != nil {
				hooks.Committed()
			}
		} else {
			txn.Discard()
			if hooks != nil {
				hooks.Discarded()
			}
		}
		txn, inTxn = f.db.NewTransaction(true), nil
	}

	for i := 0; i < len(logs); i++ {
		l := logs[i]
		if l.Index <= applied {
			continue // already in Badger: replayed after a restart
		}
		p := pending{pos: i, entry: Entry{Index: l.Index, Term: l.Term}, cmd: l.Type == raft.LogCommand}
		if p.cmd {
			ts, data, err := decodeEnvelope(l.Data)
			if err != nil {
				p.rejected = true
				results[i] = applyResult{err: fmt.Errorf("%w: %v", ErrRejected, err)}
			}
			p.entry.Time, p.entry.Data = ts, data
		}
		res, err := run(&p)
		if err == nil {
			inTxn = append(inTxn, p)
			if p.cmd && !p.rejected {
				results[i] = applyResult{data: res}
			}
			continue
		}
		rebuild()
		if errors.Is(err, badger.ErrTxnTooBig) && len(inTxn) > 0 {
			// The transaction is full: commit what it holds and retry
			// this entry in a fresh one.
			flush()
			i--
			continue
		}
		// Rejected by the state machine, or too big on its own: keep none
		// of its writes, only its index.
		p.rejected = true
		results[i] = applyResult{err: fmt.Errorf("%w: %w", ErrRejected, err)}
		if err := setApplied(txn, p.entry.Index); err != nil {
			if !errors.Is(err, badger.ErrTxnTooBig) || len(inTxn) == 0 {
				f.fatal("record applied index", err, p.entry.Index)
			}
			flush()
			if err := setApplied(txn, p.entry.Index); err != nil {
				f.fatal("record applied index", err, p.entry.Index)
			}
		}
		inTxn = append(inTxn, p)
	}
	flush()
	if f.obs != nil && count > 0 {
		f.obs.observeApply(count, time.Since(start))
	}
	return results
}

func setApplied(txn *badger.Txn, index uint64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], index)
	return txn.Set(appliedKey, v[:])
}

// commit commits the state with its applied index (already in txn)
// without waiting for Badger to write it: results go back to clients a
// write earlier. That is safe because every Badger transaction opened
// later (the next batch, a read, a snapshot) first waits until the commits
// before it are written, and Badger is not the durable record (the Raft log
// is). A failed commit means the disk failed under us; continuing would let
// this replica diverge, so the node stops and recovers from its log on
// restart.
func (f *fsm) commit(txn *badger.Txn, index uint64) {
	f.writing.Add(1)
	txn.CommitWith(func(err error) {
		defer f.writing.Done()
		if err != nil {
			f.fatal("commit state", err, index)
		}
	})
	f.applied.Store(index)
}

func (f *fsm) fatal(what string, err error, index uint64) {
	f.log.Error("state machine failure; stopping the node", "what", what, "index", index, "err", err)
	panic(fmt.Sprintf("admit cluster: %s at index %d: %v", what, index, err))
}
