package shift

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/web"
)

// Shift statuses.
const (
	StatusOpen      = "open"
	StatusClosed    = "closed"
	StatusConfirmed = "confirmed"
)

const maxNoteRunes = 500

// Shift is a shift as the API shows it. Report is live while the shift is
// open, frozen from the close on.
type Shift struct {
	ID                int64      `json:"id"`
	ParkID            string     `json:"park_id"`
	SalesPointID      string     `json:"sales_point_id"`
	UserID            int64      `json:"user_id"`
	Username          string     `json:"username"`
	Status            string     `json:"status"`
	Currency          string     `json:"currency"`
	OpeningFloatMinor int64      `json:"opening_float_minor"`
	OpenedAt          time.Time  `json:"opened_at"`
	ClosedAt          *time.Time `json:"closed_at,omitempty"`
	ClosedBy          *int64     `json:"closed_by,omitempty"`
	Note              string     `json:"note,omitempty"`
	ConfirmedAt       *time.Time `json:"confirmed_at,omitempty"`
	ConfirmedBy       *int64     `json:"confirmed_by,omitempty"`
	ConfirmNote       string     `json:"confirm_note,omitempty"`
	// Overdue: still open past the settings' max_open_minutes.
	Overdue bool   `json:"overdue"`
	Report  Report `json:"report"`
}

// OpenRequest opens a shift at the cashier's sales point.
type OpenRequest struct {
	OpeningFloatMinor int64  `json:"opening_float_minor"`
	SalesPointID      string `json:"sales_point_id,omitempty"` // must be the cashier's own, if given
}

// CloseRequest closes a shift with the money counted per method (minor
// units); a method left out counts as zero.
type CloseRequest struct {
	Counted map[string]int64 `json:"counted"`
	Note    string           `json:"note,omitempty" text:"multiline"`
}

// ConfirmRequest confirms a closed shift.
type ConfirmRequest struct {
	Note string `json:"note,omitempty" text:"multiline"`
}

// ListFilter selects shifts: opened in [From, To), of a park, user, status.
type ListFilter struct {
	ParkID   string
	UserID   int64
	Status   string
	From, To time.Time
	// Limit bounds the shifts returned; 0 means Config.MaxList.
	Limit int
}

// API serves shifts.
type API struct {
	cfg Config
}

// NewAPI validates cfg and registers the shift gauges.
func NewAPI(cfg Config) (*API, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &API{cfg: cfg}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(gauges{a}); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Open opens a shift for cashier p at their sales point.
func (a *API) Open(ctx context.Context, p web.Principal, r OpenRequest) (Shift, error) {
	if p.Role != web.RoleCashier || p.UserID == 0 {
		return Shift{}, forbidden("only a cashier opens a shift, not role %s", p.Role)
	}
	if p.SalesPointID == "" {
		return Shift{}, problem(ErrState, http.StatusForbidden, "no_sales_point", "cashier %s is not assigned to a sales point", p.Username)
	}
	if r.SalesPointID != "" && r.SalesPointID != p.SalesPointID {
		return Shift{}, forbidden("you sell at sales point %s, not %s", p.SalesPointID, r.SalesPointID)
	}
	if r.OpeningFloatMinor < 0 || r.OpeningFloatMinor > 1e12 {
		return Shift{}, invalid("bad_float", `"opening_float_minor" must be 0-1000000000000 minor units, not %d`, r.OpeningFloatMinor)
	}
	now := a.cfg.Clock.Now()
	var id int64
	err := pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		var park, currency, kind string
		var active bool
		err := tx.QueryRow(ctx, `SELECT sp.park_id, pk.currency, sp.kind, sp.active FROM sales_points sp
			JOIN parks pk ON pk.id = sp.park_id WHERE sp.id = $1`, p.SalesPointID).Scan(&park, &currency, &kind, &active)
		if err != nil {
			return fmt.Errorf("sales point %s: %w", p.SalesPointID, err)
		}
		if !active {
			return problem(ErrState, http.StatusConflict, "sales_point_inactive", "sales point %s is closed (inactive)", p.SalesPointID)
		}
		err = tx.QueryRow(ctx, `INSERT INTO shifts (park_id, sales_point_id, user_id, status, currency, opening_float_minor, opened_at)
			VALUES ($1, $2, $3, 'open', $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id`,
			park, p.SalesPointID, p.UserID, currency, r.OpeningFloatMinor, now).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			var other int64
			_ = tx.QueryRow(ctx, `SELECT id FROM shifts WHERE user_id = $1 AND status = 'open'`, p.UserID).Scan(&other)
			return problem(ErrState, http.StatusConflict, "shift_already_open", "you already have shift %d open: close it first", other)
		}
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "shift.open", "shift", fmt.Sprint(id), map[string]any{
			"sales_point_id": p.SalesPointID, "opening_float_minor": r.OpeningFloatMinor, "currency": currency})
	})
	if err != nil {
		return Shift{}, err
	}
	return a.Get(ctx, p, id)
}

