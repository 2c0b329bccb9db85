package fsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/admitpark/admit/validator/code"
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
	// TypeIssueBatch2 is an IssueBatch whose tickets carry their park and
	// code (Issue), answered like an IssueBatch. The encoders write it only
	// when some ticket has either; otherwise TypeIssueBatch.
	TypeIssueBatch2
	// TypeConfigure2 is a Configure that also sets the park ID or the
	// signing keys, answered like a Configure. The encoder writes it only
	// when either is set; otherwise TypeConfigure.
	TypeConfigure2
	// TypeIssueBatch3 is an IssueBatch2 whose tickets also carry their
	// credentials; written only when some ticket has any.
	TypeIssueBatch3
	// TypeConfigure3 is a Configure2 that also sets the ID-card hash key;
	// written only when it does.
	TypeConfigure3
	// TypeScanBatch2 is a ScanBatch whose scans may carry a credential in
	// place of a code, a device time, or an offline decision; written
	// only when some scan does (commands_ext.go).
	TypeScanBatch2
	// TypeConfigure4 is a Configure whose zones carry their mask bits
	// (ticket.Zone.MaskBit); written only when some zone has one.
	TypeConfigure4
	numCommandTypes
)

var commandTypeNames = [numCommandTypes]string{"", "issue_batch", "revoke", "update", "configure", "scan_batch", "exit_all", "purge_scans",
	"issue_batch2", "configure2", "issue_batch3", "configure3", "scan_batch2", "configure4"}

func (t CommandType) String() string {
	if t > 0 && t < numCommandTypes {
		return commandTypeNames[t]
	}
	return fmt.Sprintf("command_type(%d)", uint8(t))
}

// Command is a decoded command; Type says which field holds it.
type Command struct {
	Type      CommandType
	Issues    []Issue    // TypeIssueBatch (Ticket only), TypeIssueBatch2 and 3
	Revoke    Revoke     // TypeRevoke
	Update    Update     // TypeUpdate
	Configure Configure  // TypeConfigure, TypeConfigure2, 3 and 4
	Scans     []Scan     // TypeScanBatch and TypeScanBatch2
	Purge     PurgeScans // TypePurgeScans
}

// Smallest encodings of repeated items, to bound counts by the bytes present.
const (
	minTicketLen = 1 + 1 + 16 + 1 + 3 + 1 + 1 + 1 + 4 + 16 + 1 // length prefix + smallest ticket
	minScanLen   = 2 + 2 + 1 + 2 + 16 + 4 + 16
	minNameLen   = 2
	minZoneLen   = minNameLen + 2
	minGateLen   = 2*minNameLen + 32 + 1
	minIssueLen  = minTicketLen + 1 + 1 // ticket, empty park, no code
	keyLen       = 1 + 32
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
			c.Issues = make([]Issue, n)
			for i := range c.Issues {
				if !r.ticket(&c.Issues[i].Ticket) {
					break
				}
			}
		}
	case TypeIssueBatch2, TypeIssueBatch3:
		c.Issues = decodeIssues(&r, c.Type == TypeIssueBatch3)
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
	case TypeConfigure, TypeConfigure2, TypeConfigure3, TypeConfigure4:
		decodeConfigure(&r, &c.Configure, c.Type)
	case TypeScanBatch, TypeScanBatch2:
		c.Scans = decodeScans(&r, c.Type == TypeScanBatch2)
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

// ticket reads one length-prefixed ticket that passes Validate.
func (r *reader) ticket(t *ticket.Ticket) bool {
	raw := r.Bytes("ticket", math.MaxInt32)
	if r.Err != nil {
		return false
	}
	if err := t.UnmarshalBinary(raw); err != nil {
		r.Fail("ticket", err)
	} else if err := t.Validate(); err != nil {
		r.Fail("ticket", fmt.Errorf("%w: %v", ErrMalformed, err))
	}
	return r.Err == nil
}

