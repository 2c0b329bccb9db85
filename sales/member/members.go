package member

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/orders"
	"github.com/admitpark/admit/sales/web"
)

// Member is a customer record as the API shows it: the ID number only
// masked.
type Member struct {
	ID        int64     `json:"id"`
	Category  string    `json:"category"`
	Name      string    `json:"name"`
	Phone     string    `json:"phone,omitempty"`
	IDMasked  string    `json:"id_masked,omitempty"`
	PhotoRef  string    `json:"photo_ref,omitempty"`
	Note      string    `json:"note,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Cards     []Card    `json:"cards"`
}

// MemberInput creates a member (POST /v1/members) or, with pointers left
// nil meaning "unchanged", edits one (PATCH /v1/members/{id}). IDNumber is
// kept only as a keyed hash and a mask; "" on edit removes it.
type MemberInput struct {
	Category *string `json:"category,omitempty"`
	Name     *string `json:"name,omitempty"`
	Phone    *string `json:"phone,omitempty"`
	IDNumber *string `json:"id_number,omitempty"`
	PhotoRef *string `json:"photo_ref,omitempty"`
	Note     *string `json:"note,omitempty"`
}

// memberRow is a members row as written.
type memberRow struct {
	Category, Name, Phone string
	IDHash                []byte
	IDMasked              string
	PhotoRef, Note        string
}

var (
	categoryRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	photoRefRe = regexp.MustCompile(`^[\x21-\x7e]{0,256}$`)
)

// cleanText trims s and checks it: at most max characters of printable
// UTF-8; required says whether it may be empty.
func cleanText(s, what string, max int, required bool) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" && required {
		return "", fmt.Errorf("%s is empty", what)
	}
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return "", fmt.Errorf("%s must be at most %d characters of valid UTF-8", what, max)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", fmt.Errorf("%s holds a control character", what)
		}
	}
	return s, nil
}

// apply checks in and applies it over m (nil fields leave m's).
func (a *API) apply(m memberRow, in MemberInput) (memberRow, error) {
	var err error
	if in.Category != nil {
		if !categoryRe.MatchString(*in.Category) {
			return m, bad("bad_category", `"category" must be a category id like ordinary, vip or annual, not %q`, *in.Category)
		}
		m.Category = *in.Category
	}
	if in.Name != nil {
		if m.Name, err = cleanText(*in.Name, `"name"`, 64, true); err != nil {
			return m, bad("bad_name", "%v", err)
		}
	}
	if in.Phone != nil {
		m.Phone = ""
		if strings.TrimSpace(*in.Phone) != "" {
			if m.Phone, err = orders.NormalizePhone(*in.Phone); err != nil {
				return m, bad("bad_phone", `"phone": %v`, err)
			}
		}
	}
	if in.IDNumber != nil {
		m.IDHash, m.IDMasked = nil, ""
		if strings.TrimSpace(*in.IDNumber) != "" {
			id, err := orders.NormalizeHolderID(*in.IDNumber)
			if err != nil {
				return m, bad("bad_id_number", `"id_number": %v`, err)
			}
			m.IDHash, m.IDMasked = orders.HashHolderID(a.cfg.HolderIDSecret, id), orders.MaskHolderID(id)
		}
	}
	if in.PhotoRef != nil {
		if !photoRefRe.MatchString(*in.PhotoRef) {
			return m, bad("bad_photo_ref", `"photo_ref" is a file or object name: up to 256 printable ASCII characters without spaces`)
		}
		m.PhotoRef = *in.PhotoRef
	}
	if in.Note != nil {
		if m.Note, err = cleanText(*in.Note, `"note"`, 500, false); err != nil {
			return m, bad("bad_note", "%v", err)
		}
	}
	if m.Category == "" {
		m.Category = "ordinary"
	}
	if m.Name == "" {
		return m, bad("bad_name", `"name" is required`)
	}
	return m, nil
}

// memberWrite turns a unique or foreign-key violation into a problem.
func memberWrite(err error, m memberRow) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.ConstraintName {
		case "members_phone":
			return conflict("member_exists", "a member with phone %s exists already", m.Phone)
		case "members_id_hash":
			return conflict("member_exists", "a member with ID number %s exists already", m.IDMasked)
		case "members_category_fkey":
			return bad("unknown_category", "no member category %q (see GET /v1/member-categories)", m.Category)
		}
	}
	return err
}

// CreateMember adds a member; a phone or ID number another member has is a
// 409 member_exists problem (records are deduplicated by both).
func (a *API) CreateMember(ctx context.Context, p web.Principal, in MemberInput) (Member, error) {
	m, err := a.apply(memberRow{}, in)
	if err != nil {
		return Member{}, err
	}
	var id int64
	err = pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		var err error
		if id, err = insertMember(ctx, tx, m, a.now()); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "member.create", "member", fmt.Sprint(id), m.auditDetails())
	})
	if err != nil {
		return Member{}, err
	}
	return a.GetMember(ctx, id)
}

func insertMember(ctx context.Context, tx pgx.Tx, m memberRow, now time.Time) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO members (category, name, phone, id_hash, id_masked, photo_ref, note, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id`,
		m.Category, m.Name, m.Phone, m.IDHash, m.IDMasked, m.PhotoRef, m.Note, now).Scan(&id)
	return id, memberWrite(err, m)
}