// Close closes shift id with the counted money and freezes its report. The
// cashier closes their own; finance or an admin may close anyone's.
func (a *API) Close(ctx context.Context, p web.Principal, id int64, r CloseRequest) (Shift, error) {
	if err := checkNote(r.Note); err != nil {
		return Shift{}, err
	}
	if r.Counted == nil {
		return Shift{}, invalid("bad_counted", `"counted" is required: the money counted per method, e.g. {"cash": 120000}`)
	}
	for m, v := range r.Counted {
		if !slices.Contains(handover, m) {
			return Shift{}, invalid("bad_counted", `"counted" takes the methods %v, not %q`, handover, m)
		}
		if v < 0 || v > 1e12 {
			return Shift{}, invalid("bad_counted", `"counted"[%q] must be 0-1000000000000 minor units, not %d`, m, v)
		}
	}
	now := a.cfg.Clock.Now()
	err := pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		var owner, float int64
		var status, currency string
		// FOR UPDATE waits for every sale holding the shift FOR SHARE; a
		// sale after this commits finds the shift closed.
		err := tx.QueryRow(ctx, `SELECT user_id, status, currency, opening_float_minor FROM shifts WHERE id = $1 FOR UPDATE`, id).
			Scan(&owner, &status, &currency, &float)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && !mayRead(p, owner)) {
			return notFound(id)
		}
		if err != nil {
			return err
		}
		if p.Role == web.RoleCashier && owner != p.UserID {
			return notFound(id)
		}
		if p.Role != web.RoleCashier && p.Role != web.RoleAdmin && p.Role != web.RoleFinance {
			return forbidden("role %s may not close shifts", p.Role)
		}
		if status != StatusOpen {
			return problem(ErrState, http.StatusConflict, "shift_not_open", "shift %d is %s", id, status)
		}
		rep, err := compute(ctx, tx, id, currency, float, r.Counted, now)
		if err != nil {
			return err
		}
		b, err := json.Marshal(rep)
		if err != nil {
			return err
		}
		counted, _ := json.Marshal(r.Counted)
		if _, err := tx.Exec(ctx, `UPDATE shifts SET status = 'closed', closed_at = $2, closed_by = $3, counted = $4,
				report = $5, difference_minor = $6, note = $7 WHERE id = $1`,
			id, now, p.UserID, counted, b, *rep.DifferenceMinor, r.Note); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "shift.close", "shift", fmt.Sprint(id), map[string]any{
			"counted": r.Counted, "expected_minor": rep.ExpectedMinor, "difference_minor": *rep.DifferenceMinor, "note": r.Note})
	})
	if err != nil {
		return Shift{}, err
	}
	return a.Get(ctx, p, id)
}