// decodeIssues reads the body of an IssueBatch2: count, then per ticket
// bytes ticket | str park | bytes code (| credentials in an IssueBatch3).
// At least one ticket has a park or a code (else the command is an
// IssueBatch); in an IssueBatch3, at least one has credentials.
func decodeIssues(r *reader, creds bool) []Issue {
	n := r.Count("tickets", MaxIssueBatch, minIssueLen)
	if r.Err != nil || n == 0 {
		r.Fail("tickets", ErrMalformed)
		return nil
	}
	issues := make([]Issue, n)
	for i := range issues {
		is := &issues[i]
		if !r.ticket(&is.Ticket) {
			return nil
		}
		is.Park = r.Str("park", 0, ticket.MaxNameLen)
		if b := r.Bytes("code", code.MaxBinaryLen); len(b) > 0 {
			is.Code = b
		}
		if creds {
			is.Credentials = r.credentials()
			if r.Err == nil && checkCredentials(is.Credentials) != nil {
				r.Fail("credentials", ErrMalformed)
			}
		}
	}
	if r.Err == nil && (creds && !hasCredentials(issues) || !creds && !hasProofs(issues)) {
		r.Fail("tickets", ErrMalformed) // canonical: that is an IssueBatch or IssueBatch2
	}
	return issues
}

// hasProofs reports whether any issue carries a park or a code.
func hasProofs(issues []Issue) bool {
	for i := range issues {
		if issues[i].Park != "" || len(issues[i].Code) > 0 {
			return true
		}
	}
	return false
}

func decodeScans(r *reader, ext bool) []Scan {
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
		if ext {
			r.scanExt(s)
		}
		if r.Err != nil {
			return nil
		}
	}
	if ext && !anyExt(scans) {
		r.Fail("scans", ErrMalformed) // canonical: that is a ScanBatch
		return nil
	}
	return scans
}

func decodeConfigure(r *reader, c *Configure, t CommandType) {
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
	if t == TypeConfigure {
		return
	}
	// Configure2: str park | uvarint n | n × (key id | public[32]), with a
	// park or a key (canonical: else it is a Configure).
	c.Park = r.Str("park", 0, ticket.MaxNameLen)
	if n := r.Count("keys", MaxKeys, keyLen); n > 0 {
		c.Keys = make([]Key, n)
		for i := range c.Keys {
			c.Keys[i].ID = r.Byte("key_id")
			r.Fixed(c.Keys[i].Public[:], "public_key")
		}
	}
	if t == TypeConfigure3 {
		// Configure3: the Configure2 body (park and keys may be empty) |
		// id-card key[32].
		c.IDCardKey = make([]byte, IDCardKeyLen)
		r.Fixed(c.IDCardKey, "id_card_key")
		return
	}
	if t == TypeConfigure4 {
		// Configure4: the Configure2 body (park and keys may be empty) |
		// 0, or 1 | id-card key[32] | one mask bit per zone (0: unknown,
		// else 1 + bit), at least one not 0.
		switch r.Byte("id_card_flag") {
		case 0:
		case 1:
			c.IDCardKey = make([]byte, IDCardKeyLen)
			r.Fixed(c.IDCardKey, "id_card_key")
		default:
			r.Fail("id_card_flag", ErrMalformed)
		}
		known := false
		for i := range c.Zones {
			b := r.Byte("mask_bit")
			if b > ticket.MaxMaskBit {
				r.Fail("mask_bit", ErrMalformed)
			}
			c.Zones[i].MaskBit, known = b, known || b != 0
		}
		if r.Err == nil && !known {
			r.Fail("mask_bit", ErrMalformed)
		}
		return
	}
	if r.Err == nil && c.Park == "" && len(c.Keys) == 0 {
		r.Fail("park", ErrMalformed)
	}
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
	case TypeIssueBatch, TypeIssueBatch2, TypeIssueBatch3:
		dst = binary.AppendUvarint(dst, uint64(len(c.Issues)))
		var buf []byte
		for i := range c.Issues {
			is := &c.Issues[i]
			buf = is.Ticket.AppendBinary(buf[:0])
			dst = binary.AppendUvarint(dst, uint64(len(buf)))
			dst = append(dst, buf...)
			if c.Type != TypeIssueBatch {
				dst = appendString(dst, is.Park)
				dst = binary.AppendUvarint(dst, uint64(len(is.Code)))
				dst = append(dst, is.Code...)
			}
			if c.Type == TypeIssueBatch3 {
				dst = appendCredentials(dst, is.Credentials)
			}
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
	case TypeConfigure, TypeConfigure2, TypeConfigure3, TypeConfigure4:
		dst = appendConfigure(dst, &c.Configure, c.Type)
	case TypeScanBatch, TypeScanBatch2:
		dst = appendScans(dst, c.Scans, c.Type == TypeScanBatch2)
	case TypePurgeScans:
		dst = binary.AppendVarint(dst, c.Purge.Before)
		dst = binary.AppendUvarint(dst, uint64(c.Purge.Limit))
	}
	return dst
}

