package fsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/admitpark/admit/cluster"
)

// CredentialKind says what a credential is. Values are persisted: append
// only.
type CredentialKind uint8

const (
	// CredNone: the scan presents a code (TicketID, CodeVersion, Digest).
	CredNone CredentialKind = iota
	// CredCard: a member or IC card's number or UID, in the normal form of
	// gateapi.NormalizeCardValue.
	CredCard
	// CredIDCard: the keyed hash of a national ID number
	// (gateapi.IDCardHash, 64 lower-case hex digits). The number itself
	// never reaches the log: the node hashes what the gate read.
	CredIDCard
	// CredTicketNumber: the short number printed on a ticket (12 digits,
	// Luhn check digit), typed at a staffed gate.
	CredTicketNumber
	numCredentialKinds
)

var credentialKindNames = [numCredentialKinds]string{"", "card", "id_card", "ticket_number"}

// String returns the API name ("card", "id_card", "ticket_number"), "" for
// CredNone.
func (k CredentialKind) String() string {
	if k < numCredentialKinds {
		return credentialKindNames[k]
	}
	return "credential(" + strconv.Itoa(int(k)) + ")"
}

// ParseCredentialKind parses what String returns, CredNone excepted.
func ParseCredentialKind(s string) (CredentialKind, error) {
	for i, n := range credentialKindNames {
		if i > 0 && n == s {
			return CredentialKind(i), nil
		}
	}
	return 0, fmt.Errorf("fsm: unknown credential kind %q", s)
}

// Limits of credentials.
const (
	MaxCredentialLen = 64 // bytes in a credential value
	MaxCredentials   = 16 // credentials bound to one ticket
)

// Credential names a ticket by something the visitor carries. Value is in
// its normal form (see the kinds); the encoders check it (ValidCredential).
type Credential struct {
	Kind  CredentialKind
	Value string
}

