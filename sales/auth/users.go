package auth

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/web"
)

// User is an account as shown to admins and to the user; never the hash.
type User struct {
	ID                 int64     `json:"id"`
	Username           string    `json:"username"`
	DisplayName        string    `json:"display_name"`
	Role               string    `json:"role"`
	SalesPointID       string    `json:"sales_point_id,omitempty"`
	DistributorID      int64     `json:"distributor_id,omitempty"`
	MustChangePassword bool      `json:"must_change_password"`
	FailedLogins       int       `json:"failed_logins"`         // consecutive wrong passwords
	LockedUntil        time.Time `json:"locked_until,omitzero"` // as stored; may be past
	Locked             bool      `json:"locked"`                // LockedUntil is in the future
	Disabled           bool      `json:"disabled"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
}

// Roles lists every role, as in users.role.
var Roles = []string{web.RoleAdmin, web.RoleCashier, web.RoleGateOperator, web.RoleFinance, web.RoleDistributor}

var (
	usernameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,63}$`)
	salesPointRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`) // as sales_points.id
)

const userCols = `id, username, display_name, role, password_hash, must_change_password, failed_logins,
	locked_until, disabled, coalesce(sales_point_id, ''), coalesce(distributor_id, 0), created_at, updated_at`

// userRow is a user with its password hash, inside the package only.
type userRow struct {
	User
	hash string
}

func scanUser(row pgx.Row, now time.Time) (userRow, error) {
	var u userRow
	var locked *time.Time
	err := row.Scan(&u.ID, &u.Username, &u.DisplayName, &u.Role, &u.hash, &u.MustChangePassword, &u.FailedLogins,
		&locked, &u.Disabled, &u.SalesPointID, &u.DistributorID, &u.CreatedAt, &u.UpdatedAt)
	if locked != nil {
		u.LockedUntil = locked.UTC()
		u.Locked = u.LockedUntil.After(now)
	}
	return u, err
}

// querier is a pgx.Tx or the pool.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (a *API) userByID(ctx context.Context, q querier, id int64, forUpdate bool) (userRow, error) {
	sql := `SELECT ` + userCols + ` FROM users WHERE id = $1`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	u, err := scanUser(q.QueryRow(ctx, sql, id), a.now())
	if errors.Is(err, pgx.ErrNoRows) {
		return u, notFound("unknown_user", "no user with id %d", id)
	}
	return u, err
}

func (a *API) userByName(ctx context.Context, q querier, username string) (userRow, error) {
	u, err := scanUser(q.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE username = $1`, username), a.now())
	if errors.Is(err, pgx.ErrNoRows) {
		return u, notFound("unknown_user", "no user %q", username)
	}
	return u, err
}

// NewUser is a request to create a user.
type NewUser struct {
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
	Role        string `json:"role"`
	// Password: empty makes a one-time password, returned once, that the
	// user must change at first login.
	Password           string `json:"password"`
	MustChangePassword bool   `json:"must_change_password"`
	SalesPointID       string `json:"sales_point_id"` // cashiers: required; other roles: not allowed
	DistributorID      int64  `json:"distributor_id"` // distributor users: required; other roles: not allowed
}

func (n *NewUser) validate() error {
	n.Username = strings.TrimSpace(n.Username)
	n.DisplayName = strings.TrimSpace(n.DisplayName)
	if !usernameRE.MatchString(n.Username) {
		return invalid("bad_username", "username %q must be 2-64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit", clip(printable(n.Username), 80))
	}
	if utf8.RuneCountInString(n.DisplayName) > 200 || printable(n.DisplayName) != n.DisplayName {
		return invalid("bad_display_name", "display_name must be at most 200 printable characters")
	}
	if !validRole(n.Role) {
		return invalid("bad_role", "role %q is not one of %v", clip(printable(n.Role), 40), Roles)
	}
	switch {
	case n.Role == web.RoleCashier && n.SalesPointID == "":
		return invalid("sales_point_required", "a cashier needs sales_point_id: the window they sell at")
	case n.Role != web.RoleCashier && n.SalesPointID != "":
		return invalid("sales_point_not_allowed", "only cashiers have a sales_point_id, not role %s", n.Role)
	case n.SalesPointID != "" && !salesPointRE.MatchString(n.SalesPointID):
		return invalid("bad_sales_point", "sales_point_id %q is not a sales point id", clip(printable(n.SalesPointID), 80))
	case n.Role == web.RoleDistributor && n.DistributorID <= 0:
		return invalid("distributor_required", "a distributor user needs distributor_id")
	case n.Role != web.RoleDistributor && n.DistributorID != 0:
		return invalid("distributor_not_allowed", "only distributor users have a distributor_id, not role %s", n.Role)
	}
	if n.Password != "" {
		return checkPassword(n.Password)
	}
	return nil
}

