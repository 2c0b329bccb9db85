package gate

import (
	"crypto/sha256"
	"crypto/subtle"
	"sync"
	"time"
)

// tokenTTL is how long a checked gate token is trusted without reading the
// gate again. A token changed or a gate removed on the cluster keeps
// working on this node for at most this long; a removed gate's scans are
// still refused by the state machine (unknown gate).
const tokenTTL = time.Second

// tokenCache remembers gate tokens recently checked against the stored
// hash, so a scan does not read the gate record on every request.
type tokenCache struct {
	mu sync.RWMutex
	m  map[string]tokenEntry // gate ID -> last good token's hash
}

type tokenEntry struct {
	sum     [32]byte
	expires time.Time
}

func newTokenCache() *tokenCache { return &tokenCache{m: map[string]tokenEntry{}} }

// ok reports whether token was good for gate less than tokenTTL ago.
func (c *tokenCache) ok(gate, token string, now time.Time) bool {
	c.mu.RLock()
	e, found := c.m[gate]
	c.mu.RUnlock()
	if !found || now.After(e.expires) {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(sum[:], e.sum[:]) == 1
}

func (c *tokenCache) put(gate, token string, now time.Time) {
	e := tokenEntry{sum: sha256.Sum256([]byte(token)), expires: now.Add(tokenTTL)}
	c.mu.Lock()
	if len(c.m) > 100_000 { // gates are few; this only bounds a flood of bogus IDs
		clear(c.m)
	}
	c.m[gate] = e
	c.mu.Unlock()
}

// forget drops a gate, when this node changed or removed it.
func (c *tokenCache) forget(gate string) {
	c.mu.Lock()
	delete(c.m, gate)
	c.mu.Unlock()
}
