package ticket

import "unicode/utf8"

// CleanText reports whether s is text that is safe to store and show
// anywhere: valid UTF-8 without control characters (C0, DEL, C1) and
// without U+FFFD, the mark encoding/json leaves where its input held
// invalid UTF-8. The empty string is clean. It allocates nothing; for
// ASCII it is one pass over the bytes.
//
// It is for the edges (the gate API checks every text field it accepts
// with it). ValidName deliberately stays a length check: the state
// machine calls it while applying log entries (rules.Decide, fsm), where a
// stricter rule would decide old entries differently on replay.
func CleanText(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || (r >= 0x80 && r <= 0x9f) {
			return false // invalid UTF-8 (n == 1), U+FFFD itself, or a C1 control
		}
		i += n
	}
	return true
}

// ValidCleanName is ValidName and CleanText: what the gate API accepts as a
// gate, zone or product ID.
func ValidCleanName(s string) bool { return ValidName(s) && CleanText(s) }
