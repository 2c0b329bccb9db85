package auth

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/web"
)

// InitialAdmin is the username Init gives the first admin.
const InitialAdmin = "admin"

// initLockKey is the advisory lock that serializes Init across processes.
const initLockKey = 0x61646d6974_01 // "admit", 1

// InitResult says what Init did. Password is set only when Created: print
// it once; the admin must change it at first login.
type InitResult struct {
	Created  bool   `json:"created"`
	Username string `json:"username"`
	Password string `json:"password,omitempty"`
	Message  string `json:"message"`
}

// Init creates the first admin, user "admin" with a random one-time
// password, when no enabled admin exists; otherwise it does nothing and
// says so. It is safe to run on every start and from several processes at
// once (an advisory lock serializes them).
func (a *API) Init(ctx context.Context) (InitResult, error) {
	password := oneTimePassword()
	hash, err := a.hashPassword(ctx, password)
	if err != nil {
		return InitResult{}, err
	}
	var res InitResult
	err = a.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(initLockKey)); err != nil {
			return err
		}
		var admins []string
		rows, err := tx.Query(ctx, `SELECT username FROM users WHERE role = 'admin' AND NOT disabled ORDER BY id LIMIT 3`)
		if err != nil {
			return err
		}
		if admins, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		if len(admins) > 0 {
			res = InitResult{Username: admins[0], Message: fmt.Sprintf("an admin exists (%s); nothing to do", admins[0])}
			return nil
		}
		u, err := a.insertUser(ctx, tx, NewUser{Username: InitialAdmin, DisplayName: "Administrator", Role: web.RoleAdmin}, hash, true)
		if errors.Is(err, ErrConflict) {
			return fmt.Errorf("create the first admin: user %q exists but is no enabled admin; enable it or rename it: %w", InitialAdmin, err)
		}
		if err != nil {
			return err
		}
		res = InitResult{Created: true, Username: u.Username, Password: password,
			Message: fmt.Sprintf("created admin %q with a one-time password; log in and change it", u.Username)}
		return audit.Record(ctx, tx, web.Principal{}, "user.init_admin", "user", strconv.FormatInt(u.ID, 10),
			map[string]any{"username": u.Username, "role": u.Role})
	})
	if err != nil {
		return InitResult{}, err
	}
	return res, nil
}
