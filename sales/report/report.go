package report

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/admitpark/admit/sales/shift"
	"github.com/admitpark/admit/sales/web"
)

// Names of the reports.
const (
	Revenue         = "revenue"
	SoldEntered     = "sold-entered"
	Flow            = "flow"
	GroupSettlement = "group-settlement"
	Shifts          = "shifts"
)

// Names lists every report.
var Names = []string{Revenue, SoldEntered, Flow, GroupSettlement, Shifts}

// Sentinel errors; refusals are also *web.Problem.
var (
	ErrInvalid   = errors.New("invalid report request")
	ErrForbidden = errors.New("forbidden")
)

func invalid(code, format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrInvalid, web.Problemf(http.StatusBadRequest, code, format, args...))
}

// Config is what the report API needs.
type Config struct {
	Pool  *pgxpool.Pool
	Clock web.Clock
	Log   *slog.Logger
	// Shifts reads the shifts report's shifts (and their live reports).
	Shifts *shift.API
	// Timeout bounds one report's query (statement_timeout).
	Timeout time.Duration
	// MaxDays bounds a report's period (from..to), in days.
	MaxDays int
	// MaxConcurrent reports run at once; more wait their turn (up to their
	// request's end). Reports are read-only and lock nothing, but each
	// takes a core while it runs: on a small box this keeps finance from
	// crowding out the sales.
	MaxConcurrent int
}

// DefaultConfig returns the defaults; Pool and Shifts must be set.
func DefaultConfig() Config {
	return Config{Clock: web.SystemClock{}, Log: slog.Default(), Timeout: 60 * time.Second, MaxDays: 3 * 366, MaxConcurrent: 2}
}

// Validate checks the config.
func (c Config) Validate() error {
	var errs []error
	if c.Pool == nil || c.Shifts == nil {
		errs = append(errs, errors.New("report: Config.Pool and Config.Shifts are required"))
	}
	if c.Clock == nil || c.Log == nil {
		errs = append(errs, errors.New("report: Config.Clock and Config.Log are required"))
	}
	if c.Timeout <= 0 || c.MaxDays < 1 || c.MaxConcurrent < 1 {
		errs = append(errs, errors.New("report: Config.Timeout, Config.MaxDays and Config.MaxConcurrent must be positive"))
	}
	return errors.Join(errs...)
}

// API serves the reports.
type API struct {
	cfg   Config
	slots chan struct{} // MaxConcurrent
}

// NewAPI validates cfg.
func NewAPI(cfg Config) (*API, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &API{cfg: cfg, slots: make(chan struct{}, cfg.MaxConcurrent)}, nil
}

// Params are a report's query: ?park=&from=&to=&period=&group_by=&format=.
type Params struct {
	Park    string
	From    string // YYYY-MM-DD in the park's time zone; default today
	To      string // inclusive; default From
	Period  string // revenue: day (default), month or year
	GroupBy []string
	Format  string // json (default), csv, xlsx
}

// Dimensions revenue may be grouped by.
var Dimensions = []string{"park", "business_unit", "sales_point", "cashier", "product", "channel", "method", "distributor"}

// park is the park a report is for.
type park struct {
	id, currency, tz string
	loc              *time.Location
	from, to         time.Time // midnight of the first day, midnight after the last, in loc
}

// MayRead: finance and admin read every report; nobody else any.
func MayRead(p web.Principal) error {
	if p.Role == web.RoleAdmin || p.Role == web.RoleFinance {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrForbidden, web.Problemf(http.StatusForbidden, "forbidden",
		"role %s may not read reports (needs finance or admin)", p.Role))
}

func (a *API) check(ctx context.Context, name string, q *Params) (park, error) {
	var pk park
	if !slices.Contains(Names, name) {
		return pk, fmt.Errorf("%w: %w", ErrInvalid, web.Problemf(http.StatusNotFound, "unknown_report", "no report %q (reports: %s)", name, strings.Join(Names, ", ")))
	}
	if q.Park == "" {
		return pk, invalid("bad_park", `"park" is required`)
	}
	err := a.cfg.Pool.QueryRow(ctx, `SELECT id, currency, time_zone FROM parks WHERE id = $1`, q.Park).Scan(&pk.id, &pk.currency, &pk.tz)
	if errors.Is(err, pgx.ErrNoRows) {
		return pk, fmt.Errorf("%w: %w", ErrInvalid, web.Problemf(http.StatusNotFound, "unknown_park", "no park %q", q.Park))
	}
	if err != nil {
		return pk, err
	}
	if pk.loc, err = time.LoadLocation(pk.tz); err != nil {
		return pk, fmt.Errorf("park %s time zone %q: %w", pk.id, pk.tz, err)
	}
	pk.from, pk.to, err = CheckParams(name, q, pk.loc, a.cfg.Clock.Now(), a.cfg.MaxDays)
	return pk, err
}