func updateMember(ctx context.Context, tx pgx.Tx, id int64, m memberRow, now time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE members SET category = $2, name = $3, phone = $4, id_hash = $5, id_masked = $6,
		photo_ref = $7, note = $8, updated_at = $9 WHERE id = $1`,
		id, m.Category, m.Name, m.Phone, m.IDHash, m.IDMasked, m.PhotoRef, m.Note, now)
	return memberWrite(err, m)
}

// auditDetails names what changed without the ID number or its hash.
func (m memberRow) auditDetails() map[string]any {
	return map[string]any{"category": m.Category, "name": m.Name, "phone": m.Phone, "id_masked": m.IDMasked,
		"photo_ref": m.PhotoRef, "note": m.Note}
}

func lockMember(ctx context.Context, tx pgx.Tx, id int64) (memberRow, error) {
	var m memberRow
	err := tx.QueryRow(ctx, `SELECT category, name, phone, id_hash, id_masked, photo_ref, note FROM members WHERE id = $1 FOR UPDATE`, id).
		Scan(&m.Category, &m.Name, &m.Phone, &m.IDHash, &m.IDMasked, &m.PhotoRef, &m.Note)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, notFound("unknown_member", "no member %d", id)
	}
	return m, err
}

// UpdateMember edits a member's details (fields left out stay).
func (a *API) UpdateMember(ctx context.Context, p web.Principal, id int64, in MemberInput) (Member, error) {
	err := pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		old, err := lockMember(ctx, tx, id)
		if err != nil {
			return err
		}
		m, err := a.apply(old, in)
		if err != nil {
			return err
		}
		if err := updateMember(ctx, tx, id, m, a.now()); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "member.update", "member", fmt.Sprint(id),
			map[string]any{"before": old.auditDetails(), "after": m.auditDetails()})
	})
	if err != nil {
		return Member{}, err
	}
	return a.GetMember(ctx, id)
}

const memberCols = `id, category, name, phone, id_masked, photo_ref, note, created_at, updated_at`

func scanMember(row pgx.Row) (Member, error) {
	var m Member
	err := row.Scan(&m.ID, &m.Category, &m.Name, &m.Phone, &m.IDMasked, &m.PhotoRef, &m.Note, &m.CreatedAt, &m.UpdatedAt)
	return m, err
}

// GetMember returns a member with their cards.
func (a *API) GetMember(ctx context.Context, id int64) (Member, error) {
	m, err := scanMember(a.cfg.Pool.QueryRow(ctx, `SELECT `+memberCols+` FROM members WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return m, notFound("unknown_member", "no member %d", id)
	}
	if err != nil {
		return m, err
	}
	m.Cards, err = cardsOf(ctx, a.cfg.Pool, id)
	return m, err
}

// MaxList bounds a member search.
const MaxList = 100

