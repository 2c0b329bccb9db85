// Package credential holds what sales knows of the credentials that open a
// ticket besides its signed code (gateapi.CredentialJSON): the typed ticket
// number every ticket gets, the card a pass is bound to, and for a
// real-name ticket the gate's keyed hash of the holder's ID number. Every
// writer of a new ticket version sends the ticket's whole list (a newer
// version replaces the cluster's), read from the tickets row by ForTicket.
//
// The gate's ID-number key (GateIDKey) is derived from the holder secret
// but is not the look-up key: see sales/member/DESIGN.md.
package credential

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/admitpark/admit/sync/outbox"
	"github.com/admitpark/admit/validator/gateapi"
)

// DB is a pgx.Tx or a pool.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// gateKeyLabel names the derivation; a new label is a new key.
const gateKeyLabel = "admit gate id-card key v1"

// GateIDKey is the key the cluster hashes ID numbers with
// (gateapi.IDCardHash): HMAC-SHA256(holderSecret, label). It is not the
// holder secret, so the cluster, which must hold it, cannot compute sales'
// look-up hashes (tickets.holder_id_hash, members.id_hash).
func GateIDKey(holderSecret []byte) []byte {
	m := hmac.New(sha256.New, holderSecret)
	m.Write([]byte(gateKeyLabel))
	return m.Sum(nil)
}

// NewTicketNumber is a random typed ticket number (11 random digits and a
// check digit). Random, not from a sequence: a typed number opens a
// ticket, so one ticket's number must not tell another's. The caller
// retries on the rare collision (tickets_number is unique per park).
func NewTicketNumber() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return gateapi.TicketNumber(binary.BigEndian.Uint64(b[:])), nil
}

// Stored is what a tickets row keeps of its credentials.
type Stored struct {
	Number     string // typed ticket number; "" for tickets issued before numbers
	Card       string // the bound card's number; "" when none
	CardStatus string // active, lost, replaced, refunded
	IDCardHash string // hex gateapi.IDCardHash; "" when not real-name
}

// List is the credential list the cluster must hold for the ticket. A
// lost card stays bound (its scans answer suspended, not unknown); a
// replaced or refunded card opens nothing.
func (s Stored) List() []gateapi.CredentialJSON {
	var out []gateapi.CredentialJSON
	if s.Number != "" {
		out = append(out, gateapi.CredentialJSON{Kind: gateapi.CredentialTicketNumber, Value: s.Number})
	}
	if s.Card != "" && (s.CardStatus == "active" || s.CardStatus == "lost") {
		out = append(out, gateapi.CredentialJSON{Kind: gateapi.CredentialCard, Value: s.Card})
	}
	if s.IDCardHash != "" {
		out = append(out, gateapi.CredentialJSON{Kind: gateapi.CredentialIDCard, Value: s.IDCardHash})
	}
	return out
}

// ForTicket reads a ticket's credentials.
func ForTicket(ctx context.Context, db DB, id [16]byte) ([]gateapi.CredentialJSON, error) {
	var s Stored
	err := db.QueryRow(ctx, `SELECT coalesce(t.number, ''), coalesce(c.number, ''), coalesce(c.status, ''), coalesce(t.id_card_hash, '')
		FROM tickets t LEFT JOIN cards c ON c.id = t.card_id WHERE t.id = $1`, id).
		Scan(&s.Number, &s.Card, &s.CardStatus, &s.IDCardHash)
	if err != nil {
		return nil, fmt.Errorf("credentials of ticket %x: %w", id, err)
	}
	return s.List(), nil
}

// settingKey is the settings row recording which gate key a park's
// cluster was sent (its fingerprint, never the key).
func settingKey(park string) string { return "gate_id_key.sent." + park }

// fingerprint names a key without revealing it.
func fingerprint(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("fingerprint"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// EnsureGateKey writes, in tx, a configure row giving park's cluster the
// gate ID-number key, unless that key was sent already. Callers that
// write a ticket with an id_card credential call it first in the same
// transaction, so the cluster learns the key before the ticket (outbox
// rows go in order). Two racing writers may both write the row: harmless.
func EnsureGateKey(ctx context.Context, tx DB, park string, key []byte) error {
	if park == "" {
		return errors.New("credential: EnsureGateKey needs a park")
	}
	if len(key) != 32 {
		return fmt.Errorf("credential: the gate ID-number key has %d bytes, not 32", len(key))
	}
	fp := fingerprint(key)
	var sent string
	err := tx.QueryRow(ctx, `SELECT value #>> '{}' FROM settings WHERE key = $1`, settingKey(park)).Scan(&sent)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	if sent == fp {
		return nil
	}
	if _, err := outbox.WriteConfigure(ctx, tx, outbox.Configure{Park: park, IDCardKey: base64.StdEncoding.EncodeToString(key)}); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, to_jsonb($2::text))
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`, settingKey(park), fp)
	return err
}

// Pool is what PublishGateKey needs.
type Pool interface {
	DB
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Begin(ctx context.Context) (pgx.Tx, error)
}

// PublishGateKey sends the gate key to every park's cluster that has not
// had it (EnsureGateKey per park), at the sales service's start.
func PublishGateKey(ctx context.Context, pool Pool, key []byte) error {
	rows, err := pool.Query(ctx, `SELECT id FROM parks ORDER BY id`)
	if err != nil {
		return err
	}
	parks, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, p := range parks {
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return EnsureGateKey(ctx, tx, p, key) }); err != nil {
			return fmt.Errorf("send the gate ID-number key to park %s's cluster: %w", p, err)
		}
	}
	return nil
}
