// Package keys manages the Ed25519 keys that sign ticket codes. Each code
// carries its key id, so keys can rotate: new codes are signed with the one
// active key, and retired keys still verify the codes they signed. Public
// keys are published (GET /v1/keys) for offline handhelds.
//
// Private keys are stored in the database as they are; protect the database
// (and its backups) accordingly.
package keys

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/admitpark/admit/validator/code"
)

// DB is a pgx.Tx or pool.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ErrNoActiveKey: no key is active; call Ensure or Rotate.
var ErrNoActiveKey = errors.New("no active signing key")

// Public is a published key.
type Public struct {
	ID        uint8     `json:"id"`
	PublicKey []byte    `json:"public_key"` // 32 bytes, base64 in JSON
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
	RetiredAt time.Time `json:"retired_at,omitzero"`
}

// Ensure creates key 1 as the active key when the database has none.
func Ensure(ctx context.Context, db DB) error {
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM signing_keys WHERE active`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	_, err = db.Exec(ctx, `INSERT INTO signing_keys (id, public_key, private_key, active)
		SELECT coalesce(max(id), 0) + 1, $1, $2, true FROM signing_keys
		ON CONFLICT DO NOTHING`, []byte(pub), priv.Seed())
	return err
}

// Rotate retires the active key and makes a new one active; it returns the
// new key's id. Codes signed with the old key keep verifying.
func Rotate(ctx context.Context, tx pgx.Tx) (uint8, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `UPDATE signing_keys SET active = false, retired_at = now() WHERE active`); err != nil {
		return 0, err
	}
	var id int
	err = tx.QueryRow(ctx, `INSERT INTO signing_keys (id, public_key, private_key, active)
		SELECT coalesce(max(id), 0) + 1, $1, $2, true FROM signing_keys RETURNING id`, []byte(pub), priv.Seed()).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("rotate signing key (at most 255 keys): %w", err)
	}
	return uint8(id), nil
}

// Signer signs codes with the active key.
type Signer struct {
	KeyID uint8
	priv  ed25519.PrivateKey
}

// Active loads the active key.
func Active(ctx context.Context, db DB) (*Signer, error) {
	var id int
	var seed []byte
	err := db.QueryRow(ctx, `SELECT id, private_key FROM signing_keys WHERE active`).Scan(&id, &seed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoActiveKey
	}
	if err != nil {
		return nil, err
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("signing key %d: stored seed has %d bytes", id, len(seed))
	}
	return &Signer{KeyID: uint8(id), priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// Sign signs claims with the active key (claims.KeyID is set here).
func (s *Signer) Sign(c code.Claims) (string, error) {
	c.KeyID = s.KeyID
	return code.Sign(s.priv, c)
}

// List returns every key's public half, newest first.
func List(ctx context.Context, db DB) ([]Public, error) {
	rows, err := db.Query(ctx, `SELECT id, public_key, active, created_at, coalesce(retired_at, 'epoch'::timestamptz)
		FROM signing_keys ORDER BY id DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Public
	for rows.Next() {
		var p Public
		var id int
		if err := rows.Scan(&id, &p.PublicKey, &p.Active, &p.CreatedAt, &p.RetiredAt); err != nil {
			return nil, err
		}
		p.ID = uint8(id)
		if p.RetiredAt.Unix() == 0 {
			p.RetiredAt = time.Time{}
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// KeySet returns a code.KeySet with every public key, for verifying codes.
func KeySet(ctx context.Context, db DB) (*code.KeySet, error) {
	list, err := List(ctx, db)
	if err != nil {
		return nil, err
	}
	ks := code.NewKeySet()
	for _, p := range list {
		if err := ks.AddPublic(p.ID, ed25519.PublicKey(p.PublicKey)); err != nil {
			return nil, err
		}
	}
	return ks, nil
}
