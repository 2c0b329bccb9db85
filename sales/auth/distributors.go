package auth

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/web"
)

// Distributor is a reseller (an OTA, a travel agency) whose systems call
// the API with keys.
type Distributor struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
}

// APIKey is a distributor's key as listed: never the key itself.
type APIKey struct {
	ID            int64     `json:"id"`
	DistributorID int64     `json:"distributor_id"`
	Prefix        string    `json:"prefix"` // the key's first characters, to tell keys apart
	CreatedAt     time.Time `json:"created_at"`
	RevokedAt     time.Time `json:"revoked_at,omitzero"`
}

func (a *API) distributor(ctx context.Context, q querier, id int64) (Distributor, error) {
	var d Distributor
	err := q.QueryRow(ctx, `SELECT id, name, active, created_at FROM distributors WHERE id = $1`, id).
		Scan(&d.ID, &d.Name, &d.Active, &d.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, notFound("unknown_distributor", "no distributor with id %d", id)
	}
	return d, err
}

// CreateDistributor adds a distributor (admin only); names are unique.
func (a *API) CreateDistributor(ctx context.Context, by web.Principal, name string) (Distributor, error) {
	if err := requireAdmin(by, "create distributors"); err != nil {
		return Distributor{}, err
	}
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 200 || printable(name) != name {
		return Distributor{}, invalid("bad_name", "a distributor needs a name of 1-200 printable characters")
	}
	var d Distributor
	err := a.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO distributors (name, created_at) VALUES ($1, $2)
			RETURNING id, name, active, created_at`, name, a.now()).Scan(&d.ID, &d.Name, &d.Active, &d.CreatedAt)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" {
			return conflict("distributor_exists", "a distributor named %q exists", name)
		}
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx, by, "distributor.create", "distributor", strconv.FormatInt(d.ID, 10),
			map[string]any{"name": name})
	})
	return d, err
}

// ListDistributors returns every distributor, by id (admin only).
func (a *API) ListDistributors(ctx context.Context, by web.Principal) ([]Distributor, error) {
	if err := requireAdmin(by, "list distributors"); err != nil {
		return nil, err
	}
	rows, err := a.pool.Query(ctx, `SELECT id, name, active, created_at FROM distributors ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Distributor, error) {
		var d Distributor
		err := r.Scan(&d.ID, &d.Name, &d.Active, &d.CreatedAt)
		return d, err
	})
}

// CreateAPIKey makes a key for a distributor (admin only) and returns it:
// key is shown only now; the database keeps its SHA-256 and prefix.
func (a *API) CreateAPIKey(ctx context.Context, by web.Principal, distributorID int64) (k APIKey, key string, err error) {
	if err := requireAdmin(by, "create API keys"); err != nil {
		return k, "", err
	}
	key, hash := newToken(APIKeyPrefix)
	err = a.inTx(ctx, func(tx pgx.Tx) error {
		d, err := a.distributor(ctx, tx, distributorID)
		if err != nil {
			return err
		}
		if !d.Active {
			return conflict("distributor_inactive", "distributor %d is inactive", distributorID)
		}
		k = APIKey{DistributorID: distributorID, Prefix: key[:keyPrefixLen], CreatedAt: a.now()}
		if err := tx.QueryRow(ctx, `INSERT INTO api_keys (distributor_id, prefix, key_hash, created_at)
			VALUES ($1, $2, $3, $4) RETURNING id`, distributorID, k.Prefix, hash, k.CreatedAt).Scan(&k.ID); err != nil {
			return err
		}
		return audit.Record(ctx, tx, by, "api_key.create", "api_key", strconv.FormatInt(k.ID, 10),
			map[string]any{"distributor_id": distributorID, "prefix": k.Prefix})
	})
	if err != nil {
		return APIKey{}, "", err
	}
	return k, key, nil
}

// ListAPIKeys returns a distributor's keys, newest first (admin only).
func (a *API) ListAPIKeys(ctx context.Context, by web.Principal, distributorID int64) ([]APIKey, error) {
	if err := requireAdmin(by, "list API keys"); err != nil {
		return nil, err
	}
	if _, err := a.distributor(ctx, a.pool, distributorID); err != nil {
		return nil, err
	}
	rows, err := a.pool.Query(ctx, `SELECT id, distributor_id, prefix, created_at, revoked_at
		FROM api_keys WHERE distributor_id = $1 ORDER BY id DESC`, distributorID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanKey)
}

func scanKey(r pgx.CollectableRow) (APIKey, error) {
	var k APIKey
	var revoked *time.Time
	err := r.Scan(&k.ID, &k.DistributorID, &k.Prefix, &k.CreatedAt, &revoked)
	if revoked != nil {
		k.RevokedAt = *revoked
	}
	return k, err
}

// RevokeAPIKey revokes a key at once (admin only). Revoking a revoked key
// changes nothing and returns it as it is.
func (a *API) RevokeAPIKey(ctx context.Context, by web.Principal, id int64) (APIKey, error) {
	if err := requireAdmin(by, "revoke API keys"); err != nil {
		return APIKey{}, err
	}
	var k APIKey
	err := a.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, distributor_id, prefix, created_at, revoked_at
			FROM api_keys WHERE id = $1 FOR UPDATE`, id)
		if err != nil {
			return err
		}
		k, err = pgx.CollectExactlyOneRow(rows, scanKey)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("unknown_api_key", "no API key with id %d", id)
		}
		if err != nil || !k.RevokedAt.IsZero() {
			return err
		}
		k.RevokedAt = a.now()
		if _, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = $2 WHERE id = $1`, id, k.RevokedAt); err != nil {
			return err
		}
		return audit.Record(ctx, tx, by, "api_key.revoke", "api_key", strconv.FormatInt(id, 10),
			map[string]any{"distributor_id": k.DistributorID, "prefix": k.Prefix})
	})
	return k, err
}
