package fsm

import (
	"bytes"
	"errors"

	"github.com/dgraph-io/badger/v4"
)

// stateCache keeps in memory what every scan reads, so that a scan does not
// pay Badger reads (a search through the memtables and, for most tickets,
// the on-disk tables) on every replica: ticket records, and the park's
// configuration and counters (gates, zones, epoch, event sequence, time
// zone). Badger stays the record: the cache holds copies of values exactly
// as written there, learned on first read and on every write.
//
// Writes of the open transaction are staged and visible to later reads at
// once (as Badger's own transaction shows them); they reach the committed
// maps only when the cluster reports the commit (Committed), and are
// dropped when it throws the transaction away (Discarded). Every write of
// a cached key must go through set or del. The cache is used only from the
// apply goroutine: Apply, Committed, Discarded and Reload never overlap.
type stateCache struct {
	max     int // ticket records kept at most
	tkts    map[[16]byte][]byte
	tstaged map[[16]byte][]byte
	// cfg and cstaged map a configuration key to its value, nil when the
	// key is absent (deleted).
	cfg     map[string][]byte
	cstaged map[string][]byte
}

func newStateCache(max int) *stateCache {
	return &stateCache{
		max:  max,
		tkts: make(map[[16]byte][]byte), tstaged: make(map[[16]byte][]byte),
		cfg: make(map[string][]byte), cstaged: make(map[string][]byte),
	}
}

// isTicketKey tells ticket records from configuration keys.
func isTicketKey(key []byte) bool {
	return len(key) == len(prefixTicket)+16 && string(key[:len(prefixTicket)]) == prefixTicket
}

func cacheID(key []byte) (id [16]byte) {
	copy(id[:], key[len(prefixTicket):])
	return id
}

// get calls fn with the value at key, or returns badger.ErrKeyNotFound.
// A nil cache reads Badger.
func (c *stateCache) get(txn *badger.Txn, key []byte, fn func([]byte) error) error {
	if c == nil {
		return getValue(txn, key, fn)
	}
	ticket := isTicketKey(key)
	var v []byte
	var ok bool
	if ticket {
		id := cacheID(key)
		if v, ok = c.tstaged[id]; !ok {
			v, ok = c.tkts[id]
		}
	} else if v, ok = c.cstaged[string(key)]; !ok {
		v, ok = c.cfg[string(key)]
	}
	if ok {
		if v == nil {
			return badger.ErrKeyNotFound
		}
		return fn(v)
	}
	// Not staged, so Badger answers with the committed value: safe to keep
	// even if the transaction is discarded later.
	item, err := txn.Get(key)
	switch {
	case err == nil:
		if v, err = item.ValueCopy(nil); err != nil {
			return err
		}
		if v == nil {
			v = []byte{} // present but empty: nil means absent here
		}
	case ticket && errors.Is(err, badger.ErrKeyNotFound):
		return err // unknown tickets are not remembered: there may be many
	case !errors.Is(err, badger.ErrKeyNotFound):
		return err
	}
	if ticket {
		if len(c.tkts) < c.max {
			c.tkts[cacheID(key)] = v
		}
	} else {
		c.cfg[string(key)] = v
	}
	if v == nil {
		return badger.ErrKeyNotFound
	}
	return fn(v)
}

// set writes val at key. val must stay unchanged until the transaction
// commits (Badger keeps it); the cache keeps its own copy.
func (c *stateCache) set(txn *badger.Txn, key, val []byte) error {
	if err := txn.Set(key, val); err != nil {
		return err
	}
	c.stage(key, bytes.Clone(val))
	return nil
}

// del deletes key.
func (c *stateCache) del(txn *badger.Txn, key []byte) error {
	if err := txn.Delete(key); err != nil {
		return err
	}
	c.stage(key, nil)
	return nil
}

func (c *stateCache) stage(key, val []byte) {
	switch {
	case c == nil:
	case isTicketKey(key):
		if val == nil {
			delete(c.tkts, cacheID(key)) // never written today; just stay correct
			c.tstaged[cacheID(key)] = nil
			return
		}
		c.tstaged[cacheID(key)] = val
	default:
		c.cstaged[string(key)] = val
	}
}

func (c *stateCache) committed() {
	for id, v := range c.tstaged {
		switch _, ok := c.tkts[id]; {
		case v == nil:
			delete(c.tkts, id)
		case ok || len(c.tkts) < c.max: // a full cache keeps what it has, never a stale copy
			c.tkts[id] = v
		}
	}
	clear(c.tstaged)
	for k, v := range c.cstaged {
		c.cfg[k] = v
	}
	clear(c.cstaged)
}

func (c *stateCache) discarded() {
	clear(c.tstaged)
	clear(c.cstaged)
}

func (c *stateCache) reset() {
	clear(c.tkts)
	clear(c.tstaged)
	clear(c.cfg)
	clear(c.cstaged)
}

func (c *stateCache) tickets() int { return len(c.tkts) }