// Confirm marks a closed shift confirmed (finance or admin).
func (a *API) Confirm(ctx context.Context, p web.Principal, id int64, r ConfirmRequest) (Shift, error) {
	if p.Role != web.RoleFinance && p.Role != web.RoleAdmin {
		return Shift{}, forbidden("role %s may not confirm shifts (needs finance or admin)", p.Role)
	}
	if err := checkNote(r.Note); err != nil {
		return Shift{}, err
	}
	now := a.cfg.Clock.Now()
	err := pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		var status string
		var diff *int64
		err := tx.QueryRow(ctx, `SELECT status, difference_minor FROM shifts WHERE id = $1 FOR UPDATE`, id).Scan(&status, &diff)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound(id)
		}
		if err != nil {
			return err
		}
		if status != StatusClosed {
			return problem(ErrState, http.StatusConflict, "shift_not_closed", "shift %d is %s; only a closed shift is confirmed", id, status)
		}
		if _, err := tx.Exec(ctx, `UPDATE shifts SET status = 'confirmed', confirmed_at = $2, confirmed_by = $3, confirm_note = $4
			WHERE id = $1`, id, now, p.UserID, r.Note); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "shift.confirm", "shift", fmt.Sprint(id), map[string]any{"difference_minor": diff, "note": r.Note})
	})
	if err != nil {
		return Shift{}, err
	}
	return a.Get(ctx, p, id)
}

func checkNote(n string) error {
	if utf8.RuneCountInString(strings.TrimSpace(n)) > maxNoteRunes {
		return invalid("bad_note", `"note" is at most %d characters`, maxNoteRunes)
	}
	return nil
}

// mayRead: finance and admin read every shift, a cashier only their own.
func mayRead(p web.Principal, owner int64) bool {
	switch p.Role {
	case web.RoleAdmin, web.RoleFinance:
		return true
	case web.RoleCashier:
		return p.UserID != 0 && p.UserID == owner
	}
	return false
}

const shiftCols = `s.id, s.park_id, s.sales_point_id, s.user_id, u.username, s.status, s.currency, s.opening_float_minor,
	s.opened_at, s.closed_at, s.closed_by, s.note, s.confirmed_at, s.confirmed_by, s.confirm_note, s.report, pk.time_zone`

// shiftFrom joins what a Shift shows.
const shiftFrom = ` FROM shifts s JOIN users u ON u.id = s.user_id JOIN parks pk ON pk.id = s.park_id`

func (a *API) scan(ctx context.Context, row pgx.Row, set Settings, now time.Time) (Shift, error) {
	var s Shift
	var rep []byte
	var tz string
	if err := row.Scan(&s.ID, &s.ParkID, &s.SalesPointID, &s.UserID, &s.Username, &s.Status, &s.Currency, &s.OpeningFloatMinor,
		&s.OpenedAt, &s.ClosedAt, &s.ClosedBy, &s.Note, &s.ConfirmedAt, &s.ConfirmedBy, &s.ConfirmNote, &rep, &tz); err != nil {
		return s, err
	}
	// Times show in the park's time zone.
	if loc, err := time.LoadLocation(tz); err == nil {
		s.OpenedAt = s.OpenedAt.In(loc)
		for _, t := range []*time.Time{s.ClosedAt, s.ConfirmedAt} {
			if t != nil {
				*t = t.In(loc)
			}
		}
	}
	if rep != nil {
		return s, json.Unmarshal(rep, &s.Report)
	}
	s.Overdue = now.Sub(s.OpenedAt) > time.Duration(set.MaxOpenMinutes)*time.Minute
	return s, nil
}

// Get returns shift id with its report (live while open).
func (a *API) Get(ctx context.Context, p web.Principal, id int64) (Shift, error) {
	set, err := ReadSettings(ctx, a.cfg.Pool)
	if err != nil {
		return Shift{}, err
	}
	now := a.cfg.Clock.Now()
	s, err := a.scan(ctx, a.cfg.Pool.QueryRow(ctx, `SELECT `+shiftCols+shiftFrom+` WHERE s.id = $1`, id), set, now)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !mayRead(p, s.UserID)) {
		return Shift{}, notFound(id)
	}
	if err != nil {
		return Shift{}, err
	}
	if s.Status == StatusOpen {
		s.Report, err = compute(ctx, a.cfg.Pool, s.ID, s.Currency, s.OpeningFloatMinor, nil, now)
	}
	return s, err
}

