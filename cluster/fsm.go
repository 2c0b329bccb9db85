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
//
// The state lives in memory (an ordered map of keys to values) and apply
// works on it alone; Badger holds a copy written behind, in segments each
// stored with the applied index it brings the copy to (see DESIGN.md).
type StateMachine interface {
	// Apply applies one committed command through txn and returns the
	// result for whoever submitted it.
	//
	// Apply must be deterministic: it reads and writes only txn and e, never
	// the clock, the network or randomness (e.Time is the leader's clock when
	// it accepted the command). An error rejects the command: its writes are
	// dropped and the submitter gets the error wrapped in ErrRejected. So is
	// a command that writes more than one flush may hold (about 6 MB or
	// 60,000 keys). Apply keeps no state outside txn.
	Apply(txn Txn, e Entry) ([]byte, error)
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
	envelopeHeader  int  = 9
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

// fsm adapts the StateMachine to raft.BatchingFSM. Each committed entry is
// applied to the in-memory state through its own staged Txn (a rejected
// entry leaves no writes) and handed to the flusher, which writes it to
// Badger behind apply with the applied index. On replay after a restart,
// entries at or below Badger's applied index are skipped: the state loaded
// from Badger already holds them.
type fsm struct {
	db      *badger.DB
	state   *state
	flush   *flusher
	sm      StateMachine
	log     *slog.Logger
	obs     fsmObserver
	applied atomic.Uint64
	marker  string // file present while a restore is in progress
	// broken is set when a restore failed after dropping the state: nothing
	// may be applied on top; the node must restart and restore again.
	broken atomic.Bool
	// stateMu keeps a snapshot's Persist, which streams from Badger, out
	// while a restore drops and rewrites Badger.
	stateMu sync.RWMutex
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

func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	if f.broken.Load() {
		f.fatal("state is not trusted after a failed restore", errors.New("restart the node to restore again"), logs[0].Index)
	}
	start := time.Now()
	results := make([]any, len(logs))
	applied := f.applied.Load()
	count := 0
	for i, l := range logs {
		if l.Index <= applied {
			continue // already in the state: replayed after a restart
		}
		if l.Type != raft.LogCommand {
			f.flush.add(nil, 0, l.Index) // only the index moves
			f.applied.Store(l.Index)
			continue
		}
		count++
		ts, data, err := decodeEnvelope(l.Data)
		if err != nil {
			results[i] = applyResult{err: fmt.Errorf("%w: %v", ErrRejected, err)}
			f.flush.add(nil, 0, l.Index)
			f.applied.Store(l.Index)
			continue
		}
		txn := &entryTxn{s: f.state, w: writes{}}
		res, err := f.sm.Apply(txn, Entry{Index: l.Index, Term: l.Term, Time: ts, Data: data})
		if err == nil && (txn.bytes > maxEntryWriteBytes || len(txn.w) > maxEntryWriteKeys) {
			err = fmt.Errorf("%w: the command writes %d keys, %d bytes (limit %d keys, %d bytes)",
				ErrTooLarge, len(txn.w), txn.bytes, maxEntryWriteKeys, maxEntryWriteBytes)
		}
		if err != nil {
			results[i] = applyResult{err: fmt.Errorf("%w: %w", ErrRejected, err)}
			f.flush.add(nil, 0, l.Index)
			f.applied.Store(l.Index)
			continue
		}
		f.state.mu.Lock()
		f.state.apply(txn.w)
		f.state.mu.Unlock()
		f.flush.add(txn.w, txn.bytes, l.Index)
		f.applied.Store(l.Index)
		results[i] = applyResult{data: res}
	}
	if f.obs != nil && count > 0 {
		f.obs.observeApply(count, time.Since(start))
	}
	return results
}

func (f *fsm) fatal(what string, err error, index uint64) {
	f.log.Error("state machine failure; stopping the node", "what", what, "index", index, "err", err)
	panic(fmt.Sprintf("admit cluster: %s at index %d: %v", what, index, err))
}