// ValidCredential reports whether c is a credential in normal form: a
// card 1 to MaxCredentialLen upper-case letters and digits; an ID-card
// hash 64 lower-case hex digits; a ticket number 12 digits. (The check
// digit of a ticket number is the gate API's to check: a binding is what
// sales printed.)
func ValidCredential(c Credential) bool {
	v := c.Value
	switch c.Kind {
	case CredCard:
		return len(v) >= 1 && len(v) <= MaxCredentialLen && allBytes(v, func(b byte) bool { return b >= '0' && b <= '9' || b >= 'A' && b <= 'Z' })
	case CredIDCard:
		return len(v) == 64 && allBytes(v, func(b byte) bool { return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' })
	case CredTicketNumber:
		return len(v) == 12 && allBytes(v, func(b byte) bool { return b >= '0' && b <= '9' })
	}
	return false
}

func allBytes(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

// Credentials are indexed in the state (doc.go, "Key layout"):
//
//	c/<kind:1><value>   0x01 | ticket id[16]: the ticket the credential opens
//	b/<id:16>           0x01 | n | n × (kind | str value): the ticket's bindings
//
// Both are written only by issue commands, together: a ticket version that
// is written (applied) replaces the ticket's bindings as a whole; a
// credential bound to another ticket moves to this one (the newest issue
// binding it wins) and leaves that ticket's list. So c/ and b/ always
// agree, and a scan resolves a credential with one read.
const (
	prefixCred     = "c/"
	prefixBindings = "b/"
	credRecordV1   = 1
	bindingsV1     = 1
)

func appendCredKey(dst []byte, c Credential) []byte {
	return append(append(append(dst, prefixCred...), byte(c.Kind)), c.Value...)
}

func appendBindingsKey(dst []byte, id [16]byte) []byte {
	return append(append(dst, prefixBindings...), id[:]...)
}

func appendBindings(dst []byte, creds []Credential) []byte {
	dst = append(dst, bindingsV1)
	dst = binary.AppendUvarint(dst, uint64(len(creds)))
	for _, c := range creds {
		dst = append(dst, byte(c.Kind))
		dst = appendString(dst, c.Value)
	}
	return dst
}

func decodeBindings(v []byte) ([]Credential, error) {
	if len(v) == 0 || v[0] != bindingsV1 {
		return nil, fmt.Errorf("%w: bindings record version", ErrVersion)
	}
	r := newReader(v, 1, "bindings")
	creds := r.credentials()
	return creds, r.Finish()
}

// credentials reads n | n × (kind | str value), each valid.
func (r *reader) credentials() []Credential {
	n := r.Count("credentials", MaxCredentials, 2)
	if n == 0 {
		return nil
	}
	creds := make([]Credential, n)
	for i := range creds {
		creds[i].Kind = CredentialKind(r.Byte("credential_kind"))
		creds[i].Value = r.Str("credential", 1, MaxCredentialLen)
		if r.Err == nil && !ValidCredential(creds[i]) {
			r.Fail("credential", ErrMalformed)
		}
	}
	return creds
}

// checkCredentials rejects what the encoders refuse: too many, invalid,
// or one listed twice.
func checkCredentials(creds []Credential) error {
	if len(creds) > MaxCredentials {
		return fmt.Errorf("fsm: more than %d credentials on one ticket", MaxCredentials)
	}
	for i, c := range creds {
		if !ValidCredential(c) {
			return fmt.Errorf("fsm: credential %d (%s) is not in normal form", i, c.Kind)
		}
		if slices.Contains(creds[:i], c) {
			return fmt.Errorf("fsm: credential %d (%s) listed twice", i, c.Kind)
		}
	}
	return nil
}

// getBindings reads a ticket's bindings (none when absent).
func getBindings(txn cluster.Reader, id [16]byte) ([]Credential, error) {
	var creds []Credential
	err := getValue(txn, appendBindingsKey(nil, id), func(v []byte) (err error) {
		creds, err = decodeBindings(v)
		return err
	})
	if errors.Is(err, cluster.ErrNotFound) {
		return nil, nil
	}
	return creds, err
}

func putBindings(txn cluster.Txn, id [16]byte, creds []Credential) error {
	key := appendBindingsKey(nil, id)
	if len(creds) == 0 {
		return txn.Delete(key)
	}
	return txn.Set(key, appendBindings(nil, creds))
}

// credentialTicket returns the ticket a credential opens; found is false
// when it is bound to none.
func credentialTicket(txn cluster.Reader, key []byte) (id [16]byte, found bool, err error) {
	err = getValue(txn, key, func(v []byte) error {
		if len(v) != 17 || v[0] != credRecordV1 {
			return fmt.Errorf("%w: credential record %x", ErrMalformed, v)
		}
		copy(id[:], v[1:])
		return nil
	})
	if errors.Is(err, cluster.ErrNotFound) {
		return id, false, nil
	}
	return id, err == nil, err
}

// rebind makes creds the bindings of ticket id, whose new version is being
// written. Old issue commands carry no credentials: for them rebind only
// finds that the ticket has none (one read).
func rebind(txn cluster.Txn, id [16]byte, creds []Credential) error {
	old, err := getBindings(txn, id)
	if err != nil {
		return err
	}
	if len(old) == 0 && len(creds) == 0 {
		return nil
	}
	for _, c := range old {
		if slices.Contains(creds, c) {
			continue
		}
		key := appendCredKey(nil, c)
		owner, found, err := credentialTicket(txn, key)
		if err != nil {
			return err
		}
		if found && owner == id {
			if err := txn.Delete(key); err != nil {
				return err
			}
		}
	}
	for _, c := range creds {
		key := appendCredKey(nil, c)
		owner, found, err := credentialTicket(txn, key)
		if err != nil {
			return err
		}
		if found && owner == id {
			continue
		}
		if found { // bound to another ticket: it moves here
			if err := unbind(txn, owner, c); err != nil {
				return err
			}
		}
		if err := txn.Set(key, append([]byte{credRecordV1}, id[:]...)); err != nil {
			return err
		}
	}
	if slices.Equal(old, creds) {
		return nil
	}
	return putBindings(txn, id, slices.Clone(creds))
}

// unbind drops c from the bindings of ticket owner.
func unbind(txn cluster.Txn, owner [16]byte, c Credential) error {
	list, err := getBindings(txn, owner)
	if err != nil {
		return err
	}
	return putBindings(txn, owner, slices.DeleteFunc(list, func(o Credential) bool { return o == c }))
}

// TicketByCredential returns the ticket a credential opens on this node
// (what it has applied); found is false when none.
func TicketByCredential(db Viewer, c Credential) (id [16]byte, found bool, err error) {
	if !ValidCredential(c) {
		return id, false, nil
	}
	err = db.View(func(txn cluster.Reader) (err error) {
		id, found, err = credentialTicket(txn, appendCredKey(nil, c))
		return err
	})
	return id, found, err
}

// Credentials returns the credentials bound to a ticket on this node.
func Credentials(db Viewer, id [16]byte) ([]Credential, error) {
	var creds []Credential
	err := db.View(func(txn cluster.Reader) (err error) {
		creds, err = getBindings(txn, id)
		return err
	})
	return creds, err
}

// IDCardKey returns the key of ID-number hashes on this node (nil until
// sales sends one with the park's configuration).
func IDCardKey(db Viewer) ([]byte, error) {
	var key []byte
	err := db.View(func(txn cluster.Reader) error {
		err := getValue(txn, keyIDCardKey, func(v []byte) error { key = append([]byte(nil), v...); return nil })
		if errors.Is(err, cluster.ErrNotFound) {
			return nil
		}
		return err
	})
	return key, err
}
