package cluster

import "fmt"

// MemState is a state without a node: a StateMachine applied to it sees
// exactly what it sees on a node (writes staged per entry, dropped when
// Apply fails, the limits on what one entry writes), with nothing written
// to disk. For tests of state machines and for checks that replay a log.
type MemState struct{ s *state }

// NewMemState returns an empty state with every key ordered.
func NewMemState() *MemState { return &MemState{s: newState(layout{})} }

// newMemState is a MemState over a new state laid out as l. A MemState has
// no disk, so it keeps source keys (see Derived) in memory.
func newMemState(l layout) *MemState {
	s := newState(l)
	s.keepSources = true
	return &MemState{s: s}
}

// NewMemStateFor returns an empty state laid out for sm, as a node's is
// (point keys in a hash map when sm is PointKeyed).
func NewMemStateFor(sm StateMachine) *MemState { return newMemState(layoutOf(sm)) }

// Apply applies one entry through sm, as a node's apply does.
func (m *MemState) Apply(sm StateMachine, e Entry) ([]byte, error) {
	txn := &entryTxn{s: m.s, w: writes{}}
	res, err := sm.Apply(txn, e)
	if err == nil && (txn.bytes > maxEntryWriteBytes || len(txn.w) > maxEntryWriteKeys) {
		err = fmt.Errorf("%w: the command writes %d keys, %d bytes", ErrTooLarge, len(txn.w), txn.bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRejected, err)
	}
	m.s.mu.Lock()
	m.s.apply(txn.w)
	m.s.mu.Unlock()
	return res, nil
}

// View runs fn on the state.
func (m *MemState) View(fn func(r Reader) error) error {
	m.s.mu.RLock()
	defer m.s.mu.RUnlock()
	return fn(reader{m.s})
}

// Keys is how many keys the state holds.
func (m *MemState) Keys() int {
	m.s.mu.RLock()
	defer m.s.mu.RUnlock()
	return m.s.keys
}

// Reloaded returns what a node would hold after a restart with this state
// on disk: every key but the derived ones (see Derived), then sm's
// Rebuild over them (source keys stay, as in every MemState). Tests
// compare it with the state itself.
func (m *MemState) Reloaded(sm StateMachine) (*MemState, error) {
	m.s.mu.RLock()
	defer m.s.mu.RUnlock()
	s := newMemState(m.s.layout).s
	err := m.s.iterateAll(nil, func(k, v []byte) error {
		if !s.layout.isDerived(string(k)) {
			s.put(string(k), v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := rebuild(s, sm); err != nil {
		return nil, err
	}
	return &MemState{s: s}, nil
}