func appendScans(dst []byte, scans []Scan, ext bool) []byte {
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
		if ext {
			dst = appendScanExt(dst, s)
		}
	}
	return dst
}

func appendConfigure(dst []byte, c *Configure, t CommandType) []byte {
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
	dst = appendNames(dst, c.DeleteGates)
	if t == TypeConfigure {
		return dst
	}
	dst = appendString(dst, c.Park)
	dst = binary.AppendUvarint(dst, uint64(len(c.Keys)))
	for _, k := range c.Keys {
		dst = append(dst, k.ID)
		dst = append(dst, k.Public[:]...)
	}
	if t == TypeConfigure3 {
		dst = append(dst, c.IDCardKey...)
	}
	if t == TypeConfigure4 {
		if c.IDCardKey != nil {
			dst = append(dst, 1)
			dst = append(dst, c.IDCardKey...)
		} else {
			dst = append(dst, 0)
		}
		for _, z := range c.Zones {
			dst = append(dst, z.MaskBit)
		}
	}
	return dst
}

func appendNames(dst []byte, names []string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(names)))
	for _, n := range names {
		dst = appendString(dst, n)
	}
	return dst
}

// EncodeIssueBatch encodes tickets without codes or parks (digest only):
// EncodeIssues with nothing but the tickets. Once the cluster holds
// signing keys, apply refuses such tickets (OutcomeUnsigned).
func EncodeIssueBatch(tickets []ticket.Ticket) ([]byte, error) {
	issues := make([]Issue, len(tickets))
	for i := range tickets {
		issues[i].Ticket = tickets[i]
	}
	return EncodeIssues(issues)
}

// EncodeIssues encodes an issue command: upsert each ticket when its
// Version is newer than the stored one and its proofs hold (see Issue and
// doc.go). Tickets must pass Validate, text must be clean
// (ticket.CleanText), a park a valid name, a code well formed
// (code.FromBinary). It writes an IssueBatch when no ticket carries a park
// or a code, else an IssueBatch2.
func EncodeIssues(issues []Issue) ([]byte, error) {
	if len(issues) == 0 || len(issues) > MaxIssueBatch {
		return nil, fmt.Errorf("fsm: issue batch must hold 1 to %d tickets", MaxIssueBatch)
	}
	size := 2 + binary.MaxVarintLen64
	for i := range issues {
		is := &issues[i]
		if err := is.check(); err != nil {
			return nil, fmt.Errorf("fsm: ticket %d (%s): %w", i, ticket.FormatID(is.Ticket.ID), err)
		}
		size += 128 + len(is.Park) + len(is.Code) + len(is.Credentials)*(2+MaxCredentialLen)
	}
	c := Command{Type: TypeIssueBatch, Issues: issues}
	switch {
	case hasCredentials(issues):
		c.Type = TypeIssueBatch3
	case hasProofs(issues):
		c.Type = TypeIssueBatch2
	}
	return c.appendTo(make([]byte, 0, size)), nil
}

