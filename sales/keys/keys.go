// Package keys manages the Ed25519 keys that sign ticket codes. Each code
// carries its key id, so keys can rotate: new codes are signed with the one
// active key, and retired keys still verify the codes they signed. Public
// keys are published (GET /v1/keys) for offline handhelds.
//
// Private keys are sealed at rest: signing_keys.private_key holds the seed
// encrypted with a key-encryption key (KEK, AES-256-GCM, bound to the key's
// id) that lives outside the database (`admit sales --key-file`, or
// ADMIT_KEK), and signing_keys.kek_id names the KEK. A row with kek_id NULL
// holds a plain seed left by an older version: Ensure seals it at the next
// start. Rewrap moves every key to a new KEK (`admit sales keys rewrap`).
// Without the KEK, a copy of the database or its backups cannot sign.
package keys

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/admitpark/admit/sync/outbox"
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

// Ensure makes the keys usable with kek, at every start of the service: it
// seals the plain seeds older versions stored (kek_id NULL), checks every
// key is sealed with kek (ErrWrongKEK, naming both KEKs, otherwise), and
// creates key 1 as the active key when the database has none. When the
// public key set differs from the one last sent to the parks' clusters
// (and at the first start of this version), it sends it (see ForClusters).
// It returns how many plain keys it sealed.
func Ensure(ctx context.Context, db Beginner, kek *KEK) (sealed int, err error) {
	if kek == nil {
		return 0, ErrNoKEK
	}
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		// Several processes may start at once: one at a time here.
		if _, err := tx.Exec(ctx, `LOCK TABLE signing_keys IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		list, err := lockStoredKeys(ctx, tx)
		if err != nil {
			return err
		}
		for _, r := range list {
			switch {
			case r.kekID == nil:
				if len(r.priv) != ed25519.SeedSize {
					return fmt.Errorf("signing key %d: stored plain seed has %d bytes", r.id, len(r.priv))
				}
				if err := store(ctx, tx, kek, r.id, r.priv); err != nil {
					return err
				}
				sealed++
			case *r.kekID != kek.ID():
				return fmt.Errorf("%w: key %d is sealed with %s, the key file given is %s (use the right --key-file, or move the keys with `admit sales keys rewrap`)",
					ErrWrongKEK, r.id, *r.kekID, kek.ID())
			default:
				if _, err := kek.open(r.id, r.priv); err != nil {
					return err
				}
			}
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM signing_keys WHERE active`).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			if _, err := insertKey(ctx, tx, kek); err != nil {
				return err
			}
		}
		return publish(ctx, tx)
	})
	return sealed, err
}

// Beginner is a pool (or a connection) that starts transactions.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// store seals seed with kek into row id.
func store(ctx context.Context, db DB, kek *KEK, id int, seed []byte) error {
	sealed, err := kek.seal(id, seed)
	if err != nil {
		return err
	}
	_, err = db.Exec(ctx, `UPDATE signing_keys SET private_key = $2, kek_id = $3 WHERE id = $1`, id, sealed, kek.ID())
	return err
}

// insertKey makes a new active key with the next id, sealed with kek.
func insertKey(ctx context.Context, db DB, kek *KEK) (int, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return 0, err
	}
	var id int
	if err := db.QueryRow(ctx, `SELECT coalesce(max(id), 0) + 1 FROM signing_keys`).Scan(&id); err != nil {
		return 0, err
	}
	if id > 255 {
		return 0, errors.New("rotate signing key: at most 255 keys")
	}
	sealed, err := kek.seal(id, priv.Seed())
	if err != nil {
		return 0, err
	}
	_, err = db.Exec(ctx, `INSERT INTO signing_keys (id, public_key, private_key, kek_id, active)
		VALUES ($1, $2, $3, $4, true)`, id, []byte(pub), sealed, kek.ID())
	return id, err
}

