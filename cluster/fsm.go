package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
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
	// retries a transaction, so it keeps no state outside txn.
	Apply(txn *badger.Txn, e Entry) ([]byte, error)
}

// Reloader is implemented by state machines that cache state in memory.
// Reload runs after the node opens and after a snapshot replaced the state.
type Reloader interface {
	Reload(db *badger.DB) error
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

// pending is an entry applied in the open transaction, kept so the
// transaction can be rebuilt when a later entry is rejected or overflows it.
type pending struct {
	pos   int
	entry Entry
}

func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	start := time.Now()
	results := make([]any, len(logs))
	txn := f.db.NewTransaction(true)
	var inTxn []pending
	var txnLast uint64 // highest index the open transaction covers
	applied := f.applied.Load()
	count := 0

	// rebuild discards the open transaction and re-applies the entries it
	// held; they succeeded before in the same order, so they do again.
	rebuild := func() {
		txn.Discard()
		txn = f.db.NewTransaction(true)
		for _, p := range inTxn {
			res, err := f.sm.Apply(txn, p.entry)
			if err != nil {
				f.fatal("state machine is not deterministic: entry failed on re-apply", err, p.entry.Index)
			}
			results[p.pos] = applyResult{data: res}
		}
	}

	for i := 0; i < len(logs); i++ {
		l := logs[i]
		if l.Index <= applied {
			continue // already in Badger: replayed after a restart
		}
		txnLast = l.Index
		if l.Type != raft.LogCommand {
			continue // configuration changes only move the applied index
		}
		count++
		ts, cmd, err := decodeEnvelope(l.Data)
		if err != nil {
			results[i] = applyResult{err: fmt.Errorf("%w: %v", ErrRejected, err)}
			continue
		}
		e := Entry{Index: l.Index, Term: l.Term, Time: ts, Data: cmd}
		res, err := f.sm.Apply(txn, e)
		if err == nil {
			inTxn = append(inTxn, pending{pos: i, entry: e})
			results[i] = applyResult{data: res}
			continue
		}
		rebuild()
		if errors.Is(err, badger.ErrTxnTooBig) && len(inTxn) > 0 {
			// The transaction is full: commit what it holds and retry
			// this entry in a fresh one.
			f.commit(txn, inTxn[len(inTxn)-1].entry.Index)
			txn, inTxn = f.db.NewTransaction(true), nil
			i--
			count--
			continue
		}
		results[i] = applyResult{err: fmt.Errorf("%w: %w", ErrRejected, err)}
	}
	if txnLast > applied {
		f.commit(txn, txnLast)
	} else {
		txn.Discard()
	}
	if f.obs != nil && count > 0 {
		f.obs.observeApply(count, time.Since(start))
	}
	return results
}

// commit writes the applied index with the state and commits. A failed
// commit means the disk failed under us; continuing would let this replica
// diverge, so the node stops and recovers from its log on restart.
func (f *fsm) commit(txn *badger.Txn, index uint64) {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], index)
	if err := txn.Set(appliedKey, v[:]); err != nil {
		f.fatal("record applied index", err, index)
	}
	if err := txn.Commit(); err != nil {
		f.fatal("commit state", err, index)
	}
	f.applied.Store(index)
}

func (f *fsm) fatal(what string, err error, index uint64) {
	f.log.Error("state machine failure; stopping the node", "what", what, "index", index, "err", err)
	panic(fmt.Sprintf("admit cluster: %s at index %d: %v", what, index, err))
}
