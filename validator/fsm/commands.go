package fsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/admitpark/admit/validator/ticket"
)

// CommandVersion is the first byte of every command; the second is its
// CommandType. Commands live in the Raft log for as long as it is kept, so a
// format change adds a version and keeps decoding the old one.
const CommandVersion = 1

// CommandType is the second byte of a command and of its result. Values are
// persisted: append only.
type CommandType uint8

const (
	_ CommandType = iota
	TypeIssueBatch
	TypeRevoke
	TypeUpdate
	TypeConfigure
	TypeScanBatch
	TypeExitAll
	TypePurgeScans
	numCommandTypes
)

var commandTypeNames = [numCommandTypes]string{"", "issue_batch", "revoke", "update", "configure", "scan_batch", "exit_all", "purge_scans"}

func (t CommandType) String() string {
	if t > 0 && t < numCommandTypes {
		return commandTypeNames[t]
	}
	return fmt.Sprintf("command_type(%d)", uint8(t))
}

// Command is a decoded command; Type says which field holds it.
type Command struct {
	Type      CommandType
	Tickets   []ticket.Ticket // TypeIssueBatch
	Revoke    Revoke          // TypeRevoke
	Update    Update          // TypeUpdate
	Configure Configure       // TypeConfigure
	Scans     []Scan          // TypeScanBatch
	Purge     PurgeScans      // TypePurgeScans
}

// Smallest encodings of repeated items, to bound counts by the bytes present.
const (
	minTicketLen = 1 + 1 + 16 + 1 + 3 + 1 + 1 + 1 + 4 + 16 + 1 // length prefix + smallest ticket
	minScanLen   = 2 + 2 + 1 + 2 + 16 + 4 + 16
	minNameLen   = 2
	minZoneLen   = minNameLen + 2
	minGateLen   = 2*minNameLen + 32 + 1
)

// DecodeCommand decodes any command. It never panics, rejects anything the
// encoders would not produce, and allocates in proportion to the input.
func DecodeCommand(b []byte) (Command, error) {
	var c Command
	if len(b) < 2 {
		return c, fmt.Errorf("%w: command header", ErrTruncated)
	}
	if b[0] != CommandVersion {
		return c, fmt.Errorf("%w: command version %d", ErrVersion, b[0])
	}
	c.Type = CommandType(b[1])
	r := newReader(b, 2, c.Type.String())
	switch c.Type {
	case TypeIssueBatch:
		if n := r.Count("tickets", MaxIssueBatch, minTicketLen); n > 0 {
			c.Tickets = make([]ticket.Ticket, n)
			for i := range c.Tickets {
				raw := r.Bytes("ticket", math.MaxInt32)
				if r.Err != nil {
					break
				}
				if err := c.Tickets[i].UnmarshalBinary(raw); err != nil {
					r.Fail("ticket", err)
				} else if err := c.Tickets[i].Validate(); err != nil {
					r.Fail("ticket", fmt.Errorf("%w: %v", ErrMalformed, err))
				}
			}
		}
	case TypeRevoke:
		r.Fixed(c.Revoke.ID[:], "id")
		c.Revoke.Version = r.Uvarint("version", math.MaxUint64)
	case TypeUpdate:
		u := &c.Update
		r.Fixed(u.ID[:], "id")
		u.Version = r.Uvarint("version", math.MaxUint64)
		u.Op = UpdateOp(r.Byte("op"))
		if r.Err == nil && (u.Op == 0 || u.Op >= numUpdateOps) {
			r.Fail("op", ErrMalformed)
		}
		if u.Op == OpExtend {
			u.ValidUntil = r.Varint("valid_until")
		}
	case TypeConfigure:
		decodeConfigure(&r, &c.Configure)
	case TypeScanBatch:
		c.Scans = decodeScans(&r)
	case TypeExitAll:
	case TypePurgeScans:
		c.Purge.Before = r.Varint("before")
		c.Purge.Limit = int(r.Uvarint("limit", MaxPurgeMax))
	default:
		return Command{}, fmt.Errorf("%w: command type %d", ErrMalformed, b[1])
	}
	if err := r.Finish(); err != nil {
		return Command{}, err
	}
	return c, nil
}

