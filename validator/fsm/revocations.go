package fsm

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/admitpark/admit/cluster"
)

// Revocations. When Apply revokes a ticket (a Revoke, or an issue that
// brings a ticket's revoked version) it writes an ordered record,
// r/<index:8 BE><pos:4 BE> (the entry, and the ticket's place in an issue
// batch), so that an offline-capable gate agent can follow revocations
// while online (Revocations, GET /v1/revocations) and deny the ticket
// when it is cut off. The prefix is iterated, unlike t/ x/ c/ b/.
//
// A record goes once the ticket's validity ended before the PurgeScans
// cutoff (its code is refused offline as expired from then on anyway;
// the cutoff, not the apply time, keeps Apply deterministic and leaves a
// scan retention of slack). A ticket without an end of validity keeps its
// record. Records are deleted out of order: a reader's cursor stays valid.

const (
	prefixRevocation   = "r/"
	revocationRecordV1 = 1
	revocationKeyLen   = len(prefixRevocation) + 12
)

// Revocation is one ticket revoked, in log order.
type Revocation struct {
	Cursor     Cursor
	TicketID   [16]byte
	Version    uint64 // the revoked version
	ValidUntil int64  // unix ms; 0 = open
	At         int64  // log time, unix ms
}

func appendRevocationKey(dst []byte, c Cursor) []byte {
	return appendCursor(append(dst, prefixRevocation...), c)
}

// Revocation record: 0x01 | ticket[16] | uvarint version | varint valid until | varint at.
func appendRevocationRecord(dst []byte, r *Revocation) []byte {
	dst = append(dst, revocationRecordV1)
	dst = append(dst, r.TicketID[:]...)
	dst = binary.AppendUvarint(dst, r.Version)
	dst = binary.AppendVarint(dst, r.ValidUntil)
	return binary.AppendVarint(dst, r.At)
}

func decodeRevocation(k, v []byte) (Revocation, error) {
	var r Revocation
	if len(k) != revocationKeyLen {
		return r, fmt.Errorf("%w: revocation key %x", ErrMalformed, k)
	}
	r.Cursor = Cursor{Index: binary.BigEndian.Uint64(k[2:]), Pos: binary.BigEndian.Uint32(k[10:])}
	if len(v) == 0 || v[0] != revocationRecordV1 {
		return r, fmt.Errorf("%w: revocation record version", ErrVersion)
	}
	rd := newReader(v, 1, "revocation record")
	rd.Fixed(r.TicketID[:], "ticket_id")
	r.Version = rd.Uvarint("version", 1<<63)
	r.ValidUntil = rd.Varint("valid_until")
	r.At = rd.Varint("at")
	return r, rd.Finish()
}

// putRevocation records a ticket revoked by the entry at index, position pos.
func putRevocation(txn cluster.Txn, r Revocation) error {
	return txn.Set(appendRevocationKey(nil, r.Cursor), appendRevocationRecord(nil, &r))
}

// Revocations returns up to limit revocations after the cursor, oldest
// first, and the cursor to read on from (after, when there are none).
func Revocations(db Viewer, after Cursor, limit int) ([]Revocation, Cursor, error) {
	if limit <= 0 {
		return nil, after, errors.New("fsm: Revocations limit must be positive")
	}
	var out []Revocation
	err := db.View(func(txn cluster.Reader) error {
		out = nil
		return txn.Iterate([]byte(prefixRevocation), appendRevocationKey(nil, after), func(k, v []byte) error {
			if len(out) >= limit {
				return cluster.ErrStop
			}
			r, err := decodeRevocation(k, v)
			if err != nil {
				return err
			}
			if r.Cursor == after && after != (Cursor{}) {
				return nil
			}
			out = append(out, r)
			return nil
		})
	})
	next := after
	if len(out) > 0 {
		next = out[len(out)-1].Cursor
	}
	return out, next, err
}

// purgeRevocations deletes up to limit records of tickets whose validity
// ended before the cutoff; it returns how many.
func purgeRevocations(txn cluster.Txn, before int64, limit int) (int, error) {
	var dels [][]byte
	err := txn.Iterate([]byte(prefixRevocation), nil, func(k, v []byte) error {
		if len(dels) >= limit {
			return cluster.ErrStop
		}
		r, err := decodeRevocation(k, v)
		if err != nil {
			return err
		}
		if r.ValidUntil != 0 && r.ValidUntil < before {
			dels = append(dels, k)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range dels {
		if err := txn.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(dels), nil
}