// Rotate retires the active key and makes a new one active, sealed with
// kek; it returns the new key's id. Codes signed with the old key keep
// verifying. Every park's cluster is sent the new set (see ForClusters).
func Rotate(ctx context.Context, tx pgx.Tx, kek *KEK) (uint8, error) {
	if kek == nil {
		return 0, ErrNoKEK
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE signing_keys IN EXCLUSIVE MODE`); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `UPDATE signing_keys SET active = false, retired_at = now() WHERE active`); err != nil {
		return 0, err
	}
	id, err := insertKey(ctx, tx, kek)
	if err != nil {
		return 0, fmt.Errorf("rotate signing key (at most 255 keys): %w", err)
	}
	if err := publish(ctx, tx); err != nil {
		return 0, err
	}
	return uint8(id), nil
}

// storedKey is a signing_keys row as stored: the private half plain (kekID
// nil, from before sealing) or sealed with the KEK kekID names.
type storedKey struct {
	id    int
	priv  []byte
	kekID *string
}

// lockStoredKeys reads every signing key, locking the rows for the
// transaction, in id order.
func lockStoredKeys(ctx context.Context, tx pgx.Tx) ([]storedKey, error) {
	rows, err := tx.Query(ctx, `SELECT id, private_key, kek_id FROM signing_keys ORDER BY id FOR UPDATE`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (storedKey, error) {
		var k storedKey
		return k, r.Scan(&k.id, &k.priv, &k.kekID)
	})
}

// Rewrap seals every private key with newKEK: keys sealed with oldKEK are
// opened with it, plain ones (kek_id NULL) are sealed directly, keys
// already under newKEK are left alone; a key under any other KEK fails the
// whole rewrap (ErrWrongKEK), which changes nothing. One transaction. It
// returns how many keys it moved.
func Rewrap(ctx context.Context, db Beginner, oldKEK, newKEK *KEK) (int, error) {
	if oldKEK == nil || newKEK == nil {
		return 0, ErrNoKEK
	}
	moved := 0
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		list, err := lockStoredKeys(ctx, tx)
		if err != nil {
			return err
		}
		for _, r := range list {
			var seed []byte
			switch {
			case r.kekID != nil && *r.kekID == newKEK.ID():
				if _, err := newKEK.open(r.id, r.priv); err != nil {
					return err
				}
				continue
			case r.kekID == nil:
				seed = r.priv
			case *r.kekID == oldKEK.ID():
				if seed, err = oldKEK.open(r.id, r.priv); err != nil {
					return err
				}
			default:
				return fmt.Errorf("%w: key %d is sealed with %s, neither the old (%s) nor the new key (%s)",
					ErrWrongKEK, r.id, *r.kekID, oldKEK.ID(), newKEK.ID())
			}
			if len(seed) != ed25519.SeedSize {
				return fmt.Errorf("signing key %d: seed has %d bytes", r.id, len(seed))
			}
			if err := store(ctx, tx, newKEK, r.id, seed); err != nil {
				return err
			}
			moved++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return moved, nil
}

// Signer signs codes with the active key.
type Signer struct {
	KeyID uint8
	priv  ed25519.PrivateKey
}

// Active loads the active key, opening it with kek.
func Active(ctx context.Context, db DB, kek *KEK) (*Signer, error) {
	if kek == nil {
		return nil, ErrNoKEK
	}
	var id int
	var sealed []byte
	var kekID *string
	err := db.QueryRow(ctx, `SELECT id, private_key, kek_id FROM signing_keys WHERE active`).Scan(&id, &sealed, &kekID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoActiveKey
	}
	if err != nil {
		return nil, err
	}
	if kekID == nil || *kekID != kek.ID() {
		return nil, fmt.Errorf("%w: active key %d is not sealed with %s (restart the service to seal plain keys)", ErrWrongKEK, id, kek.ID())
	}
	seed, err := kek.open(id, sealed)
	if err != nil {
		return nil, err
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

// PublishedKey is the settings key holding the public key set last written
// to the parks' clusters (a JSON array of outbox.Key).
const PublishedKey = "keys.published"

// ForClusters returns the public keys a park's cluster must know to admit
// the codes sales signs: every key that verifies codes (the active key and
// the retired ones, which still verify the codes they signed, as GET
// /v1/keys publishes them), by id. The keys are global, not per park:
// every park's cluster gets the same set. It locks signing_keys in SHARE
// mode until tx ends, so a rotation cannot slip between this read and the
// caller's outbox row (a new park's configure row): Ensure and Rotate hold
// EXCLUSIVE.
func ForClusters(ctx context.Context, tx DB) ([]outbox.Key, error) {
	if _, err := tx.Exec(ctx, `LOCK TABLE signing_keys IN SHARE MODE`); err != nil {
		return nil, err
	}
	return clusterKeys(ctx, tx)
}

// RetireGrace is how long a retired key stays in the set sent to the
// clusters even when no ticket of its codes is left unexpired: an order
// that read the old active key just before a rotation may still commit
// tickets signed with it.
const RetireGrace = 24 * time.Hour

// clusterKeys is the set the parks' clusters (and their offline gate
// agents) verify codes with: the active key, and each retired key until it
// retires for good: RetireGrace after its rotation and once no ticket whose
// current code it signed is still valid (tickets.valid_until). A key that
// leaves the set verifies no code that could still admit; an agent drops
// it too. The set is recomputed, and sent when it changed, at every start
// of the service (Ensure) and every rotation.
func clusterKeys(ctx context.Context, db DB) ([]outbox.Key, error) {
	rows, err := db.Query(ctx, `SELECT k.id, k.public_key FROM signing_keys k
		WHERE k.active OR k.retired_at IS NULL OR k.retired_at > now() - make_interval(secs => $1)
			OR EXISTS (SELECT 1 FROM tickets t WHERE t.key_id = k.id AND (t.valid_until IS NULL OR t.valid_until > now()))
		ORDER BY k.id`, RetireGrace.Seconds())
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (outbox.Key, error) {
		var id int
		var pub []byte
		if err := r.Scan(&id, &pub); err != nil {
			return outbox.Key{}, err
		}
		if len(pub) != ed25519.PublicKeySize {
			return outbox.Key{}, fmt.Errorf("signing key %d: public key has %d bytes", id, len(pub))
		}
		return outbox.Key{ID: uint8(id), Public: base64.StdEncoding.EncodeToString(pub)}, nil
	})
}

// publish writes, in tx (which holds signing_keys EXCLUSIVE), an outbox
// configure row {"park","keys"} for every park when the key set differs
// from the one last written (settings PublishedKey), and records the set.
// A park created later gets the set in its own configure row (catalog).
func publish(ctx context.Context, tx pgx.Tx) error {
	set, err := clusterKeys(ctx, tx)
	if err != nil {
		return err
	}
	now, err := json.Marshal(set)
	if err != nil {
		return err
	}
	var last []byte
	err = tx.QueryRow(ctx, `SELECT value::text FROM settings WHERE key = $1`, PublishedKey).Scan(&last)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	if last != nil {
		var old []outbox.Key
		if json.Unmarshal(last, &old) == nil && slices.Equal(old, set) {
			return nil
		}
	}
	rows, err := tx.Query(ctx, `SELECT id FROM parks ORDER BY id`)
	if err != nil {
		return err
	}
	parks, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, p := range parks {
		if _, err := outbox.WriteConfigure(ctx, tx, outbox.Configure{Park: p, Keys: set}); err != nil {
			return fmt.Errorf("send the signing keys to park %s's cluster: %w", p, err)
		}
	}
	_, err = tx.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2::jsonb)
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`, PublishedKey, string(now))
	return err
}
