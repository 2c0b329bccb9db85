package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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

// PointKeyed is implemented by state machines that read some keys only by
// their exact key (tickets, scan ids): the state keeps keys under
// PointPrefixes in a hash table (pointtable.go), O(1) per read and write
// and out of the garbage collector's way, instead of the ordered tree (a
// B-tree lookup in a million keys is about twenty string compares, most of
// them cache misses). Iterate over such a prefix fails
// with ErrNotOrdered; Iterate over every key (an empty prefix) still walks
// them all in order, slowly (for tests and tools). The prefixes must not
// change while the state exists.
type PointKeyed interface {
	PointPrefixes() []string
}

// ErrNotOrdered: Iterate was asked for keys the state keeps unordered
// (see PointKeyed).
var ErrNotOrdered = errors.New("cluster: keys under this prefix are point keys and cannot be iterated")

// Derived is implemented by state machines that keep some keys in memory
// only: they are not written to Badger, and after every load of the state
// (start, snapshot restore) Rebuild writes them again from the keys that
// were. A state machine writes each scan's idempotency record here and
// one record of all of them per entry: one Badger key per entry instead
// of one per scan. Rebuild must write exactly what apply had written for
// the loaded state, and only keys under DerivedPrefixes.
//
// SourcePrefixes are the opposite: keys written to Badger but not kept in
// memory, because only Rebuild reads them (the per-entry records above;
// keeping them would hold every scan twice). Apply may write and delete
// them but never reads them back; they must be ordered keys.
type Derived interface {
	DerivedPrefixes() []string
	SourcePrefixes() []string
	Rebuild(txn Txn) error
}

// layout says which keys are point keys, which live in memory only
// (derived) and which on disk only (sources).
type layout struct{ points, derived, sources []string }

func layoutOf(sm StateMachine) layout {
	var l layout
	if pk, ok := sm.(PointKeyed); ok {
		l.points = slices.Clone(pk.PointPrefixes())
	}
	if d, ok := sm.(Derived); ok {
		l.derived = slices.Clone(d.DerivedPrefixes())
		l.sources = slices.Clone(d.SourcePrefixes())
	}
	return l
}

func hasAnyPrefix(k string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

func (l layout) isDerived(k string) bool { return hasAnyPrefix(k, l.derived) }
func (l layout) isSource(k string) bool  { return hasAnyPrefix(k, l.sources) }

func (l layout) isPoint(k string) bool {
	for _, p := range l.points {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// ordered reports whether every key under prefix is kept in order.
func (l layout) ordered(prefix []byte) bool {
	for _, p := range l.points {
		if strings.HasPrefix(p, string(prefix)) || strings.HasPrefix(string(prefix), p) {
			return false
		}
	}
	return true
}

// state is the whole state machine state, in memory: point keys in a hash
// table, the others in an ordered tree. The apply goroutine is its only
// writer; readers take mu for reading, the writer takes it for each entry
// it commits.
type state struct {
	mu     sync.RWMutex
	layout layout
	tree   *btree.BTreeG[item]
	points *pointTable
	keys   int
	// legacy: Badger held derived keys when this state was loaded
	// (written before they were derived); their deletions still go to
	// Badger, or they would come back at the next start.
	legacy atomic.Bool
	// keepSources keeps source keys in memory: while a load rebuilds
	// from them, and always in a MemState, which has no disk.
	keepSources bool
	// How long the last load read Badger and rebuilt the derived keys.
	readTook, rebuildTook time.Duration
}

func newState(l layout) *state {
	return &state{layout: l, tree: btree.NewG(32, itemLess), points: newPointTable()}
}

// loadState reads every key of db but the cluster's own into a new state,
// and rebuilds sm's derived keys over it.
func loadState(db *badger.DB, sm StateMachine) (*state, error) {
	start := time.Now()
	s, err := readState(db, layoutOf(sm))
	if err != nil {
		return nil, err
	}
	s.readTook = time.Since(start)
	if err := rebuild(s, sm); err != nil {
		return nil, err
	}
	s.dropSources()
	s.rebuildTook = time.Since(start) - s.readTook
	return s, nil
}

// dropSources removes the source keys from memory once the derived keys
// are rebuilt from them; from then on they are only written through.
func (s *state) dropSources() {
	s.keepSources = false
	for _, p := range s.layout.sources {
		var ks []string
		s.tree.AscendGreaterOrEqual(item{k: p}, func(it item) bool {
			if !strings.HasPrefix(it.k, p) {
				return false
			}
			ks = append(ks, it.k)
			return true
		})
		for _, k := range ks {
			s.del(k)
		}
	}
}

// rebuild has sm write its derived keys over s.
func rebuild(s *state, sm StateMachine) error {
	d, ok := sm.(Derived)
	if !ok {
		return nil
	}
	txn := &rebuildTxn{s: s, later: writes{}}
	if err := d.Rebuild(txn); err != nil {
		return fmt.Errorf("rebuild derived keys: %w", err)
	}
	s.apply(txn.later)
	return nil
}

// rebuildTxn is the Txn of a Rebuild: it may write only derived keys, and
// writes point keys straight into the state (millions of scan records at
// a start: staging them in a map would double the work), the others after
// the walk (the tree must not change under Iterate).
type rebuildTxn struct {
	s     *state
	later writes
}

func (t *rebuildTxn) Get(key []byte) ([]byte, error) {
	if w, ok := t.later[string(key)]; ok {
		return w.v, nil
	}
	return t.s.get(key)
}

func (t *rebuildTxn) Iterate(prefix, from []byte, fn func(k, v []byte) error) error {
	return t.s.iterate(prefix, from, fn)
}

func (t *rebuildTxn) Set(key, value []byte) error {
	k := string(key)
	if !t.s.layout.isDerived(k) {
		return fmt.Errorf("rebuild wrote %q, which is not under a derived prefix", key)
	}
	if t.s.layout.isPoint(k) {
		t.s.put(k, value)
		return nil
	}
	t.later[k] = write{v: value}
	return nil
}

func (t *rebuildTxn) Delete(key []byte) error {
	return fmt.Errorf("rebuild deleted %q: it may only write derived keys", key)
}

// readState reads every key of db but the cluster's own into a new state.
func readState(db *badger.DB, l layout) (*state, error) {
	s := newState(l)
	s.keepSources = true
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
			if l.isDerived(string(k)) {
				s.legacy.Store(true)
			}
			s.put(string(k), v)
		}
		return nil
	})
	return s, err
}

