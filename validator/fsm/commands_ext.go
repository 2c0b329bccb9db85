package fsm

import (
	"encoding/binary"
)

// IDCardKeyLen is the length of the ID-card hash key (Configure.IDCardKey).
const IDCardKeyLen = 32

// The bodies of the commands added for credentials and offline gates
// (doc.go lists them all):
//
//	IssueBatch3  n | n × (bytes ticket | str park | bytes code | credentials)
//	Configure3   the Configure2 body (park and keys may be empty) | id-card key[32]
//	ScanBatch2   n | n × (the ScanBatch scan | ext)
//
// where credentials = n | n × (kind | str value) and a scan's ext is
//
//	flags: 1 credential, 2 device time, (offline decision << 2)
//	| [kind | str value] | [varint device time, not 0]
//
// A credential scan's ticket id, code version and digest are zero.

const (
	scanExtCredential = 1 << iota
	scanExtDeviceTime
	scanExtOfflineShift = iota
	scanExtKnown        = scanExtCredential | scanExtDeviceTime | 3<<scanExtOfflineShift
)

// anyExt: some scan needs a ScanBatch2.
func anyExt(scans []Scan) bool {
	for i := range scans {
		if scans[i].ext() {
			return true
		}
	}
	return false
}

func hasCredentials(issues []Issue) bool {
	for i := range issues {
		if len(issues[i].Credentials) > 0 {
			return true
		}
	}
	return false
}

func appendCredentials(dst []byte, creds []Credential) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(creds)))
	for _, c := range creds {
		dst = append(dst, byte(c.Kind))
		dst = appendString(dst, c.Value)
	}
	return dst
}

func appendScanExt(dst []byte, s *Scan) []byte {
	flags := byte(s.Offline) << scanExtOfflineShift
	if s.Credential.Kind != CredNone {
		flags |= scanExtCredential
	}
	if s.DeviceTime != 0 {
		flags |= scanExtDeviceTime
	}
	dst = append(dst, flags)
	if s.Credential.Kind != CredNone {
		dst = append(dst, byte(s.Credential.Kind))
		dst = appendString(dst, s.Credential.Value)
	}
	if s.DeviceTime != 0 {
		dst = binary.AppendVarint(dst, s.DeviceTime)
	}
	return dst
}

// scanExt reads a scan's ext into s and checks that it is canonical.
func (r *reader) scanExt(s *Scan) {
	flags := r.Byte("scan_flags")
	if r.Err != nil {
		return
	}
	if flags&^scanExtKnown != 0 || OfflineDecision(flags>>scanExtOfflineShift) >= numOfflineDecisions {
		r.Fail("scan_flags", ErrMalformed)
		return
	}
	s.Offline = OfflineDecision(flags >> scanExtOfflineShift)
	if flags&scanExtCredential != 0 {
		s.Credential.Kind = CredentialKind(r.Byte("credential_kind"))
		s.Credential.Value = r.Str("credential", 1, MaxCredentialLen)
		if r.Err == nil && (!ValidCredential(s.Credential) ||
			s.TicketID != [16]byte{} || s.CodeVersion != 0 || s.Digest != [16]byte{}) {
			r.Fail("credential", ErrMalformed)
		}
	}
	if flags&scanExtDeviceTime != 0 {
		s.DeviceTime = r.Varint("device_time")
		if r.Err == nil && s.DeviceTime == 0 {
			r.Fail("device_time", ErrMalformed)
		}
	}
}