func validRole(r string) bool {
	for _, x := range Roles {
		if r == x {
			return true
		}
	}
	return false
}

// CreateUser creates a user (admin only). When n.Password is empty it
// makes a one-time password and returns it (shown once; the user must
// change it); otherwise oneTime is "".
func (a *API) CreateUser(ctx context.Context, by web.Principal, n NewUser) (u User, oneTime string, err error) {
	if err := requireAdmin(by, "create users"); err != nil {
		return u, "", err
	}
	if err := n.validate(); err != nil {
		return u, "", err
	}
	password, mustChange := n.Password, n.MustChangePassword
	if password == "" {
		oneTime = oneTimePassword()
		password, mustChange = oneTime, true
	}
	hash, err := a.hashPassword(ctx, password)
	if err != nil {
		return u, "", err
	}
	err = a.inTx(ctx, func(tx pgx.Tx) error {
		if n.SalesPointID != "" {
			var active bool
			err := tx.QueryRow(ctx, `SELECT active FROM sales_points WHERE id = $1`, n.SalesPointID).Scan(&active)
			if errors.Is(err, pgx.ErrNoRows) {
				return notFound("unknown_sales_point", "no sales point %q", clip(printable(n.SalesPointID), 80))
			}
			if err != nil {
				return err
			}
			if !active {
				return conflict("sales_point_inactive", "sales point %q is inactive", n.SalesPointID)
			}
		}
		if n.DistributorID != 0 {
			if _, err := a.distributor(ctx, tx, n.DistributorID); err != nil {
				return err
			}
		}
		row, err := a.insertUser(ctx, tx, n, hash, mustChange)
		if err != nil {
			return err
		}
		u = row.User
		return audit.Record(ctx, tx, by, "user.create", "user", strconv.FormatInt(u.ID, 10), map[string]any{
			"username": u.Username, "role": u.Role, "sales_point_id": u.SalesPointID,
			"distributor_id": u.DistributorID, "one_time_password": oneTime != "", "must_change_password": mustChange,
		})
	})
	if err != nil {
		return User{}, "", err
	}
	return u, oneTime, nil
}

func (a *API) insertUser(ctx context.Context, tx pgx.Tx, n NewUser, hash string, mustChange bool) (userRow, error) {
	now := a.now()
	var sp *string
	var dist *int64
	if n.SalesPointID != "" {
		sp = &n.SalesPointID
	}
	if n.DistributorID != 0 {
		dist = &n.DistributorID
	}
	u, err := scanUser(tx.QueryRow(ctx, `INSERT INTO users (username, display_name, role, password_hash,
			must_change_password, sales_point_id, distributor_id, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING `+userCols,
		n.Username, n.DisplayName, n.Role, hash, mustChange, sp, dist, now), now)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return u, conflict("username_taken", "username %q is taken", n.Username)
	}
	return u, err
}

