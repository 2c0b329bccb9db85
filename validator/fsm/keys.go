package fsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/validator/rules"
	"github.com/admitpark/admit/validator/ticket"
)

// Key prefixes; doc.go describes the layout.
const (
	prefixTicket = "t/"
	prefixZone   = "z/"
	prefixGate   = "g/"
	prefixScanID = "x/"
	prefixEvent  = "e/"
	prefixKey    = "k/" // k/<key id:1>: the Ed25519 public key, 32 bytes
)

var (
	keyEpoch  = []byte("m/epoch")  // uint64 BE: ExitAll count
	keySeq    = []byte("m/seq")    // uint64 BE: Seq of the last event written
	keyTZ     = []byte("m/tz")     // IANA name of the park time zone; absent = UTC
	keyPurged = []byte("m/purged") // Cursor (index, pos) of the last purged event
	keyPark   = []byte("m/park")   // the park ID this cluster serves; absent = not set
	// keyIDCardKey: the key of ID-number hashes (32 bytes); absent = not set.
	keyIDCardKey = []byte("m/idkey")
)

// Encoding versions of stored records (the first byte of each value).
const (
	ticketRecordV1 = 1
	gateRecordV1   = 1
	scanRecordV1   = 1
	scanRecordV2   = 2 // a credential scan's record
	eventRecordV1  = 1
)

func appendTicketKey(dst []byte, id [16]byte) []byte {
	return append(append(dst, prefixTicket...), id[:]...)
}

func appendSigningKey(dst []byte, id uint8) []byte {
	return append(append(dst, prefixKey...), id)
}

func appendZoneKey(dst []byte, zone string) []byte {
	return append(append(dst, prefixZone...), zone...)
}

func appendGateKey(dst []byte, gate string) []byte {
	return append(append(dst, prefixGate...), gate...)
}

// appendScanIDKey: scan IDs are scoped by gate (the gate ID is length
// prefixed), so one gate cannot collide with another's IDs.
func appendScanIDKey(dst []byte, gate, scanID string) []byte {
	dst = append(dst, prefixScanID...)
	dst = append(dst, byte(len(gate)))
	dst = append(dst, gate...)
	return append(dst, scanID...)
}

// Gate record: 0x01 | str Zone | TokenHash[32] | Direction.
func appendGateRecord(dst []byte, g *Gate) []byte {
	dst = append(dst, gateRecordV1)
	dst = appendString(dst, g.Zone)
	dst = append(dst, g.TokenHash[:]...)
	return append(dst, byte(g.Direction))
}

func decodeGateRecord(id string, v []byte) (Gate, error) {
	r := newReader(v, 0, "gate record")
	if len(v) == 0 || v[0] != gateRecordV1 {
		return Gate{}, fmt.Errorf("%w: gate %q record version", ErrVersion, id)
	}
	r.Off = 1
	g := Gate{ID: id}
	g.Zone = r.Str("zone", 1, ticket.MaxNameLen)
	r.Fixed(g.TokenHash[:], "token_hash")
	g.Direction = Direction(r.enum("direction", byte(numDirections-1)))
	return g, r.Finish()
}

// Ticket record: 0x01 | uint32 BE n | ticket.Ticket encoding (n bytes) |
// uvarint epoch | ticket.State encoding. Ticket and usage share one key so a
// scan reads one key; the state's tail is kept byte for byte on reissue. A
// state written in an epoch before the current one reads with nobody inside.
func appendTicketRecord(dst []byte, t *ticket.Ticket, epoch uint64, st ticket.State) []byte {
	dst = append(dst, ticketRecordV1, 0, 0, 0, 0)
	start := len(dst)
	dst = t.AppendBinary(dst)
	binary.BigEndian.PutUint32(dst[start-4:], uint32(len(dst)-start))
	dst = binary.AppendUvarint(dst, epoch)
	return st.AppendBinary(dst)
}

// emptyStateTail is the tail of a ticket record that never entered a zone.
var emptyStateTail = ticket.State{}.AppendBinary([]byte{0})

// splitTicketRecord returns the ticket encoding and the tail (epoch and
// state) of a ticket record, both aliasing v.
func splitTicketRecord(v []byte) (tk, tail []byte, err error) {
	if len(v) < 5 || v[0] != ticketRecordV1 {
		return nil, nil, fmt.Errorf("%w: ticket record header", ErrVersion)
	}
	n := binary.BigEndian.Uint32(v[1:])
	if uint64(n) > uint64(len(v)-5) {
		return nil, nil, fmt.Errorf("%w: ticket record length", ErrTruncated)
	}
	return v[5 : 5+n], v[5+n:], nil
}

