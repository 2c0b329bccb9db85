package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// Key-encryption key (KEK) errors.
var (
	// ErrNoKEK: a private key must be sealed or opened and no KEK was given.
	ErrNoKEK = errors.New("no key-encryption key (KEK): give the sales service --key-file or ADMIT_KEK")
	// ErrBadKEK: the KEK's text is not 64 hex digits.
	ErrBadKEK = errors.New("a key-encryption key is 64 hex digits (32 bytes)")
	// ErrKEKFileMode: the KEK file can be read by others than its owner.
	ErrKEKFileMode = errors.New("the key-encryption key file must be readable by its owner only (chmod 600)")
	// ErrWrongKEK: a private key was sealed with another KEK than the one
	// given (or its seal does not open: tampered, or the wrong key).
	ErrWrongKEK = errors.New("signing key sealed with another key-encryption key")
)

// KEK is a key-encryption key: AES-256-GCM over the signing keys' private
// halves, kept outside the database (a 0600 file, or the environment), so
// a copy of the database or of its backups alone cannot sign tickets.
type KEK struct {
	id   string
	aead cipher.AEAD
}

// NewKEK makes a KEK from 32 bytes.
func NewKEK(key []byte) (*KEK, error) {
	if len(key) != 32 {
		return nil, ErrBadKEK
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte("admit signing-key KEK id\x00"), key...))
	return &KEK{id: "kek-" + hex.EncodeToString(sum[:8]), aead: aead}, nil
}

// ParseKEK reads a KEK written as 64 hex digits (surrounding space ignored).
func ParseKEK(text string) (*KEK, error) {
	b, err := hex.DecodeString(strings.TrimSpace(text))
	if err != nil || len(b) != 32 {
		return nil, ErrBadKEK
	}
	return NewKEK(b)
}

// LoadKEKFile reads the KEK in path, which only its owner may read.
func LoadKEKFile(path string) (*KEK, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %v: %w", path, fi.Mode().Perm(), ErrKEKFileMode)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParseKEK(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// GenerateKEKFile writes a new random KEK to path (0600), refusing to
// overwrite a file that exists.
func GenerateKEKFile(path string) (*KEK, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("%s exists; not overwriting a key-encryption key: %w", path, err)
		}
		return nil, err
	}
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return NewKEK(key)
}

// ID names the KEK (not secret): signing_keys.kek_id says which KEK sealed
// a row.
func (k *KEK) ID() string { return k.id }

// aad binds a sealed key to its row.
func aad(keyID int) []byte { return []byte("admit signing key " + strconv.Itoa(keyID)) }

// seal encrypts the seed of signing key keyID: nonce || ciphertext.
func (k *KEK) seal(keyID int, seed []byte) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return k.aead.Seal(nonce, nonce, seed, aad(keyID)), nil
}

// open decrypts what seal made for keyID.
func (k *KEK) open(keyID int, sealed []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n+k.aead.Overhead() {
		return nil, fmt.Errorf("signing key %d: sealed key too short: %w", keyID, ErrWrongKEK)
	}
	seed, err := k.aead.Open(nil, sealed[:n], sealed[n:], aad(keyID))
	if err != nil {
		return nil, fmt.Errorf("signing key %d: %w", keyID, ErrWrongKEK)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("signing key %d: sealed seed has %d bytes", keyID, len(seed))
	}
	return seed, nil
}