// ListUsers returns every user, by id (admin only).
func (a *API) ListUsers(ctx context.Context, by web.Principal) ([]User, error) {
	if err := requireAdmin(by, "list users"); err != nil {
		return nil, err
	}
	rows, err := a.pool.Query(ctx, `SELECT `+userCols+` FROM users ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	now := a.now()
	out := []User{}
	for rows.Next() {
		u, err := scanUser(rows, now)
		if err != nil {
			return nil, err
		}
		out = append(out, u.User)
	}
	return out, rows.Err()
}

// Me returns the calling user.
func (a *API) Me(ctx context.Context, by web.Principal) (User, error) {
	if by.UserID == 0 {
		return User{}, notFound("no_user", "this caller is an API key, not a user")
	}
	u, err := a.userByID(ctx, a.pool, by.UserID, false)
	return u.User, err
}

// changeUser runs fn on the locked user row and records action, for the
// admin operations on one user.
func (a *API) changeUser(ctx context.Context, by web.Principal, id int64, what, action string,
	fn func(tx pgx.Tx, u userRow) (details map[string]any, err error)) (User, error) {
	if err := requireAdmin(by, what); err != nil {
		return User{}, err
	}
	var out User
	err := a.inTx(ctx, func(tx pgx.Tx) error {
		u, err := a.userByID(ctx, tx, id, true)
		if err != nil {
			return err
		}
		details, err := fn(tx, u)
		if err != nil {
			return err
		}
		if details == nil {
			details = map[string]any{}
		}
		details["username"] = u.Username
		if err := audit.Record(ctx, tx, by, action, "user", strconv.FormatInt(id, 10), details); err != nil {
			return err
		}
		after, err := a.userByID(ctx, tx, id, false)
		out = after.User
		return err
	})
	return out, err
}

// SetDisabled disables (and logs out) or enables a user (admin only). An
// admin cannot disable themself, so an enabled admin always remains.
func (a *API) SetDisabled(ctx context.Context, by web.Principal, id int64, disabled bool) (User, error) {
	action, what := "user.enable", "enable users"
	if disabled {
		action, what = "user.disable", "disable users"
	}
	return a.changeUser(ctx, by, id, what, action, func(tx pgx.Tx, u userRow) (map[string]any, error) {
		if disabled && id == by.UserID {
			return nil, conflict("cannot_disable_self", "you cannot disable your own account")
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET disabled = $2, updated_at = $3 WHERE id = $1`, id, disabled, a.now()); err != nil {
			return nil, err
		}
		d := map[string]any{"was_disabled": u.Disabled}
		if disabled {
			tag, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, id)
			if err != nil {
				return nil, err
			}
			d["sessions_ended"] = tag.RowsAffected()
		}
		return d, nil
	})
}

// Unlock forgets the wrong passwords counted for a user from every source,
// lifting any block (admin only).
func (a *API) Unlock(ctx context.Context, by web.Principal, id int64) (User, error) {
	return a.changeUser(ctx, by, id, "unlock users", "user.unlock", func(tx pgx.Tx, u userRow) (map[string]any, error) {
		return a.unlock(ctx, tx, u)
	})
}

func (a *API) unlock(ctx context.Context, tx pgx.Tx, u userRow) (map[string]any, error) {
	if _, err := tx.Exec(ctx, `UPDATE users SET failed_logins = 0, locked_until = NULL, updated_at = $2 WHERE id = $1`, u.ID, a.now()); err != nil {
		return nil, err
	}
	n, err := clearThrottle(ctx, tx, u.Username, "")
	return map[string]any{"failed_logins": u.FailedLogins, "sources_cleared": n}, err
}

// OperatorUnlock is Unlock for someone at the server rather than an admin
// over the API (`admit sales admin unlock USER`, talking to the database
// directly): the way back in when the last admin cannot log in. operator
// names who ran it, for the audit log.
func (a *API) OperatorUnlock(ctx context.Context, username, operator string) (User, int64, error) {
	username = strings.ToLower(strings.TrimSpace(username))
	by := web.Principal{Username: clip(printable(operator), 64), Role: "operator"}
	var out User
	var cleared int64
	err := a.inTx(ctx, func(tx pgx.Tx) error {
		u, err := a.userByName(ctx, tx, username)
		if err != nil {
			return err
		}
		if u, err = a.userByID(ctx, tx, u.ID, true); err != nil {
			return err
		}
		details, err := a.unlock(ctx, tx, u)
		if err != nil {
			return err
		}
		cleared = details["sources_cleared"].(int64)
		details["username"] = u.Username
		if err := audit.Record(ctx, tx, by, "user.unlock", "user", strconv.FormatInt(u.ID, 10), details); err != nil {
			return err
		}
		after, err := a.userByID(ctx, tx, u.ID, false)
		out = after.User
		return err
	})
	return out, cleared, err
}