// decodeTicketRecord decodes a ticket record into t and returns the state as
// of epoch.
func decodeTicketRecord(v []byte, epoch uint64, t *ticket.Ticket) (ticket.State, error) {
	tb, tail, err := splitTicketRecord(v)
	if err != nil {
		return ticket.State{}, err
	}
	if err := t.UnmarshalBinary(tb); err != nil {
		return ticket.State{}, err
	}
	r := newReader(tail, 0, "ticket record")
	written := r.Uvarint("epoch", math.MaxUint64)
	if r.Err != nil {
		return ticket.State{}, r.Err
	}
	var st ticket.State
	if err := st.UnmarshalBinary(tail[r.Off:]); err != nil {
		return ticket.State{}, err
	}
	if written < epoch {
		st = rules.ExitAll(st)
	}
	return st, nil
}

// Scan-ID record: 0x01 | the decision as a ScanResult (Rescan clear);
// for a credential scan 0x02 | kind | str value | the ScanResult, so that
// a retry is told from another visitor by what was presented.
func appendScanRecord(dst []byte, res *ScanResult) []byte {
	return appendScanResult(append(dst, scanRecordV1), res)
}

func appendCredScanRecord(dst []byte, c Credential, res *ScanResult) []byte {
	dst = append(dst, scanRecordV2, byte(c.Kind))
	return appendScanResult(appendString(dst, c.Value), res)
}

func decodeScanRecord(v []byte, out *ScanResult) error {
	_, err := decodeScanRecordCred(v, out)
	return err
}

// decodeScanRecordCred decodes a scan-ID record and returns the credential
// the scan presented (CredNone: a code).
func decodeScanRecordCred(v []byte, out *ScanResult) (Credential, error) {
	var c Credential
	if len(v) == 0 || (v[0] != scanRecordV1 && v[0] != scanRecordV2) {
		return c, fmt.Errorf("%w: scan record version", ErrVersion)
	}
	r := newReader(v, 1, "scan record")
	if v[0] == scanRecordV2 {
		c.Kind = CredentialKind(r.Byte("credential_kind"))
		c.Value = r.Str("credential", 1, MaxCredentialLen)
	}
	r.scanResult(out)
	return c, r.Finish()
}

func getUint64(txn cluster.Reader, key []byte) (uint64, error) {
	var v uint64
	err := getValue(txn, key, func(b []byte) error {
		if len(b) != 8 {
			return fmt.Errorf("fsm: %s has %d bytes", key, len(b))
		}
		v = binary.BigEndian.Uint64(b)
		return nil
	})
	if errors.Is(err, cluster.ErrNotFound) {
		return 0, nil
	}
	return v, err
}

// getValue calls fn with the value of key. It returns cluster.ErrNotFound
// when key is absent.
func getValue(txn cluster.Reader, key []byte, fn func([]byte) error) error {
	v, err := txn.Get(key)
	if err != nil {
		return err
	}
	return fn(v)
}

// getTicket reads the ticket record at key into t and returns its state
// as of epoch; found is false when there is none.
func getTicket(txn cluster.Reader, key []byte, epoch uint64, t *ticket.Ticket) (st ticket.State, found bool, err error) {
	err = getValue(txn, key, func(v []byte) (err error) {
		st, err = decodeTicketRecord(v, epoch, t)
		return err
	})
	if errors.Is(err, cluster.ErrNotFound) {
		return ticket.State{}, false, nil
	}
	return st, err == nil, err
}

func getZone(txn cluster.Reader, key []byte) (ticket.Zone, bool, error) {
	var z ticket.Zone
	err := getValue(txn, key, z.UnmarshalBinary)
	if errors.Is(err, cluster.ErrNotFound) {
		return z, false, nil
	}
	return z, err == nil, err
}

func getGate(txn cluster.Reader, key []byte, id string) (Gate, bool, error) {
	var g Gate
	err := getValue(txn, key, func(v []byte) (err error) {
		g, err = decodeGateRecord(id, v)
		return err
	})
	if errors.Is(err, cluster.ErrNotFound) {
		return g, false, nil
	}
	return g, err == nil, err
}