// check rejects what EncodeIssues refuses.
func (is *Issue) check() error {
	t := &is.Ticket
	if err := t.Validate(); err != nil {
		return err
	}
	if !ticket.CleanText(t.Product) || !ticket.CleanText(t.Holder) {
		return fmt.Errorf("%w: product or holder", ErrNotText)
	}
	for _, z := range t.Zones {
		if !ticket.CleanText(z) {
			return fmt.Errorf("%w: zone %q", ErrNotText, z)
		}
	}
	if is.Park != "" && !ticket.ValidCleanName(is.Park) {
		return fmt.Errorf("%w: park %q must be 1 to %d bytes of clean text", ErrNotText, is.Park, ticket.MaxNameLen)
	}
	if len(is.Code) > 0 {
		if _, err := code.FromBinary(is.Code); err != nil {
			return err
		}
	}
	return checkCredentials(is.Credentials)
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
// zones already stored and the park ID already set) and encodes it. Every
// name must be clean text (ticket.CleanText).
func EncodeConfigure(c Configure) ([]byte, error) {
	if err := c.checkFormat(); err != nil {
		return nil, err
	}
	if err := c.checkText(); err != nil {
		return nil, err
	}
	if err := c.checkConsistent(); err != nil {
		return nil, err
	}
	if _, err := loadLocation(c.TimeZone); c.TimeZone != "" && err != nil {
		return nil, err
	}
	cmd := Command{Type: TypeConfigure, Configure: c}
	switch {
	case slices.ContainsFunc(c.Zones, func(z ticket.Zone) bool { return z.MaskBit != 0 }):
		cmd.Type = TypeConfigure4
	case c.IDCardKey != nil:
		cmd.Type = TypeConfigure3
	case c.Park != "" || len(c.Keys) > 0:
		cmd.Type = TypeConfigure2
	}
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
		if z.MaskBit > ticket.MaxMaskBit {
			return fmt.Errorf("fsm: zone %q: mask bit %d above %d", z.ID, int(z.MaskBit)-1, ticket.MaxMaskBit-1)
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
	if len(c.Park) > ticket.MaxNameLen {
		return fmt.Errorf("fsm: park ID longer than %d bytes", ticket.MaxNameLen)
	}
	if len(c.Keys) > MaxKeys {
		return fmt.Errorf("fsm: more than %d keys", MaxKeys)
	}
	if c.IDCardKey != nil && len(c.IDCardKey) != IDCardKeyLen {
		return fmt.Errorf("fsm: the ID-card key must be %d bytes", IDCardKeyLen)
	}
	return nil
}

// checkText rejects names that are not clean text. Only the encoders
// check it: apply must decide old log entries as it did.
func (c *Configure) checkText() error {
	names := []string{c.TimeZone, c.Park}
	for _, z := range c.Zones {
		names = append(names, z.ID)
	}
	for _, g := range c.Gates {
		names = append(names, g.ID, g.Zone)
	}
	for _, n := range slices.Concat(names, c.DeleteZones, c.DeleteGates) {
		if !ticket.CleanText(n) {
			return fmt.Errorf("%w: %q", ErrNotText, n)
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
	var keys [256]bool
	for _, k := range c.Keys {
		if keys[k.ID] {
			return fmt.Errorf("fsm: key id %d listed twice", k.ID)
		}
		keys[k.ID] = true
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
		if !ticket.CleanText(scans[i].ScanID) || !ticket.CleanText(scans[i].Gate) {
			return dst, fmt.Errorf("scan %d: %w: scan ID or gate", i, ErrNotText)
		}
	}
	if anyExt(scans) {
		dst = append(dst, CommandVersion, byte(TypeScanBatch2))
		return appendScans(dst, scans, true), nil
	}
	dst = append(dst, CommandVersion, byte(TypeScanBatch))
	return appendScans(dst, scans, false), nil
}

// ScanBatchSize returns an upper bound of the encoded size of scans.
func ScanBatchSize(scans []Scan) int {
	n := 2 + binary.MaxVarintLen64
	for i := range scans {
		n += minScanLen + len(scans[i].ScanID) + len(scans[i].Gate) + 1 + 2 + len(scans[i].Credential.Value) + binary.MaxVarintLen64
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
