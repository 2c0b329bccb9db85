package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/btree"
)

// ErrNotFound: no value at the key.
var ErrNotFound = errors.New("cluster: key not found")

// ErrStop, returned by an Iterate callback, ends the iteration early;
// Iterate then returns nil.
var ErrStop = errors.New("cluster: stop iteration")

// Reader reads the state. Values are never changed in place once written,
// so a value returned by Get or passed to an Iterate callback stays valid
// and unchanged for as long as the caller keeps it; callers must not modify
// it.
type Reader interface {
	// Get returns the value at key, or ErrNotFound.
	Get(key []byte) ([]byte, error)
	// Iterate calls fn for every key that starts with prefix and is not
	// before from (nil: from the first), in key order. fn may return
	// ErrStop to end early.
	Iterate(prefix, from []byte, fn func(key, value []byte) error) error
}

// Txn is what a StateMachine reads and writes while it applies one entry.
// Writes are visible to its own reads at once and become the node's state
// only if Apply succeeds.
type Txn interface {
	Reader
	// Set writes value at key; the state keeps value itself, so the caller
	// must not modify it afterwards.
	Set(key, value []byte) error
	// Delete removes key.
	Delete(key []byte) error
}

// item is one key and its value in the state tree.
type item struct {
	k string
	v []byte
}

func itemLess(a, b item) bool { return a.k < b.k }

// state is the whole state machine state, in memory: an ordered tree of
// keys and values. The apply goroutine is its only writer; readers take
// mu for reading, the writer takes it for each entry it commits.
type state struct {
	mu   sync.RWMutex
	tree *btree.BTreeG[item]
	keys int
}

func newState() *state { return &state{tree: btree.NewG(32, itemLess)} }

// loadState reads every key of db but the cluster's own into a new state.
func loadState(db *badger.DB) (*state, error) {
	s := newState()
	err := db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchSize = 1024
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			it := it.Item()
			k := it.Key()
			if bytes.HasPrefix(k, []byte(reservedPrefix)) {
				continue
			}
			v, err := it.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("load key %q: %w", k, err)
			}
			if v == nil {
				v = []byte{}
			}
			s.tree.ReplaceOrInsert(item{k: string(k), v: v})
		}
		return nil
	})
	s.keys = s.tree.Len()
	return s, err
}

// get reads the tree; the caller holds mu or is the writer.
func (s *state) get(key []byte) ([]byte, error) {
	it, ok := s.tree.Get(item{k: string(key)})
	if !ok {
		return nil, ErrNotFound
	}
	return it.v, nil
}

// iterate walks the tree; the caller holds mu or is the writer.
func (s *state) iterate(prefix, from []byte, fn func(k, v []byte) error) error {
	start := prefix
	if bytes.Compare(from, prefix) > 0 {
		start = from
	}
	var err error
	s.tree.AscendGreaterOrEqual(item{k: string(start)}, func(it item) bool {
		if len(it.k) < len(prefix) || it.k[:len(prefix)] != string(prefix) {
			return false
		}
		err = fn([]byte(it.k), it.v)
		return err == nil
	})
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// apply writes the staged writes of one entry; the caller holds mu.
func (s *state) apply(w writes) {
	for k, v := range w {
		if v.del {
			if _, ok := s.tree.Delete(item{k: k}); ok {
				s.keys--
			}
			continue
		}
		if _, ok := s.tree.ReplaceOrInsert(item{k: k, v: v.v}); !ok {
			s.keys++
		}
	}
}

// reader is the Reader View hands out; it holds mu for reading.
type reader struct{ s *state }

func (r reader) Get(key []byte) ([]byte, error) { return r.s.get(key) }
func (r reader) Iterate(prefix, from []byte, fn func(k, v []byte) error) error {
	return r.s.iterate(prefix, from, fn)
}

// write is one staged write: a value, or a deletion.
type write struct {
	v   []byte
	del bool
}

// writes maps a key to its latest staged write.
type writes map[string]write

// entryTxn is the Txn of one entry: its writes staged over the state.
// The apply goroutine reads the state without mu: it is the only writer.
type entryTxn struct {
	s     *state
	w     writes
	bytes int
}

func (t *entryTxn) Get(key []byte) ([]byte, error) {
	if w, ok := t.w[string(key)]; ok {
		if w.del {
			return nil, ErrNotFound
		}
		return w.v, nil
	}
	return t.s.get(key)
}

func (t *entryTxn) Set(key, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	t.w[string(key)] = write{v: value}
	t.bytes += len(key) + len(value)
	return nil
}

func (t *entryTxn) Delete(key []byte) error {
	t.w[string(key)] = write{del: true}
	t.bytes += len(key)
	return nil
}

// Iterate merges the staged writes with the state, in key order. Writes
// made by fn during the walk are not seen by it.
func (t *entryTxn) Iterate(prefix, from []byte, fn func(k, v []byte) error) error {
	var staged []string
	for k := range t.w {
		if len(k) >= len(prefix) && k[:len(prefix)] == string(prefix) && (from == nil || k >= string(from)) {
			staged = append(staged, k)
		}
	}
	if len(staged) == 0 {
		return t.s.iterate(prefix, from, fn)
	}
	slices.Sort(staged)
	snap := make([]write, len(staged))
	for i, k := range staged {
		snap[i] = t.w[k]
	}
	i := 0
	stopped := false
	call := func(k, v []byte) error {
		err := fn(k, v)
		stopped = errors.Is(err, ErrStop)
		return err
	}
	// emit sends the staged keys before bound (all of them when all).
	emit := func(bound string, all bool) error {
		for ; i < len(staged) && (all || staged[i] < bound); i++ {
			if snap[i].del {
				continue
			}
			if err := call([]byte(staged[i]), snap[i].v); err != nil {
				return err
			}
		}
		return nil
	}
	err := t.s.iterate(prefix, from, func(k, v []byte) error {
		if err := emit(string(k), false); err != nil {
			return err
		}
		if i < len(staged) && staged[i] == string(k) {
			w := snap[i]
			i++
			if w.del {
				return nil
			}
			return call(k, w.v)
		}
		return call(k, v)
	})
	if err == nil && !stopped {
		err = emit("", true)
	}
	if stopped || errors.Is(err, ErrStop) {
		return nil
	}
	return err
}
