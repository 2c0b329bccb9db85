package lookup

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"unicode/utf8"
)

// NormalizeIDNumber is how an ID number is compared: upper-cased (a
// Chinese ID's final "x" is "X"), without spaces and dashes (so also
// trimmed), as orders.NormalizeHolderID does before hashing.
func NormalizeIDNumber(s string) string {
	return strings.ToUpper(strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, s))
}

// HashIDNumber is the value of tickets.holder_id_hash:
// HMAC-SHA256(secret, NormalizeIDNumber(idNumber)), 32 bytes; the same as
// orders.HashHolderID(secret, orders.NormalizeHolderID(idNumber)).
func HashIDNumber(secret []byte, idNumber string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(NormalizeIDNumber(idNumber)))
	return m.Sum(nil)
}

// NormalizePhone drops spaces, dashes, dots and parentheses from a phone
// number ("+86 138-0013-8000" -> "+8613800138000").
func NormalizePhone(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '.', '(', ')', '\t':
			return -1
		}
		return r
	}, strings.TrimSpace(s))
}

// MaskName keeps the first character of each word and masks the rest:
// "张三丰" -> "张**", "John Smith" -> "J*** S****". A one-character name
// is masked whole.
func MaskName(name string) string {
	words := strings.Fields(name)
	for i, w := range words {
		n := utf8.RuneCountInString(w)
		if n <= 1 && len(words) == 1 {
			words[i] = "*"
			continue
		}
		r, _ := utf8.DecodeRuneInString(w)
		words[i] = string(r) + strings.Repeat("*", n-1)
	}
	return strings.Join(words, " ")
}