func decodeScans(r *reader) []Scan {
	n := r.Count("scans", MaxScanBatch, minScanLen)
	if r.Err != nil {
		return nil
	}
	if n == 0 {
		r.Fail("scans", ErrMalformed)
		return nil
	}
	scans := make([]Scan, n)
	for i := range scans {
		s := &scans[i]
		s.ScanID = r.Str("scan_id", 1, MaxScanIDLen)
		s.Gate = r.Str("gate", 1, ticket.MaxNameLen)
		s.Direction = Direction(r.enum("direction", byte(numDirections-1)))
		s.Persons = r.U16("persons")
		r.Fixed(s.TicketID[:], "ticket_id")
		s.CodeVersion = r.U32("code_version")
		r.Fixed(s.Digest[:], "digest")
		if r.Err != nil {
			return nil
		}
	}
	return scans
}

func decodeConfigure(r *reader, c *Configure) {
	c.TimeZone = r.Str("time_zone", 0, MaxTimeZoneLen)
	if n := r.Count("zones", MaxConfigItems, minZoneLen); n > 0 {
		c.Zones = make([]ticket.Zone, n)
		for i := range c.Zones {
			z := &c.Zones[i]
			z.ID = r.Str("zone", 1, ticket.MaxNameLen)
			z.Cap = uint32(r.Uvarint("cap", math.MaxUint32))
			z.Warn = uint32(r.Uvarint("warn", math.MaxUint32))
		}
	}
	c.DeleteZones = decodeNames(r, "delete_zones")
	if n := r.Count("gates", MaxConfigItems, minGateLen); n > 0 {
		c.Gates = make([]Gate, n)
		for i := range c.Gates {
			g := &c.Gates[i]
			g.ID = r.Str("gate", 1, ticket.MaxNameLen)
			g.Zone = r.Str("gate_zone", 1, ticket.MaxNameLen)
			r.Fixed(g.TokenHash[:], "token_hash")
			g.Direction = Direction(r.enum("direction", byte(numDirections-1)))
		}
	}
	c.DeleteGates = decodeNames(r, "delete_gates")
}

func decodeNames(r *reader, field string) []string {
	n := r.Count(field, MaxConfigItems, minNameLen)
	if n == 0 {
		return nil
	}
	names := make([]string, n)
	for i := range names {
		names[i] = r.Str(field, 1, ticket.MaxNameLen)
	}
	return names
}

// appendTo appends the encoding of c without checking it; the exported
// encoders check first.
func (c *Command) appendTo(dst []byte) []byte {
	dst = append(dst, CommandVersion, byte(c.Type))
	switch c.Type {
	case TypeIssueBatch:
		dst = binary.AppendUvarint(dst, uint64(len(c.Tickets)))
		var buf []byte
		for i := range c.Tickets {
			buf = c.Tickets[i].AppendBinary(buf[:0])
			dst = binary.AppendUvarint(dst, uint64(len(buf)))
			dst = append(dst, buf...)
		}
	case TypeRevoke:
		dst = append(dst, c.Revoke.ID[:]...)
		dst = binary.AppendUvarint(dst, c.Revoke.Version)
	case TypeUpdate:
		dst = append(dst, c.Update.ID[:]...)
		dst = binary.AppendUvarint(dst, c.Update.Version)
		dst = append(dst, byte(c.Update.Op))
		if c.Update.Op == OpExtend {
			dst = binary.AppendVarint(dst, c.Update.ValidUntil)
		}
	case TypeConfigure:
		dst = appendConfigure(dst, &c.Configure)
	case TypeScanBatch:
		dst = appendScans(dst, c.Scans)
	case TypePurgeScans:
		dst = binary.AppendVarint(dst, c.Purge.Before)
		dst = binary.AppendUvarint(dst, uint64(c.Purge.Limit))
	}
	return dst
}

