package gateapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Typed ticket numbers are TicketNumberDigits decimal digits, the last a
// Luhn check digit, so that a mistyped digit (and most swaps of neighbours) is
// refused as invalid input instead of looked up.
const TicketNumberDigits = 12

// TicketNumber makes a typed ticket number from n (its first 11 digits,
// n modulo 10^11) and the check digit.
func TicketNumber(n uint64) string {
	var b [TicketNumberDigits]byte
	n %= 100_000_000_000
	for i := TicketNumberDigits - 2; i >= 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	b[TicketNumberDigits-1] = luhnDigit(b[:TicketNumberDigits-1])
	return string(b[:])
}

// NormalizeTicketNumber drops the spaces and dashes people type and
// reports whether what is left is a ticket number with a right check digit.
func NormalizeTicketNumber(s string) (string, bool) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, s)
	if len(s) != TicketNumberDigits {
		return s, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return s, false
		}
	}
	return s, luhnDigit([]byte(s[:TicketNumberDigits-1])) == s[TicketNumberDigits-1]
}

// luhnDigit is the Luhn check digit of the decimal digits in b.
func luhnDigit(b []byte) byte {
	sum := 0
	double := true // the rightmost payload digit is doubled
	for i := len(b) - 1; i >= 0; i-- {
		d := int(b[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return byte('0' + (10-sum%10)%10)
}

// NormalizeIDNumber is an ID number as hashed: spaces dropped, letters
// upper-cased (a Chinese resident ID may end in X).
func NormalizeIDNumber(s string) string {
	return strings.ToUpper(strings.Join(strings.Fields(s), ""))
}

// IDCardHash is the keyed hash under which sales binds an ID number to a
// real-name ticket and the cluster looks it up: hex HMAC-SHA256 of the
// normalized number. Neither the cluster nor the wire carries the number.
func IDCardHash(key []byte, idNumber string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(NormalizeIDNumber(idNumber)))
	return hex.EncodeToString(m.Sum(nil))
}

// NormalizeCardValue is a card number or UID as bound and looked up:
// spaces and colons dropped, hex letters upper-cased.
func NormalizeCardValue(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == ' ' || r == ':' || r == '-':
			return -1
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, s)
}