// get reads the state; the caller holds mu or is the writer.
func (s *state) get(key []byte) ([]byte, error) {
	if s.layout.isPoint(string(key)) {
		v, ok := s.points.get(key)
		if !ok {
			return nil, ErrNotFound
		}
		return v, nil
	}
	it, ok := s.tree.Get(item{k: string(key)})
	if !ok {
		return nil, ErrNotFound
	}
	return it.v, nil
}

// iterate walks the tree; the caller holds mu or is the writer.
func (s *state) iterate(prefix, from []byte, fn func(k, v []byte) error) error {
	if len(prefix) == 0 && len(s.layout.points) > 0 {
		return s.iterateAll(from, fn)
	}
	if !s.layout.ordered(prefix) {
		return fmt.Errorf("%w: %q", ErrNotOrdered, prefix)
	}
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

// iterateAll walks every key from from on, point keys included, in key
// order: it sorts the point keys first, O(n log n), so it is for comparing
// replicas and for tools, never for apply.
func (s *state) iterateAll(from []byte, fn func(k, v []byte) error) error {
	var points []string
	vals := map[string][]byte{}
	s.points.each(func(k, v []byte) bool {
		if string(k) >= string(from) {
			points = append(points, string(k))
			vals[string(k)] = v
		}
		return true
	})
	slices.Sort(points)
	i := 0
	var err error
	emit := func(bound string, all bool) bool {
		for ; i < len(points) && (all || points[i] < bound); i++ {
			if err = fn([]byte(points[i]), vals[points[i]]); err != nil {
				return false
			}
		}
		return true
	}
	s.tree.AscendGreaterOrEqual(item{k: string(from)}, func(it item) bool {
		if !emit(it.k, false) {
			return false
		}
		err = fn([]byte(it.k), it.v)
		return err == nil
	})
	if err == nil {
		emit("", true)
	}
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// put writes one key; the caller holds mu.
func (s *state) put(k string, v []byte) {
	if !s.keepSources && s.layout.isSource(k) {
		return // on disk only
	}
	if s.layout.isPoint(k) {
		if s.points.put(k, v) {
			s.keys++
		}
		return
	}
	if _, ok := s.tree.ReplaceOrInsert(item{k: k, v: v}); !ok {
		s.keys++
	}
}

// del removes one key; the caller holds mu.
func (s *state) del(k string) {
	if s.layout.isPoint(k) {
		if s.points.del(k) {
			s.keys--
		}
		return
	}
	if _, ok := s.tree.Delete(item{k: k}); ok {
		s.keys--
	}
}

// replace takes over the contents of o (a restore); the caller holds mu.
func (s *state) replace(o *state) {
	s.tree, s.points, s.keys, s.keepSources = o.tree, o.points, o.keys, o.keepSources
	s.legacy.Store(o.legacy.Load())
}

// persists reports whether a write of key goes to Badger: every key but
// the derived ones, whose deletions go too while Badger may hold some.
func (s *state) persists(k string, w write) bool {
	return !s.layout.isDerived(k) || (w.del && s.legacy.Load())
}

// apply writes the staged writes of one entry; the caller holds mu.
func (s *state) apply(w writes) {
	for k, v := range w {
		if v.del {
			s.del(k)
		} else {
			s.put(k, v.v)
		}
	}
	s.points.compact()
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
	if len(prefix) > 0 && !t.s.layout.ordered(prefix) {
		return fmt.Errorf("%w: %q", ErrNotOrdered, prefix)
	}
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
