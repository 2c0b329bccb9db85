package loadgen

import "errors"

// errSlowPath: fastDecode leaves this reply to encoding/json.
var errSlowPath = errors.New("loadgen: reply not for the fast path")

// fastDecode reads a gate API reply (one ScanResponse, or a
// ScanBatchResponse of exactly len(res) results) into res without
// reflection, and without allocating for the deny reasons the gate API
// names. It reads only result, reason and rescan and skips every other
// field. Anything unusual gives errSlowPath, and decodeResults then decodes
// with encoding/json, which also words the error: an escape inside a field
// it reads, an "error" field (a scan without a decision), a wrong type,
// a wrong number of results, trailing data.
func fastDecode(body []byte, res []Result, batch bool) error {
	s := jsonScanner{b: body}
	ok := false
	if batch {
		ok = s.batch(res)
	} else {
		ok = s.result(&res[0])
	}
	if s.ws(); !ok || s.i != len(s.b) {
		return errSlowPath
	}
	return nil
}

type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next consumes c (after white space) if it comes next.
func (s *jsonScanner) next(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string without escapes and returns its bytes.
func (s *jsonScanner) str() ([]byte, bool) {
	if !s.next('"') {
		return nil, false
	}
	for j := s.i; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			v := s.b[s.i:j]
			s.i = j + 1
			return v, true
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// skip skips one value of any type.
func (s *jsonScanner) skip(depth int) bool {
	s.ws()
	if s.i >= len(s.b) || depth > 16 {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		for j := s.i + 1; j < len(s.b); j++ {
			switch s.b[j] {
			case '\\':
				j++
			case '"':
				s.i = j + 1
				return true
			}
		}
		return false
	case c == '{' || c == '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		s.i++
		if s.next(end) {
			return true
		}
		for {
			if c == '{' {
				if _, ok := s.key(); !ok {
					return false
				}
			}
			if !s.skip(depth + 1) {
				return false
			}
			if s.next(end) {
				return true
			}
			if !s.next(',') {
				return false
			}
		}
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '-' || c >= '0' && c <= '9':
		j := s.i + 1
		for j < len(s.b) && (s.b[j] >= '0' && s.b[j] <= '9' || s.b[j] == '.' || s.b[j] == 'e' || s.b[j] == 'E' || s.b[j] == '+' || s.b[j] == '-') {
			j++
		}
		s.i = j
		return true
	}
	return false
}

// key reads an object key (without escapes) and the colon after it.
func (s *jsonScanner) key() ([]byte, bool) {
	k, ok := s.str()
	return k, ok && s.next(':')
}

func (s *jsonScanner) lit(l string) bool {
	if len(s.b)-s.i < len(l) || string(s.b[s.i:s.i+len(l)]) != l {
		return false
	}
	s.i += len(l)
	return true
}

// result reads one ScanResponse object.
func (s *jsonScanner) result(r *Result) bool {
	*r = Result{}
	if !s.next('{') || s.next('}') {
		return false
	}
	for {
		k, ok := s.key()
		if !ok {
			return false
		}
		switch string(k) {
		case "result":
			v, ok := s.str()
			switch {
			case !ok:
				return false
			case string(v) == "admit":
				r.Decision = Admit
			case string(v) == "deny":
				r.Decision = Deny
			default:
				return false
			}
		case "reason":
			v, ok := s.str()
			if !ok {
				return false
			}
			r.Reason = reasonString(v)
		case "rescan":
			s.ws()
			switch {
			case s.lit("true"):
				r.Rescan = true
			case s.lit("false"):
				r.Rescan = false
			default:
				return false
			}
		case "error":
			return false // a scan without a decision: the slow path words it
		default:
			if !s.skip(0) {
				return false
			}
		}
		if s.next('}') {
			break
		}
		if !s.next(',') {
			return false
		}
	}
	if r.Decision == Admit {
		r.Reason = ""
	}
	return r.Decision != Undecided
}

// batch reads a ScanBatchResponse of exactly len(res) results.
func (s *jsonScanner) batch(res []Result) bool {
	if !s.next('{') || s.next('}') {
		return false
	}
	seen := false
	for {
		k, ok := s.key()
		if !ok {
			return false
		}
		if string(k) == "results" {
			if seen || !s.next('[') {
				return false
			}
			seen = true
			n := 0
			if !s.next(']') {
				for {
					if n == len(res) || !s.result(&res[n]) {
						return false
					}
					n++
					if s.next(']') {
						break
					}
					if !s.next(',') {
						return false
					}
				}
			}
			if n != len(res) {
				return false
			}
		} else if !s.skip(0) {
			return false
		}
		if s.next('}') {
			return seen
		}
		if !s.next(',') {
			return false
		}
	}
}

// reasonString returns the deny reasons the gate API names without
// allocating.
func reasonString(b []byte) string {
	switch string(b) {
	case "already_used":
		return "already_used"
	case "unknown":
		return "unknown"
	case "invalid_code":
		return "invalid_code"
	case "revoked":
		return "revoked"
	case "suspended":
		return "suspended"
	case "replaced":
		return "replaced"
	case "not_yet_valid":
		return "not_yet_valid"
	case "expired":
		return "expired"
	case "wrong_zone":
		return "wrong_zone"
	case "daily_limit":
		return "daily_limit"
	case "no_entries_left":
		return "no_entries_left"
	case "already_inside":
		return "already_inside"
	case "zone_full":
		return "zone_full"
	}
	return string(b)
}
