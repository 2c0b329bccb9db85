package fsm

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/admitpark/admit/validator/rules"
	"github.com/admitpark/admit/validator/ticket"
)

// ResultVersion is the first byte of every command result; the second is
// the CommandType it answers.
const ResultVersion = 1

// Flag bits of an encoded ScanResult.
const (
	resRescan = 1 << iota
	resWarn
	resOffline
	resConflict
	resDeviceTime // followed, at the end, by varint DeviceTime | varint At
	resKnownFlags = resRescan | resWarn | resOffline | resConflict | resDeviceTime
)

// minScanResultLen is the smallest encoded ScanResult.
const minScanResultLen = 5 + 16 + 1 + 3 + 1 + 1 + 2

func header(dst []byte, t CommandType) []byte { return append(dst, ResultVersion, byte(t)) }

// appendScanResult appends one ScanResult:
//
//	flags | Error | Result | Reason | Kind | TicketID[16] | str Product
//	| uvarint Persons EntriesUsed EntriesAllowed | varint FirstAt
//	| str FirstGate | uvarint Index | uvarint Pos
//	| [varint DeviceTime (not 0) | varint At, with flag resDeviceTime]
func appendScanResult(dst []byte, r *ScanResult) []byte {
	var flags byte
	if r.Rescan {
		flags |= resRescan
	}
	if r.ZoneWarn {
		flags |= resWarn
	}
	if r.Offline {
		flags |= resOffline
	}
	if r.Conflict {
		flags |= resConflict
	}
	if r.DeviceTime != 0 {
		flags |= resDeviceTime
	}
	dst = append(dst, flags, byte(r.Error), byte(r.Result), byte(r.Reason), byte(r.Kind))
	dst = append(dst, r.TicketID[:]...)
	dst = appendString(dst, r.Product)
	dst = binary.AppendUvarint(dst, uint64(r.Persons))
	dst = binary.AppendUvarint(dst, uint64(r.EntriesUsed))
	dst = binary.AppendUvarint(dst, uint64(r.EntriesAllowed))
	dst = binary.AppendVarint(dst, r.FirstAt)
	dst = appendString(dst, r.FirstGate)
	dst = binary.AppendUvarint(dst, r.Index)
	dst = binary.AppendUvarint(dst, uint64(r.Pos))
	if r.DeviceTime != 0 {
		dst = binary.AppendVarint(dst, r.DeviceTime)
		dst = binary.AppendVarint(dst, r.At)
	}
	return dst
}

func (r *reader) scanResult(out *ScanResult) {
	flags := r.Byte("flags")
	if r.Err == nil && flags&^resKnownFlags != 0 {
		r.Fail("flags", ErrMalformed)
	}
	out.Rescan, out.ZoneWarn = flags&resRescan != 0, flags&resWarn != 0
	out.Offline, out.Conflict = flags&resOffline != 0, flags&resConflict != 0
	out.Error = ScanError(r.enum("error", byte(numScanErrors-1)))
	out.Result = rules.Result(r.enum("result", byte(rules.Admit)))
	out.Reason = rules.Reason(r.Byte("reason"))
	out.Kind = ticket.Kind(r.Byte("kind"))
	r.Fixed(out.TicketID[:], "ticket_id")
	out.Product = r.Str("product", 0, ticket.MaxNameLen)
	out.Persons = uint16(r.Uvarint("persons", math.MaxUint16))
	out.EntriesUsed = uint16(r.Uvarint("entries_used", math.MaxUint16))
	out.EntriesAllowed = uint16(r.Uvarint("entries_allowed", math.MaxUint16))
	out.FirstAt = r.Varint("first_at")
	out.FirstGate = r.Str("first_gate", 0, ticket.MaxNameLen)
	out.Index = r.Uvarint("index", math.MaxUint64)
	out.Pos = uint32(r.Uvarint("pos", math.MaxUint32))
	if flags&resDeviceTime != 0 {
		out.DeviceTime = r.Varint("device_time")
		out.At = r.Varint("at")
		if r.Err == nil && out.DeviceTime == 0 {
			r.Fail("device_time", ErrMalformed)
		}
	}
}

// AppendScanResults appends the result of a ScanBatch: one ScanResult per
// scan, in the order of the batch.
func AppendScanResults(dst []byte, results []ScanResult) []byte {
	dst = header(dst, TypeScanBatch)
	dst = binary.AppendUvarint(dst, uint64(len(results)))
	for i := range results {
		dst = appendScanResult(dst, &results[i])
	}
	return dst
}

// DecodeScanResults decodes the result of a ScanBatch.
func DecodeScanResults(b []byte) ([]ScanResult, error) {
	r := newReader(b, 0, "scan results")
	r.header(ResultVersion, byte(TypeScanBatch))
	n := r.Count("results", MaxScanBatch, minScanResultLen)
	var out []ScanResult
	if n > 0 {
		out = make([]ScanResult, n)
		for i := range out {
			r.scanResult(&out[i])
		}
	}
	if err := r.Finish(); err != nil {
		return nil, err
	}
	return out, nil
}

func (r *reader) outcome() Outcome {
	o := Outcome(r.Byte("outcome"))
	if r.Err == nil && (o == 0 || o >= numOutcomes) {
		r.Fail("outcome", ErrMalformed)
	}
	return o
}