func appendScans(dst []byte, scans []Scan) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(scans)))
	for i := range scans {
		s := &scans[i]
		dst = appendString(dst, s.ScanID)
		dst = appendString(dst, s.Gate)
		dst = append(dst, byte(s.Direction))
		dst = binary.BigEndian.AppendUint16(dst, s.Persons)
		dst = append(dst, s.TicketID[:]...)
		dst = binary.BigEndian.AppendUint32(dst, s.CodeVersion)
		dst = append(dst, s.Digest[:]...)
	}
	return dst
}

func appendConfigure(dst []byte, c *Configure) []byte {
	dst = appendString(dst, c.TimeZone)
	dst = binary.AppendUvarint(dst, uint64(len(c.Zones)))
	for _, z := range c.Zones {
		dst = appendString(dst, z.ID)
		dst = binary.AppendUvarint(dst, uint64(z.Cap))
		dst = binary.AppendUvarint(dst, uint64(z.Warn))
	}
	dst = appendNames(dst, c.DeleteZones)
	dst = binary.AppendUvarint(dst, uint64(len(c.Gates)))
	for _, g := range c.Gates {
		dst = appendString(dst, g.ID)
		dst = appendString(dst, g.Zone)
		dst = append(dst, g.TokenHash[:]...)
		dst = append(dst, byte(g.Direction))
	}
	return appendNames(dst, c.DeleteGates)
}

func appendNames(dst []byte, names []string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(names)))
	for _, n := range names {
		dst = appendString(dst, n)
	}
	return dst
}

// EncodeIssueBatch encodes an IssueBatch: upsert each ticket when its
// Version is newer than the stored one. Tickets must pass Validate.
func EncodeIssueBatch(tickets []ticket.Ticket) ([]byte, error) {
	if len(tickets) == 0 || len(tickets) > MaxIssueBatch {
		return nil, fmt.Errorf("fsm: issue batch must hold 1 to %d tickets", MaxIssueBatch)
	}
	for i := range tickets {
		if err := tickets[i].Validate(); err != nil {
			return nil, fmt.Errorf("fsm: ticket %d (%s): %w", i, ticket.FormatID(tickets[i].ID), err)
		}
	}
	c := Command{Type: TypeIssueBatch, Tickets: tickets}
	return c.appendTo(make([]byte, 0, 2+len(tickets)*128)), nil
}

// EncodeRevoke encodes a Revoke.
func EncodeRevoke(r Revoke) []byte {
	c := Command{Type: TypeRevoke, Revoke: r}
	return c.appendTo(make([]byte, 0, 2+16+10))
}

// EncodeUpdate encodes an Update. ValidUntil must be 0 unless Op is OpExtend.
func EncodeUpdate(u Update) ([]byte, error) {
	if u.Op == 0 || u.Op >= numUpdateOps {
		return nil, fmt.Errorf("fsm: unknown update op %d", u.Op)
	}
	if u.Op != OpExtend && u.ValidUntil != 0 {
		return nil, errors.New("fsm: ValidUntil is only for extend")
	}
	c := Command{Type: TypeUpdate, Update: u}
	return c.appendTo(make([]byte, 0, 2+16+10+1+10)), nil
}

// EncodeConfigure checks c as Apply will (except gate-zone references to
// zones already stored) and encodes it.
func EncodeConfigure(c Configure) ([]byte, error) {
	if err := c.checkFormat(); err != nil {
		return nil, err
	}
	if err := c.checkConsistent(); err != nil {
		return nil, err
	}
	if _, err := loadLocation(c.TimeZone); c.TimeZone != "" && err != nil {
		return nil, err
	}
	cmd := Command{Type: TypeConfigure, Configure: c}
	return cmd.appendTo(nil), nil
}

