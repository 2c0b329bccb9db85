// Package audit writes the audit log: who changed what, when, from where.
// Record runs in the same transaction as the change it describes, so the
// log has an entry for every change and none for a change rolled back.
// API (query.go) reads it back for finance and admins: GET /v1/audit,
// filtered and paged by id from the newest down (keyset, no OFFSET).
package audit

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/admitpark/admit/sales/web"
)

// DB is a pgx.Tx (normally) or a pool.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Record adds one entry. details is any JSON-encodable value (nil: {}).
func Record(ctx context.Context, db DB, p web.Principal, action, objectType, objectID string, details any) error {
	d := []byte("{}")
	if details != nil {
		var err error
		if d, err = json.Marshal(details); err != nil {
			return fmt.Errorf("audit details: %w", err)
		}
	}
	var userID, keyID *int64
	if p.UserID != 0 {
		userID = &p.UserID
	}
	if p.APIKeyID != 0 {
		keyID = &p.APIKeyID
	}
	_, err := db.Exec(ctx, `INSERT INTO audit_log (user_id, api_key_id, action, object_type, object_id, details, remote_addr)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, userID, keyID, action, objectType, objectID, d, p.RemoteAddr)
	return err
}