// ResetPassword gives a user a new one-time password (admin only),
// returned once: the user must change it at next login. It also clears the
// lock and ends the user's sessions.
func (a *API) ResetPassword(ctx context.Context, by web.Principal, id int64) (User, string, error) {
	if err := requireAdmin(by, "reset passwords"); err != nil {
		return User{}, "", err
	}
	oneTime := oneTimePassword()
	hash, err := a.hashPassword(ctx, oneTime)
	if err != nil {
		return User{}, "", err
	}
	u, err := a.changeUser(ctx, by, id, "reset passwords", "user.reset_password", func(tx pgx.Tx, u userRow) (map[string]any, error) {
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, must_change_password = true,
			failed_logins = 0, locked_until = NULL, updated_at = $3 WHERE id = $1`, id, hash, a.now()); err != nil {
			return nil, err
		}
		if _, err := clearThrottle(ctx, tx, u.Username, ""); err != nil {
			return nil, err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, id)
		return map[string]any{"sessions_ended": tag.RowsAffected()}, err
	})
	if err != nil {
		return User{}, "", err
	}
	return u, oneTime, nil
}

// ChangePassword changes the caller's own password; it needs the old one.
// It clears must_change_password, ends every other session of the user
// (the caller's own, session, stays: the one asking keeps working; an API
// key or "" ends them all) and returns how many it ended. A wrong old
// password counts toward the caller's source's throttle like a failed
// login (403 wrong_old_password; 429 too_many_attempts once blocked).
func (a *API) ChangePassword(ctx context.Context, by web.Principal, session, oldPassword, newPassword string) (int64, error) {
	if by.UserID == 0 {
		return 0, problem(web.ErrForbidden, http.StatusForbidden, "no_password", "an API key has no password to change")
	}
	if err := checkPassword(newPassword); err != nil {
		return 0, err
	}
	if oldPassword == newPassword {
		return 0, problem(ErrWeakPassword, http.StatusBadRequest, "password_unchanged", "the new password must differ from the old one")
	}
	u, err := a.userByID(ctx, a.pool, by.UserID, false)
	if err != nil {
		return 0, err
	}
	source := web.Source(by.RemoteAddr)
	now := a.now()
	until, err := a.blockedUntil(ctx, a.pool, u.Username, source, now)
	if err != nil {
		return 0, err
	}
	if !until.IsZero() {
		return 0, a.refuseThrottled(ctx, by, "user.change_password_throttled", u.Username, source, until, now)
	}
	ok := false
	if len(oldPassword) <= MaxPasswordBytes {
		if ok, _, err = a.verifyPassword(ctx, u.hash, oldPassword); err != nil {
			return 0, err
		}
	}
	if !ok {
		blocked := false
		err := a.inTx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1`, u.ID); err != nil {
				return err
			}
			var err error
			blocked, err = a.countFailure(ctx, tx, by, "user.change_password_failed", u.Username, source,
				strconv.FormatInt(u.ID, 10), "wrong_password")
			return err
		})
		if err != nil {
			return 0, err
		}
		a.countLockout(blocked)
		return 0, problem(ErrBadCredentials, http.StatusForbidden, "wrong_old_password", "the old password is wrong")
	}
	hash, err := a.hashPassword(ctx, newPassword)
	if err != nil {
		return 0, err
	}
	keep := []byte{}
	if strings.HasPrefix(session, SessionPrefix) {
		keep = hashToken(session)
	}
	var ended int64
	err = a.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, must_change_password = false,
			failed_logins = 0, locked_until = NULL, updated_at = $4 WHERE id = $1 AND password_hash = $3`, u.ID, hash, u.hash, a.now())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return conflict("password_changed_meanwhile", "the password was changed meanwhile; log in again")
		}
		if tag, err = tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2`, u.ID, keep); err != nil {
			return err
		}
		ended = tag.RowsAffected()
		if _, err := clearThrottle(ctx, tx, u.Username, ""); err != nil {
			return err
		}
		return audit.Record(ctx, tx, by, "user.change_password", "user", strconv.FormatInt(u.ID, 10),
			map[string]any{"username": u.Username, "was_one_time": u.MustChangePassword, "other_sessions_ended": ended})
	})
	return ended, err
}

// clip shortens s to at most n bytes (on a rune boundary), for messages and
// audit details that echo caller input.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// printable drops control characters (and so NUL, which PostgreSQL text
// cannot hold) and invalid UTF-8.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}

func parseID(s, what string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, invalid("bad_id", "%s id %q is not a positive integer", what, clip(s, 40))
	}
	return id, nil
}
