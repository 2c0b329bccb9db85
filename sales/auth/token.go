package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"math"
	"net"
	"sync"
	"time"
)

// Token prefixes tell a session token from a distributor's API key.
const (
	SessionPrefix = "st_"
	APIKeyPrefix  = "ak_"
	tokenBytes    = 32
	// keyPrefixLen is how much of an API key is kept in clear (api_keys.prefix)
	// to tell keys apart: "ak_" and 8 characters.
	keyPrefixLen = len(APIKeyPrefix) + 8
)

// newToken returns prefix + base64url(32 random bytes) and its SHA-256.
func newToken(prefix string) (token string, hash []byte) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	token = prefix + base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token)
}

// hashToken is what the database keeps of a token: SHA-256 of the whole
// string, prefix included.
func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// wellFormed reports whether token has prefix and a 32-byte base64url body.
func wellFormed(token, prefix string) bool {
	if len(token) != len(prefix)+base64.RawURLEncoding.EncodedLen(tokenBytes) || token[:len(prefix)] != prefix {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(token[len(prefix):])
	return err == nil
}

// limiter is a token bucket per remote host, refilled lazily: no goroutine.
// Full buckets are dropped when the map grows, so it stays small.
type limiter struct {
	mu      sync.Mutex
	burst   float64
	perSec  float64
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

const limiterPruneAt = 10000

func newLimiter(burst int, perSec float64) *limiter {
	return &limiter{burst: float64(burst), perSec: perSec, buckets: map[string]*bucket{}}
}

// allow takes one token for remoteAddr's host at now; when none is left it
// says how long until one is.
func (l *limiter) allow(remoteAddr string, now time.Time) (bool, time.Duration) {
	host := remoteAddr
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		host = h
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[host]
	if !ok {
		if len(l.buckets) >= limiterPruneAt {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[host] = b
	}
	l.refill(b, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration(math.Ceil((1 - b.tokens) / l.perSec * float64(time.Second)))
	return false, wait
}

func (l *limiter) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.perSec)
		b.at = now
	}
}

// prune drops buckets that have refilled completely (they are the same as
// no bucket).
func (l *limiter) prune(now time.Time) {
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
}