// EncodeIssueResult encodes the result of an IssueBatch: OutcomeApplied or
// OutcomeStale per ticket, in the order of the batch.
func EncodeIssueResult(outcomes []Outcome) []byte {
	dst := header(make([]byte, 0, 2+binary.MaxVarintLen64+len(outcomes)), TypeIssueBatch)
	dst = binary.AppendUvarint(dst, uint64(len(outcomes)))
	for _, o := range outcomes {
		dst = append(dst, byte(o))
	}
	return dst
}

// DecodeIssueResult decodes the result of an IssueBatch.
func DecodeIssueResult(b []byte) ([]Outcome, error) {
	r := newReader(b, 0, "issue result")
	r.header(ResultVersion, byte(TypeIssueBatch))
	n := r.Count("outcomes", MaxIssueBatch, 1)
	out := make([]Outcome, n)
	for i := range out {
		out[i] = r.outcome()
	}
	if err := r.Finish(); err != nil {
		return nil, err
	}
	return out, nil
}

// EncodeRevokeResult encodes the result of a Revoke.
func EncodeRevokeResult(res RevokeResult) []byte {
	dst := header(nil, TypeRevoke)
	dst = append(dst, byte(res.Outcome))
	dst = binary.AppendVarint(dst, res.FirstAt)
	dst = appendString(dst, res.FirstGate)
	return appendString(dst, res.Zone)
}

// DecodeRevokeResult decodes the result of a Revoke.
func DecodeRevokeResult(b []byte) (RevokeResult, error) {
	r := newReader(b, 0, "revoke result")
	r.header(ResultVersion, byte(TypeRevoke))
	var res RevokeResult
	res.Outcome = r.outcome()
	res.FirstAt = r.Varint("first_at")
	res.FirstGate = r.Str("first_gate", 0, ticket.MaxNameLen)
	res.Zone = r.Str("zone", 0, ticket.MaxNameLen)
	if err := r.Finish(); err != nil {
		return RevokeResult{}, err
	}
	return res, nil
}

// EncodeUpdateResult encodes the result of an Update.
func EncodeUpdateResult(o Outcome) []byte { return append(header(nil, TypeUpdate), byte(o)) }

// DecodeUpdateResult decodes the result of an Update.
func DecodeUpdateResult(b []byte) (Outcome, error) {
	r := newReader(b, 0, "update result")
	r.header(ResultVersion, byte(TypeUpdate))
	o := r.outcome()
	return o, r.Finish()
}

// EncodeConfigureResult encodes the result of a Configure, which carries
// nothing: a rejected Configure is an error.
func EncodeConfigureResult() []byte { return header(nil, TypeConfigure) }

// DecodeConfigureResult checks the result of a Configure.
func DecodeConfigureResult(b []byte) error {
	r := newReader(b, 0, "configure result")
	r.header(ResultVersion, byte(TypeConfigure))
	return r.Finish()
}

// EncodeExitAllResult encodes the result of an ExitAll.
func EncodeExitAllResult(res ExitAllResult) []byte {
	dst := header(nil, TypeExitAll)
	dst = binary.AppendUvarint(dst, res.Epoch)
	return binary.AppendUvarint(dst, uint64(res.Zones))
}

// DecodeExitAllResult decodes the result of an ExitAll.
func DecodeExitAllResult(b []byte) (ExitAllResult, error) {
	r := newReader(b, 0, "exit-all result")
	r.header(ResultVersion, byte(TypeExitAll))
	var res ExitAllResult
	res.Epoch = r.Uvarint("epoch", math.MaxUint64)
	res.Zones = int(r.Uvarint("zones", math.MaxInt32))
	if err := r.Finish(); err != nil {
		return ExitAllResult{}, err
	}
	return res, nil
}

// EncodePurgeResult encodes the result of a PurgeScans.
func EncodePurgeResult(res PurgeResult) []byte {
	dst := header(nil, TypePurgeScans)
	dst = binary.AppendUvarint(dst, uint64(res.Events))
	dst = binary.AppendUvarint(dst, uint64(res.ScanIDs))
	return appendBool(dst, res.More)
}

// DecodePurgeResult decodes the result of a PurgeScans.
func DecodePurgeResult(b []byte) (PurgeResult, error) {
	r := newReader(b, 0, "purge result")
	r.header(ResultVersion, byte(TypePurgeScans))
	var res PurgeResult
	res.Events = int(r.Uvarint("events", math.MaxInt32))
	res.ScanIDs = int(r.Uvarint("scan_ids", math.MaxInt32))
	res.More = r.bool("more")
	if err := r.Finish(); err != nil {
		return PurgeResult{}, err
	}
	return res, nil
}

// ResultType returns the CommandType a result answers, so a caller holding
// an opaque result can pick its decoder.
func ResultType(b []byte) (CommandType, error) {
	if len(b) < 2 {
		return 0, fmt.Errorf("%w: result header", ErrTruncated)
	}
	if b[0] != ResultVersion {
		return 0, fmt.Errorf("%w: result version %d", ErrVersion, b[0])
	}
	return CommandType(b[1]), nil
}
