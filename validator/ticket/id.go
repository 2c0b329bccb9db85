package ticket

import (
	"encoding/hex"
	"errors"
)

var errBadID = errors.New("ticket: ID must be 32 hex digits, optionally dashed as a UUID")

// ParseID parses 32 hex digits (either case), or the same in the dashed
// 8-4-4-4-12 UUID form.
func ParseID(s string) ([16]byte, error) {
	var id [16]byte
	dashed := len(s) == 36
	if !dashed && len(s) != 32 {
		return id, errBadID
	}
	j := 0
	for i := 0; i < 16; i++ {
		if dashed && (j == 8 || j == 13 || j == 18 || j == 23) {
			if s[j] != '-' {
				return id, errBadID
			}
			j++
		}
		hi, ok1 := unhex(s[j])
		lo, ok2 := unhex(s[j+1])
		if !ok1 || !ok2 {
			return id, errBadID
		}
		id[i] = hi<<4 | lo
		j += 2
	}
	return id, nil
}

// FormatID returns id as 32 lowercase hex digits, the form APIs and logs use.
func FormatID(id [16]byte) string { return hex.EncodeToString(id[:]) }

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
