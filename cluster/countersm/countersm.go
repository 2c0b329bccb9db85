// Package countersm is a state machine for testing the cluster: a counter
// where applying an entry twice, losing one, or applying out of order shows.
//
// Each command carries a client-chosen op id and a delta. Applying an op adds
// its delta to the total and records the op with the log index it came in.
// An op id seen again in a later entry is a client retry and changes nothing;
// the same entry applied again is a cluster bug and is counted in Reapplied.
package countersm

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/admitpark/admit/cluster"
)

var (
	keyTotal     = []byte("counter/total")
	keyOps       = []byte("counter/ops")
	keyReapplied = []byte("counter/reapplied")
	keyLast      = []byte("counter/last-index")
	keyReorder   = []byte("counter/out-of-order")
	opPrefix     = []byte("counter/op/")
)

// ErrBadCommand: the command is not 16 bytes.
var ErrBadCommand = errors.New("counter command must be 16 bytes")

// Counter implements cluster.StateMachine.
type Counter struct{}

var _ cluster.StateMachine = Counter{}

// Command encodes "add delta, as op".
func Command(op uint64, delta int64) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, op)
	binary.BigEndian.PutUint64(b[8:], uint64(delta))
	return b
}

// DecodeResult returns the total after the command.
func DecodeResult(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("counter result has %d bytes", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// State is the counter as stored.
type State struct {
	Total      int64  `json:"total"`
	Ops        uint64 `json:"ops"`
	Reapplied  uint64 `json:"reapplied"`
	OutOfOrder uint64 `json:"out_of_order"`
	LastIndex  uint64 `json:"last_index"`
}

// Apply adds the delta once per op id.
func (Counter) Apply(txn cluster.Txn, e cluster.Entry) ([]byte, error) {
	if len(e.Data) != 16 {
		return nil, ErrBadCommand
	}
	op := binary.BigEndian.Uint64(e.Data)
	delta := int64(binary.BigEndian.Uint64(e.Data[8:]))
	st, err := read(txn)
	if err != nil {
		return nil, err
	}
	if e.Index <= st.LastIndex {
		if err := put(txn, keyReorder, st.OutOfOrder+1); err != nil {
			return nil, err
		}
	}
	if err := put(txn, keyLast, e.Index); err != nil {
		return nil, err
	}
	opKey := binary.BigEndian.AppendUint64(append([]byte{}, opPrefix...), op)
	seenAt, err := get(txn, opKey)
	if err != nil {
		return nil, err
	}
	switch {
	case seenAt == e.Index:
		err = put(txn, keyReapplied, st.Reapplied+1)
	case seenAt != 0: // a retried op: already counted
	default:
		st.Total += delta
		st.Ops++
		if err = put(txn, opKey, e.Index); err == nil {
			if err = put(txn, keyTotal, uint64(st.Total)); err == nil {
				err = put(txn, keyOps, st.Ops)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return binary.BigEndian.AppendUint64(nil, uint64(st.Total)), nil
}

// Viewer reads the state: a *cluster.Node.
type Viewer interface {
	View(fn func(r cluster.Reader) error) error
}

// Read returns the counter's state.
func Read(db Viewer) (State, error) {
	var st State
	err := db.View(func(txn cluster.Reader) (err error) {
		st, err = read(txn)
		return err
	})
	return st, err
}

// HasOp reports whether op was applied.
func HasOp(db Viewer, op uint64) (bool, error) {
	var at uint64
	err := db.View(func(txn cluster.Reader) (err error) {
		at, err = get(txn, binary.BigEndian.AppendUint64(append([]byte{}, opPrefix...), op))
		return err
	})
	return at != 0, err
}

func read(txn cluster.Reader) (State, error) {
	var st State
	for _, f := range []struct {
		key []byte
		dst *uint64
	}{{keyOps, &st.Ops}, {keyReapplied, &st.Reapplied}, {keyLast, &st.LastIndex}, {keyReorder, &st.OutOfOrder}} {
		v, err := get(txn, f.key)
		if err != nil {
			return st, err
		}
		*f.dst = v
	}
	total, err := get(txn, keyTotal)
	st.Total = int64(total)
	return st, err
}

func get(txn cluster.Reader, key []byte) (uint64, error) {
	b, err := txn.Get(key)
	if errors.Is(err, cluster.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("counter key %q has %d bytes", key, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

func put(txn cluster.Txn, key []byte, v uint64) error {
	return txn.Set(key, binary.BigEndian.AppendUint64(nil, v))
}