// Current returns cashier p's open shift, or a 404 no_open_shift problem.
func (a *API) Current(ctx context.Context, p web.Principal) (Shift, error) {
	var id int64
	err := a.cfg.Pool.QueryRow(ctx, `SELECT id FROM shifts WHERE user_id = $1 AND status = 'open'`, p.UserID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Shift{}, problem(ErrNoOpenShift, http.StatusNotFound, "no_open_shift", "you have no open shift")
	}
	if err != nil {
		return Shift{}, err
	}
	return a.Get(ctx, p, id)
}

// List returns the shifts f selects, oldest first, at most f.Limit;
// a cashier sees only their own. Open shifts carry their live report.
func (a *API) List(ctx context.Context, p web.Principal, f ListFilter) ([]Shift, error) {
	switch p.Role {
	case web.RoleAdmin, web.RoleFinance:
	case web.RoleCashier:
		f.UserID = p.UserID
	default:
		return nil, forbidden("role %s may not read shifts", p.Role)
	}
	set, err := ReadSettings(ctx, a.cfg.Pool)
	if err != nil {
		return nil, err
	}
	now := a.cfg.Clock.Now()
	limit := a.cfg.MaxList
	if f.Limit > 0 {
		limit = f.Limit
	}
	var from, to *time.Time
	if !f.From.IsZero() {
		from = &f.From
	}
	if !f.To.IsZero() {
		to = &f.To
	}
	rows, err := a.cfg.Pool.Query(ctx, `SELECT `+shiftCols+shiftFrom+`
		WHERE ($1 = '' OR s.park_id = $1) AND ($2 = 0 OR s.user_id = $2) AND ($3 = '' OR s.status = $3)
		  AND ($4::timestamptz IS NULL OR s.opened_at >= $4) AND ($5::timestamptz IS NULL OR s.opened_at < $5)
		ORDER BY s.opened_at, s.id LIMIT $6`, f.ParkID, f.UserID, f.Status, from, to, limit)
	if err != nil {
		return nil, err
	}
	var out []Shift
	for rows.Next() {
		s, err := a.scan(ctx, rows, set, now)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Status == StatusOpen {
			if out[i].Report, err = compute(ctx, a.cfg.Pool, out[i].ID, out[i].Currency, out[i].OpeningFloatMinor, nil, now); err != nil {
				return nil, err
			}
		}
	}
	if out == nil {
		out = []Shift{}
	}
	return out, nil
}

// gauges reports open and overdue shifts at scrape time.
type gauges struct{ a *API }

var (
	descOpen    = prometheus.NewDesc("admit_sales_shifts_open", "Cashier shifts open now.", nil, nil)
	descOverdue = prometheus.NewDesc("admit_sales_shifts_overdue", "Cashier shifts open longer than the settings' max_open_minutes.", nil, nil)
)

func (g gauges) Describe(ch chan<- *prometheus.Desc) { ch <- descOpen; ch <- descOverdue }

func (g gauges) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	set, err := ReadSettings(ctx, g.a.cfg.Pool)
	if err != nil {
		g.a.cfg.Log.Warn("shift gauges: read settings", "err", err)
		return
	}
	var open, overdue int64
	limit := g.a.cfg.Clock.Now().Add(-time.Duration(set.MaxOpenMinutes) * time.Minute)
	if err := g.a.cfg.Pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE opened_at < $1) FROM shifts WHERE status = 'open'`, limit).
		Scan(&open, &overdue); err != nil {
		g.a.cfg.Log.Warn("shift gauges: count open shifts", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(descOpen, prometheus.GaugeValue, float64(open))
	ch <- prometheus.MustNewConstMetric(descOverdue, prometheus.GaugeValue, float64(overdue))
}