// FindMembers finds members by phone, ID number or name prefix (one of
// them), up to MaxList.
func (a *API) FindMembers(ctx context.Context, phone, idNumber, name string) ([]Member, error) {
	var (
		where string
		arg   any
	)
	switch {
	case phone != "":
		ph, err := orders.NormalizePhone(phone)
		if err != nil {
			return nil, bad("bad_phone", "phone: %v", err)
		}
		where, arg = `phone = $1`, ph
	case idNumber != "":
		id, err := orders.NormalizeHolderID(idNumber)
		if err != nil {
			return nil, bad("bad_id_number", "id_number: %v", err)
		}
		where, arg = `id_hash = $1`, orders.HashHolderID(a.cfg.HolderIDSecret, id)
	case name != "":
		n, err := cleanText(name, "name", 64, true)
		if err != nil {
			return nil, bad("bad_name", "%v", err)
		}
		where, arg = `name LIKE $1 || '%'`, strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(n)
	default:
		return nil, bad("missing_filter", "give phone=, id_number= or name=")
	}
	rows, err := a.cfg.Pool.Query(ctx, `SELECT `+memberCols+` FROM members WHERE `+where+` ORDER BY id LIMIT $2`, arg, MaxList)
	if err != nil {
		return nil, err
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Member, error) { return scanMember(r) })
	if err != nil {
		return nil, err
	}
	for i := range ms {
		if ms[i].Cards, err = cardsOf(ctx, a.cfg.Pool, ms[i].ID); err != nil {
			return nil, err
		}
	}
	return ms, nil
}

// Category is a member category and its points rule.
type Category struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	PointsPerUnit    int    `json:"points_per_unit"`    // points earned per UnitMinor spent from the balance
	UnitMinor        int64  `json:"unit_minor"`         // minor units
	PointValueMinor  int64  `json:"point_value_minor"`  // what one redeemed point pays, minor units
	RefundFeePercent int    `json:"refund_fee_percent"` // of the balance, kept when a card is refunded
}

// Validate checks a category.
func (c Category) Validate() error {
	switch {
	case !categoryRe.MatchString(c.ID):
		return bad("bad_category", `"id" must be 1-32 lower-case letters, digits, _ or -`)
	case strings.TrimSpace(c.Name) == "" || utf8.RuneCountInString(c.Name) > 64:
		return bad("bad_category", `"name" must be 1-64 characters`)
	case c.PointsPerUnit < 0 || c.PointsPerUnit > 1_000_000:
		return bad("bad_category", `"points_per_unit" must be 0-1000000`)
	case c.UnitMinor < 1:
		return bad("bad_category", `"unit_minor" must be at least 1`)
	case c.PointValueMinor < 0 || c.PointValueMinor > 1_000_000:
		return bad("bad_category", `"point_value_minor" must be 0-1000000`)
	case c.RefundFeePercent < 0 || c.RefundFeePercent > 100:
		return bad("bad_category", `"refund_fee_percent" must be 0-100`)
	}
	return nil
}

// Categories lists the member categories.
func (a *API) Categories(ctx context.Context) ([]Category, error) {
	rows, err := a.cfg.Pool.Query(ctx, `SELECT id, name, points_per_unit, unit_minor, point_value_minor, refund_fee_percent
		FROM member_categories ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Category, error) {
		var c Category
		err := r.Scan(&c.ID, &c.Name, &c.PointsPerUnit, &c.UnitMinor, &c.PointValueMinor, &c.RefundFeePercent)
		return c, err
	})
}

// PutCategory creates or replaces a category (admin).
func (a *API) PutCategory(ctx context.Context, p web.Principal, c Category) (Category, error) {
	if err := c.Validate(); err != nil {
		return c, err
	}
	err := pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO member_categories (id, name, points_per_unit, unit_minor, point_value_minor, refund_fee_percent)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name,
			points_per_unit = EXCLUDED.points_per_unit, unit_minor = EXCLUDED.unit_minor,
			point_value_minor = EXCLUDED.point_value_minor, refund_fee_percent = EXCLUDED.refund_fee_percent`,
			c.ID, c.Name, c.PointsPerUnit, c.UnitMinor, c.PointValueMinor, c.RefundFeePercent); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "member_category.put", "member_category", c.ID, c)
	})
	return c, err
}
