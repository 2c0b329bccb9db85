package code

import (
	"crypto/ed25519"
	"fmt"
	"sync"
	"sync/atomic"
)

type keyEntry struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

type keyTable [256]keyEntry

// KeySet holds public keys by KeyID, and private keys where this process
// signs. It is safe for concurrent use, including adding keys while other
// goroutines verify: readers load an immutable table, writers copy it, so
// the per-scan path takes no lock. The zero KeySet is empty and usable.
type KeySet struct {
	mu   sync.Mutex // serialises writers
	keys atomic.Pointer[keyTable]
}

// NewKeySet returns an empty KeySet.
func NewKeySet() *KeySet { return &KeySet{} }

// AddPublic registers pub under id. Adding the same key again is a no-op;
// a different key under a used id is ErrKeyConflict, since silently
// replacing a key would change which codes verify.
func (k *KeySet) AddPublic(id uint8, pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: public key for id %d has %d bytes", ErrInvalidKey, id, len(pub))
	}
	return k.add(id, keyEntry{pub: pub})
}

// AddPrivate registers priv (and its public half) under id for signing.
func (k *KeySet) AddPrivate(id uint8, priv ed25519.PrivateKey) error {
	if len(priv) != ed25519.PrivateKeySize {
		return fmt.Errorf("%w: private key for id %d has %d bytes", ErrInvalidKey, id, len(priv))
	}
	// A private key carries its public half; a corrupt one would sign codes
	// that never verify, so check it now rather than at the gate.
	pub := ed25519.NewKeyFromSeed(priv.Seed()).Public().(ed25519.PublicKey)
	if !pub.Equal(priv.Public()) {
		return fmt.Errorf("%w: private key for id %d does not match its public half", ErrInvalidKey, id)
	}
	return k.add(id, keyEntry{pub: pub, priv: priv})
}

func (k *KeySet) add(id uint8, e keyEntry) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	var t keyTable
	if old := k.keys.Load(); old != nil {
		t = *old
	}
	cur := t[id]
	if cur.pub != nil && !cur.pub.Equal(e.pub) {
		return fmt.Errorf("%w: id %d", ErrKeyConflict, id)
	}
	// Copy the keys so later changes to the caller's slices cannot alter ours.
	if cur.pub == nil {
		cur.pub = append(ed25519.PublicKey(nil), e.pub...)
	}
	if e.priv != nil && cur.priv == nil {
		cur.priv = append(ed25519.PrivateKey(nil), e.priv...)
	}
	t[id] = cur
	k.keys.Store(&t)
	return nil
}

func (k *KeySet) entry(id uint8) keyEntry {
	if t := k.keys.Load(); t != nil {
		return t[id]
	}
	return keyEntry{}
}

// Verify checks the code's signature against the key named by its KeyID.
// An unknown key id (ErrUnknownKey) and a bad signature (ErrBadSignature)
// are distinct: the first usually means a handheld missed a key rotation.
func (k *KeySet) Verify(c Code) error {
	if c.b[offFormat] != FormatVersion {
		return errVersion
	}
	pub := k.entry(c.b[offKeyID]).pub
	if pub == nil {
		return fmt.Errorf("%w: no public key for id %d", ErrUnknownKey, c.b[offKeyID])
	}
	return VerifyKey(pub, c)
}

// Sign signs c with the private key registered under c.KeyID.
func (k *KeySet) Sign(c Claims) (string, error) {
	priv := k.entry(c.KeyID).priv
	if priv == nil {
		return "", fmt.Errorf("%w: no private key for id %d", ErrUnknownKey, c.KeyID)
	}
	return Sign(priv, c)
}
