package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are argon2id's cost parameters.
type Argon2Params struct {
	MemoryKiB uint32 // m
	Time      uint32 // t, passes
	Threads   uint8  // p, lanes
	SaltLen   uint32 // bytes
	KeyLen    uint32 // bytes of hash
}

// DefaultArgon2 is for production: 64 MiB, 2 passes, 2 lanes (RFC 9106
// and OWASP ranges; about 50-100 ms on one server core).
var DefaultArgon2 = Argon2Params{MemoryKiB: 64 * 1024, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}

// TestArgon2 is cheap, for tests only.
var TestArgon2 = Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Validate checks the parameters are usable.
func (p Argon2Params) Validate() error {
	switch {
	case p.Time < 1:
		return errors.New("argon2 time must be at least 1")
	case p.Threads < 1:
		return errors.New("argon2 threads must be at least 1")
	case p.MemoryKiB < 8*uint32(p.Threads):
		return fmt.Errorf("MemoryKiB must be at least 8 × Threads (%d)", 8*uint32(p.Threads))
	case p.SaltLen < 16:
		return errors.New("SaltLen must be at least 16 bytes")
	case p.KeyLen < 16:
		return errors.New("KeyLen must be at least 16 bytes")
	}
	return nil
}

var b64 = base64.RawStdEncoding // PHC strings use unpadded standard base64

// hashPassword returns password's argon2id PHC string with a fresh salt.
func (a *API) hashPassword(ctx context.Context, password string) (string, error) {
	p := a.cfg.Argon2
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	if err := a.acquireHash(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
	a.releaseHash()
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// verifyPassword reports whether password matches the PHC string, and
// whether the hash should be remade with the current parameters.
func (a *API) verifyPassword(ctx context.Context, phc, password string) (ok, rehash bool, err error) {
	p, salt, want, err := parsePHC(phc)
	if err != nil {
		return false, false, err
	}
	if err := a.acquireHash(ctx); err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	a.releaseHash()
	a.verifies.Add(1)
	ok = subtle.ConstantTimeCompare(got, want) == 1
	cur := a.cfg.Argon2
	rehash = p.MemoryKiB != cur.MemoryKiB || p.Time != cur.Time || p.Threads != cur.Threads ||
		uint32(len(salt)) != cur.SaltLen || uint32(len(want)) != cur.KeyLen
	return ok, rehash, nil
}

func (a *API) acquireHash(ctx context.Context) error {
	select {
	case a.hashSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *API) releaseHash() { <-a.hashSem }

// parsePHC reads "$argon2id$v=19$m=M,t=T,p=P$salt$hash".
func parsePHC(s string) (p Argon2Params, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("password hash is not an argon2id PHC string")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, fmt.Errorf("password hash: unsupported argon2 version %q", parts[2])
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, fmt.Errorf("password hash: bad parameters %q", parts[3])
	}
	if salt, err = b64.DecodeString(parts[4]); err != nil {
		return p, nil, nil, fmt.Errorf("password hash: bad salt: %w", err)
	}
	if key, err = b64.DecodeString(parts[5]); err != nil {
		return p, nil, nil, fmt.Errorf("password hash: bad hash: %w", err)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if p.Time < 1 || p.Threads < 1 || p.MemoryKiB < 8*uint32(p.Threads) || len(key) < 16 || p.MemoryKiB > 4<<20 || p.Time > 64 {
		return p, nil, nil, fmt.Errorf("password hash: parameters out of range %q", parts[3])
	}
	return p, salt, key, nil
}

// checkPassword applies the password policy.
func checkPassword(password string) error {
	if !utf8.ValidString(password) {
		return problem(ErrWeakPassword, http.StatusBadRequest, "bad_password", "password is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(password); n < MinPasswordLength {
		return problem(ErrWeakPassword, http.StatusBadRequest, "password_too_short",
			"password has %d characters; it needs at least %d", n, MinPasswordLength)
	}
	if len(password) > MaxPasswordBytes {
		return problem(ErrWeakPassword, http.StatusBadRequest, "password_too_long",
			"password is %d bytes; at most %d", len(password), MaxPasswordBytes)
	}
	return nil
}

// otpAlphabet has no look-alikes (0/o, 1/l/i), for passwords read aloud or
// copied from paper.
const otpAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

// randomText returns n characters from otpAlphabet, uniformly.
func randomText(n int) string {
	out := make([]byte, 0, n)
	buf := make([]byte, 1)
	limit := 256 - 256%len(otpAlphabet)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			panic(err) // crypto/rand does not fail on supported systems
		}
		if int(buf[0]) < limit {
			out = append(out, otpAlphabet[int(buf[0])%len(otpAlphabet)])
		}
	}
	return string(out)
}

// oneTimePassword returns a fresh password like "k7mq-2xhp-9tcw-rv4e"
// (16 random characters, about 79 bits).
func oneTimePassword() string {
	s := randomText(16)
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}
