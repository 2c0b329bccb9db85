package fsm

import (
	"bytes"

	"github.com/dgraph-io/badger/v4"
)

// ticketCache keeps ticket records in memory so that a scan does not pay a
// Badger read (a search through the memtables and, for most tickets, the
// on-disk tables) on every replica. Badger stays the record: the cache
// holds copies of values exactly as written there, learned on first read
// and on every committed write.
//
// Writes of the open transaction are staged and become visible to later
// reads at once (as Badger's own transaction would show them); they reach
// the committed map only when the cluster reports the commit (Committed),
// and are dropped when it throws the transaction away (Discarded). The
// cache is used only from the apply goroutine: Apply, Committed, Discarded
// and Reload are never concurrent.
type ticketCache struct {
	max    int
	tkts   map[[16]byte][]byte
	staged map[[16]byte][]byte
}

func newTicketCache(max int) *ticketCache {
	return &ticketCache{max: max, tkts: make(map[[16]byte][]byte), staged: make(map[[16]byte][]byte)}
}

func cacheID(key []byte) (id [16]byte) {
	copy(id[:], key[len(prefixTicket):])
	return id
}

// get calls fn with the record at the ticket key, or returns
// badger.ErrKeyNotFound. A nil cache reads Badger.
func (c *ticketCache) get(txn *badger.Txn, key []byte, fn func([]byte) error) error {
	if c == nil {
		return getValue(txn, key, fn)
	}
	id := cacheID(key)
	if v, ok := c.staged[id]; ok {
		return fn(v)
	}
	if v, ok := c.tkts[id]; ok {
		return fn(v)
	}
	item, err := txn.Get(key)
	if err != nil {
		return err
	}
	// Not staged, so this is the committed value: safe to keep even if
	// the transaction is discarded later.
	v, err := item.ValueCopy(nil)
	if err != nil {
		return err
	}
	if len(c.tkts) < c.max {
		c.tkts[id] = v
	}
	return fn(v)
}

// set writes the record at the ticket key. val must stay unchanged until
// the transaction commits (Badger keeps it); the cache keeps its own copy.
func (c *ticketCache) set(txn *badger.Txn, key, val []byte) error {
	if err := txn.Set(key, val); err != nil {
		return err
	}
	if c != nil {
		c.staged[cacheID(key)] = bytes.Clone(val)
	}
	return nil
}

func (c *ticketCache) committed() {
	for id, v := range c.staged {
		if _, ok := c.tkts[id]; ok || len(c.tkts) < c.max {
			c.tkts[id] = v // a full cache keeps what it has, never a stale copy
		}
	}
	clear(c.staged)
}

func (c *ticketCache) discarded() { clear(c.staged) }

func (c *ticketCache) reset() {
	clear(c.tkts)
	clear(c.staged)
}

func (c *ticketCache) len() int { return len(c.tkts) }