// CheckParams validates q for report name and fills its defaults (format
// json, from today in loc, to = from, period day). It returns midnight of
// the first day and midnight after the last, in loc.
func CheckParams(name string, q *Params, loc *time.Location, now time.Time, maxDays int) (from, to time.Time, err error) {
	if q.Format == "" {
		q.Format = FormatJSON
	}
	if ContentType[q.Format] == "" {
		return from, to, invalid("bad_format", `"format" must be json, csv or xlsx, not %q`, q.Format)
	}
	if q.From == "" {
		q.From = now.In(loc).Format(time.DateOnly)
	}
	if q.To == "" {
		q.To = q.From
	}
	if from, err = time.ParseInLocation(time.DateOnly, q.From, loc); err != nil {
		return from, to, invalid("bad_from", `"from" must be a date YYYY-MM-DD, not %q`, q.From)
	}
	last, err := time.ParseInLocation(time.DateOnly, q.To, loc)
	if err != nil {
		return from, to, invalid("bad_to", `"to" must be a date YYYY-MM-DD, not %q`, q.To)
	}
	if last.Before(from) {
		return from, to, invalid("bad_to", `"to" (%s) is before "from" (%s)`, q.To, q.From)
	}
	// Calendar days, not hours: a day may have 23 or 25 hours in loc.
	days := int(dateOf(last).Sub(dateOf(from)).Hours()/24) + 1
	if days > maxDays {
		return from, to, invalid("period_too_long", "the period is %d days; at most %d", days, maxDays)
	}
	to = time.Date(last.Year(), last.Month(), last.Day()+1, 0, 0, 0, 0, loc)
	switch {
	case name != Revenue && (q.Period != "" || len(q.GroupBy) > 0):
		return from, to, invalid("bad_grouping", `"period" and "group_by" apply to the revenue report only`)
	case name == Revenue:
		if q.Period == "" {
			q.Period = "day"
		}
		if q.Period != "day" && q.Period != "month" && q.Period != "year" {
			return from, to, invalid("bad_period", `"period" must be day, month or year, not %q`, q.Period)
		}
		for i, d := range q.GroupBy {
			if !slices.Contains(Dimensions, d) {
				return from, to, invalid("bad_group_by", `"group_by" takes %s, not %q`, strings.Join(Dimensions, ", "), d)
			}
			if slices.Contains(q.GroupBy[:i], d) {
				return from, to, invalid("bad_group_by", `"group_by" names %q twice`, d)
			}
		}
	}
	return from, to, nil
}

// query is a report's rows: columns, then a function that streams them.
type query struct {
	cols []Column
	run  func(ctx context.Context, tx pgx.Tx, emit func([]any) error) error
}

// Write runs report name for p and streams it to w in q.Format. Problems
// with the request come back before anything is written.
func (a *API) Write(ctx context.Context, p web.Principal, name string, q Params, w io.Writer) error {
	if err := MayRead(p); err != nil {
		return err
	}
	pk, err := a.check(ctx, name, &q)
	if err != nil {
		return err
	}
	var qr query
	switch name {
	case Revenue:
		qr = revenueQuery(pk, q)
	case SoldEntered:
		qr = soldEnteredQuery(pk)
	case Flow:
		qr = flowQuery(pk)
	case GroupSettlement:
		qr = groupQuery(pk)
	case Shifts:
		qr = a.shiftsQuery(p, pk)
	}
	s, err := newSink(q.Format, w)
	if err != nil {
		return err
	}
	select {
	case a.slots <- struct{}{}:
		defer func() { <-a.slots }()
	case <-ctx.Done():
		return ctx.Err()
	}
	m := Meta{Report: name, ParkID: pk.id, Currency: pk.currency, TimeZone: pk.tz, From: q.From, To: q.To,
		Period: q.Period, GroupBy: q.GroupBy, Columns: qr.cols, At: a.cfg.Clock.Now().In(pk.loc)}
	tot := newTotals(qr.cols)
	begun := false
	emit := func(row []any) error {
		if err := tot.add(row); err != nil {
			return err
		}
		if !begun {
			begun = true
			if err := s.Begin(m); err != nil {
				return err
			}
		}
		return s.Row(row)
	}
	// READ ONLY and plain SELECTs: nothing is locked; one snapshot, so the
	// rows of one report agree with each other.
	err = pgx.BeginTxFunc(ctx, a.cfg.Pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", a.cfg.Timeout.Milliseconds())); err != nil {
			return err
		}
		return qr.run(ctx, tx, emit)
	})
	if err != nil {
		return err
	}
	if !begun {
		if err := s.Begin(m); err != nil {
			return err
		}
	}
	return s.End(tot.row())
}

// scanRows streams the rows of sql: text columns scan into strings, the
// others into int64.
func scanRows(ctx context.Context, tx pgx.Tx, cols []Column, emit func([]any) error, sql string, args ...any) error {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	dst := make([]any, len(cols))
	for rows.Next() {
		texts := make([]string, len(cols))
		nums := make([]int64, len(cols))
		for i, c := range cols {
			if c.Kind == KindText {
				dst[i] = &texts[i]
			} else {
				dst[i] = &nums[i]
			}
		}
		if err := rows.Scan(dst...); err != nil {
			return err
		}
		row := make([]any, len(cols))
		for i, c := range cols {
			if c.Kind == KindText {
				row[i] = texts[i]
			} else {
				row[i] = nums[i]
			}
		}
		if err := emit(row); err != nil {
			return err
		}
	}
	return rows.Err()
}
