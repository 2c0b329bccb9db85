package orders

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Holder ID numbers (real-name tickets) are never stored or logged in
// plain: only HashHolderID (to find a holder's tickets) and MaskHolderID
// (to show). A pending order's holders wait in order_holders, already
// hashed and masked, and are deleted when tickets are issued or the order
// ends unpaid.

// NormalizeHolderID upper-cases an ID number and drops spaces and dashes.
// It must be 6-32 letters and digits; an 18-character mainland resident ID
// (17 digits and a digit or X) must also pass its ISO 7064 check digit.
func NormalizeHolderID(s string) (string, error) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == ' ' || r == '-':
		case r >= '0' && r <= '9', r >= 'A' && r <= 'Z':
			b.WriteRune(r)
		case r >= 'a' && r <= 'z':
			b.WriteRune(unicode.ToUpper(r))
		default:
			return "", errors.New("an ID number holds only letters and digits")
		}
	}
	id := b.String()
	if len(id) < 6 || len(id) > 32 {
		return "", fmt.Errorf("an ID number has 6-32 letters and digits, this one %d", len(id))
	}
	if isResidentIDShape(id) && !residentIDCheckOK(id) {
		return "", errors.New("the check digit of this 18-digit resident ID number is wrong; check for a typo")
	}
	return id, nil
}

func isResidentIDShape(id string) bool {
	if len(id) != 18 {
		return false
	}
	for i := 0; i < 17; i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return id[17] == 'X' || (id[17] >= '0' && id[17] <= '9')
}

// residentIDCheckOK checks GB 11643's ISO 7064 MOD 11-2 check character.
func residentIDCheckOK(id string) bool {
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, w := range weights {
		sum += int(id[i]-'0') * w
	}
	return id[17] == "10X98765432"[sum%11]
}

// HashHolderID is HMAC-SHA256(secret, normalized ID number): what
// tickets.holder_id_hash holds, for finding a holder's tickets.
func HashHolderID(secret []byte, normalizedID string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(normalizedID))
	return m.Sum(nil)
}

// MaskHolderID shows the first and last characters (up to 4 each, at most a
// quarter of the length each) and stars in between:
// 110101199003078515 -> 1101**********8515.
func MaskHolderID(normalizedID string) string {
	n := len(normalizedID)
	k := min(4, n/4)
	return normalizedID[:k] + strings.Repeat("*", n-2*k) + normalizedID[n-k:]
}

// cleanName trims a person's name and checks it: 1-64 characters, no
// control characters.
func cleanName(s, what string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("%s is empty", what)
	}
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > 64 {
		return "", fmt.Errorf("%s must be at most 64 characters of valid UTF-8", what)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", fmt.Errorf("%s holds a control character", what)
		}
	}
	return s, nil
}

// holder is a ticket holder as kept: name, ID hash and mask.
type holder struct {
	Name     string `json:"name"`
	IDHash   []byte `json:"id_hash"`
	IDMasked string `json:"id_masked"`
	// IDCardHash is the gate's hash of the ID number (gateapi.IDCardHash
	// under the gate key, credential.GateIDKey): the ticket's id_card
	// credential. Computed when the number is in hand, at order creation.
	IDCardHash string `json:"id_card_hash"`
}

// saveHolders stores the holders of each line (by line id) of an order.
func saveHolders(ctx context.Context, tx DB, orderID int64, byLine map[int64][]holder) error {
	for lineID, hs := range byLine {
		for i, h := range hs {
			if _, err := tx.Exec(ctx, `INSERT INTO order_holders (order_id, order_line_id, position, name, id_hash, id_masked, id_card_hash)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, orderID, lineID, i, h.Name, h.IDHash, h.IDMasked, nullable(h.IDCardHash)); err != nil {
				return err
			}
		}
	}
	return nil
}

// loadHolders returns the holders of an order by line id (none: empty map).
func loadHolders(ctx context.Context, db DB, orderID int64) (map[int64][]holder, error) {
	rows, err := db.Query(ctx, `SELECT order_line_id, name, id_hash, id_masked, coalesce(id_card_hash, '') FROM order_holders
		WHERE order_id = $1 ORDER BY order_line_id, position`, orderID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64][]holder{}
	for rows.Next() {
		var lineID int64
		var h holder
		if err := rows.Scan(&lineID, &h.Name, &h.IDHash, &h.IDMasked, &h.IDCardHash); err != nil {
			return nil, err
		}
		out[lineID] = append(out[lineID], h)
	}
	return out, rows.Err()
}

func deleteHolders(ctx context.Context, tx DB, orderID int64) error {
	_, err := tx.Exec(ctx, `DELETE FROM order_holders WHERE order_id = $1`, orderID)
	return err
}