// checkFormat rejects what the decoder would reject.
func (c *Configure) checkFormat() error {
	if len(c.TimeZone) > MaxTimeZoneLen {
		return fmt.Errorf("fsm: time zone name longer than %d bytes", MaxTimeZoneLen)
	}
	if max(len(c.Zones), len(c.DeleteZones), len(c.Gates), len(c.DeleteGates)) > MaxConfigItems {
		return fmt.Errorf("fsm: more than %d items in a configure list", MaxConfigItems)
	}
	for _, z := range c.Zones {
		if !ticket.ValidName(z.ID) {
			return fmt.Errorf("fsm: zone ID %q must be 1 to %d bytes", z.ID, ticket.MaxNameLen)
		}
	}
	for _, g := range c.Gates {
		if !ticket.ValidName(g.ID) || !ticket.ValidName(g.Zone) {
			return fmt.Errorf("fsm: gate %q: gate and zone IDs must be 1 to %d bytes", g.ID, ticket.MaxNameLen)
		}
		if !g.Direction.Valid() {
			return fmt.Errorf("fsm: gate %q: unknown direction %d", g.ID, g.Direction)
		}
	}
	for _, n := range slices.Concat(c.DeleteZones, c.DeleteGates) {
		if !ticket.ValidName(n) {
			return fmt.Errorf("fsm: ID %q must be 1 to %d bytes", n, ticket.MaxNameLen)
		}
	}
	return nil
}

// checkConsistent rejects IDs listed twice and gates naming a zone the
// command deletes.
func (c *Configure) checkConsistent() error {
	zones := make(map[string]bool, len(c.Zones)+len(c.DeleteZones))
	for _, z := range c.Zones {
		if zones[z.ID] {
			return fmt.Errorf("fsm: zone %q listed twice", z.ID)
		}
		zones[z.ID] = true
	}
	deleted := make(map[string]bool, len(c.DeleteZones))
	for _, id := range c.DeleteZones {
		if zones[id] {
			return fmt.Errorf("fsm: zone %q listed twice", id)
		}
		zones[id], deleted[id] = true, true
	}
	gates := make(map[string]bool, len(c.Gates)+len(c.DeleteGates))
	for _, g := range c.Gates {
		if gates[g.ID] {
			return fmt.Errorf("fsm: gate %q listed twice", g.ID)
		}
		if deleted[g.Zone] {
			return fmt.Errorf("fsm: gate %q is in zone %q, which is deleted", g.ID, g.Zone)
		}
		gates[g.ID] = true
	}
	for _, id := range c.DeleteGates {
		if gates[id] {
			return fmt.Errorf("fsm: gate %q listed twice", id)
		}
		gates[id] = true
	}
	return nil
}

// EncodeScanBatch encodes a ScanBatch of 1 to MaxScanBatch scans.
func EncodeScanBatch(scans []Scan) ([]byte, error) {
	return AppendScanBatch(make([]byte, 0, ScanBatchSize(scans)), scans)
}

// AppendScanBatch appends the encoding of a ScanBatch to dst, so a node can
// reuse one buffer across batches.
func AppendScanBatch(dst []byte, scans []Scan) ([]byte, error) {
	if len(scans) == 0 || len(scans) > MaxScanBatch {
		return dst, fmt.Errorf("fsm: scan batch must hold 1 to %d scans", MaxScanBatch)
	}
	for i := range scans {
		if err := scans[i].check(); err != nil {
			return dst, fmt.Errorf("scan %d: %w", i, err)
		}
	}
	dst = append(dst, CommandVersion, byte(TypeScanBatch))
	return appendScans(dst, scans), nil
}

// ScanBatchSize returns an upper bound of the encoded size of scans.
func ScanBatchSize(scans []Scan) int {
	n := 2 + binary.MaxVarintLen64
	for i := range scans {
		n += minScanLen + len(scans[i].ScanID) + len(scans[i].Gate)
	}
	return n
}

// EncodeExitAll encodes the nightly ExitAll: nobody is inside any more.
func EncodeExitAll() []byte { return []byte{CommandVersion, byte(TypeExitAll)} }

// EncodePurgeScans encodes a PurgeScans.
func EncodePurgeScans(p PurgeScans) ([]byte, error) {
	if p.Limit < 0 || p.Limit > MaxPurgeMax {
		return nil, fmt.Errorf("fsm: purge limit must be 0 to %d", MaxPurgeMax)
	}
	c := Command{Type: TypePurgeScans, Purge: p}
	return c.appendTo(make([]byte, 0, 2+20)), nil
}
