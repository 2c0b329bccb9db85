package gate

import (
	"encoding/json"
	"strconv"

	"github.com/admitpark/admit/validator/gateapi"
)

// The single-scan request and reply are the hottest JSON in the system, so
// they get a hand-written fast path. It handles only the plain form gates
// send (known lower-case keys once each, ASCII strings without escapes,
// persons as plain digits) and says so; anything else goes to
// encoding/json, so what is accepted, refused and how never changes.

// decodeScanRequestFast fills r from body when body is in the plain form.
// It reports false, with r in any state, to hand body to encoding/json.
func decodeScanRequestFast(body []byte, r *gateapi.ScanRequest) bool {
	p := jsonScanner{b: body}
	return p.scanRequest(r) && p.end()
}

// decodeScanBatchFast is decodeScanRequestFast for POST /v1/scans; at most
// max scans (more go to encoding/json, and then to the limit check).
func decodeScanBatchFast(body []byte, r *gateapi.ScanBatchRequest, max int) bool {
	p := jsonScanner{b: body}
	if !p.skip('{') {
		return false
	}
	key, ok := p.str()
	if !ok || string(key) != "scans" || !p.skip(':') || !p.skip('[') {
		return false
	}
	r.Scans = make([]gateapi.ScanRequest, 0, 16)
	if !p.skip(']') {
		for {
			if len(r.Scans) == max {
				return false
			}
			r.Scans = append(r.Scans, gateapi.ScanRequest{})
			if !p.scanRequest(&r.Scans[len(r.Scans)-1]) {
				return false
			}
			if p.skip(',') {
				continue
			}
			if !p.skip(']') {
				return false
			}
			break
		}
	}
	return p.skip('}') && p.end()
}

// scanRequest reads one scan object.
func (p *jsonScanner) scanRequest(r *gateapi.ScanRequest) bool {
	if !p.skip('{') {
		return false
	}
	var seen uint8
	if p.skip('}') {
		return true
	}
	for {
		key, ok := p.str()
		if !ok || !p.skip(':') {
			return false
		}
		var bit uint8
		switch string(key) {
		case "code":
			bit = 1
		case "gate":
			bit = 2
		case "scan_id":
			bit = 4
		case "direction":
			bit = 8
		case "persons":
			bit = 16
		case "device_time":
			bit = 32
		case "offline":
			bit = 64
		default:
			return false
		}
		if seen&bit != 0 {
			return false // a repeated key: encoding/json keeps the last
		}
		seen |= bit
		if bit == 16 {
			n, ok := p.uint16()
			if !ok {
				return false
			}
			r.Persons = n
		} else {
			v, ok := p.str()
			if !ok {
				return false
			}
			switch bit {
			case 1:
				r.Code = string(v)
			case 2:
				r.Gate = string(v)
			case 4:
				r.ScanID = string(v)
			case 8:
				r.Direction = string(v)
			case 32:
				// What encoding/json does with a string for a time.Time.
				q := make([]byte, 0, len(v)+2)
				if r.DeviceTime.UnmarshalJSON(append(append(append(q, '"'), v...), '"')) != nil {
					return false
				}
			case 64:
				r.Offline = string(v)
			}
		}
		if p.skip(',') {
			continue
		}
		return p.skip('}')
	}
}

type jsonScanner struct {
	b []byte
	i int
}

func (p *jsonScanner) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// skip consumes c after optional white space.
func (p *jsonScanner) skip(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// end: nothing but white space is left.
func (p *jsonScanner) end() bool {
	p.ws()
	return p.i == len(p.b)
}

// str reads a string of printable ASCII without escapes.
func (p *jsonScanner) str() ([]byte, bool) {
	if !p.skip('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return p.b[start : p.i-1], true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// uint16 reads digits without a leading zero (or a lone 0) up to 65535.
func (p *jsonScanner) uint16() (uint16, bool) {
	p.ws()
	start := p.i
	var n uint32
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		n = n*10 + uint32(p.b[p.i]-'0')
		p.i++
		if n > 65535 {
			return 0, false
		}
	}
	digits := p.i - start
	if digits == 0 || (digits > 1 && p.b[start] == '0') {
		return 0, false
	}
	if p.i < len(p.b) { // 1.0, 1e3 and the like are encoding/json's
		switch p.b[p.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	return uint16(n), true
}

// appendScanResponse appends r as encoding/json's Encoder writes it (the
// same bytes, newline included).
func appendScanResponse(dst []byte, r *gateapi.ScanResponse) []byte {
	return append(appendScanResponseObject(dst, r), '\n')
}

// appendScanBatchResponse appends r as encoding/json's Encoder writes it.
func appendScanBatchResponse(dst []byte, r *gateapi.ScanBatchResponse) []byte {
	if r.Results == nil {
		return append(dst, `{"results":null}`+"\n"...)
	}
	dst = append(dst, `{"results":[`...)
	for i := range r.Results {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendScanResponseObject(dst, &r.Results[i])
	}
	return append(dst, "]}\n"...)
}

func appendScanResponseObject(dst []byte, r *gateapi.ScanResponse) []byte {
	dst = append(dst, '{')
	if r.ScanID != "" {
		dst = appendJSONField(dst, `"scan_id":`, r.ScanID)
	}
	dst = appendJSONField(dst, `"result":`, r.Result)
	if r.Reason != "" {
		dst = appendJSONField(dst, `"reason":`, r.Reason)
	}
	if r.Rescan {
		dst = append(dst, `,"rescan":true`...)
	}
	if r.TicketID != "" {
		dst = appendJSONField(dst, `"ticket_id":`, r.TicketID)
	}
	if r.Product != "" {
		dst = appendJSONField(dst, `"product":`, r.Product)
	}
	if r.Persons != 0 {
		dst = strconv.AppendUint(append(dst, `,"persons":`...), uint64(r.Persons), 10)
	}
	dst = strconv.AppendUint(append(dst, `,"entries_used":`...), uint64(r.EntriesUsed), 10)
	dst = strconv.AppendUint(append(dst, `,"entries_allowed":`...), uint64(r.EntriesAllowed), 10)
	if r.FirstEntryAt != "" {
		dst = appendJSONField(dst, `"first_entry_at":`, r.FirstEntryAt)
	}
	if r.FirstEntryGate != "" {
		dst = appendJSONField(dst, `"first_entry_gate":`, r.FirstEntryGate)
	}
	if r.ZoneWarning {
		dst = append(dst, `,"zone_warning":true`...)
	}
	if r.Error != "" {
		dst = appendJSONField(dst, `"error":`, r.Error)
	}
	if r.Offline {
		dst = append(dst, `,"offline":true`...)
	}
	if r.Conflict {
		dst = append(dst, `,"conflict":true`...)
	}
	return append(dst, '}')
}

// appendJSONField appends name and the string s, with a comma unless it is
// the first field.
func appendJSONField(dst []byte, name, s string) []byte {
	if dst[len(dst)-1] != '{' {
		dst = append(dst, ',')
	}
	dst = append(dst, name...)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // escapes exactly as the Encoder does
			return append(dst, q...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
