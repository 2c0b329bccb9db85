package cluster

import "fmt"

// MemState is a state without a node: a StateMachine applied to it sees
// exactly what it sees on a node (writes staged per entry, dropped when
// Apply fails, the limits on what one entry writes), with nothing written
// to disk. For tests of state machines and for checks that replay a log.
type MemState struct{ s *state }

// NewMemState returns an empty state with every key ordered.
func NewMemState() *MemState { return &MemState{s: newState(layout{})} }

// NewMemStateFor returns an empty state laid out for sm, as a node's is
// (point keys in a hash map when sm is PointKeyed).
func NewMemStateFor(sm StateMachine) *MemState { return &MemState{s: newState(layoutOf(sm))} }

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
// Rebuild over them. Tests compare it with the state itself.
func (m *MemState) Reloaded(sm StateMachine) (*MemState, error) {
	m.s.mu.RLock()
	defer m.s.mu.RUnlock()
	s := newState(m.s.layout)
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
