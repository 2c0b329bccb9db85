package catalog

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/admitpark/admit/sales/web"
)

// DB is a pgx.Tx or a *pgxpool.Pool.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Errors. Each is returned wrapped together with a *web.Problem that says
// what is wrong, so errors.Is tells the kind and web.Fail the reply.
var (
	ErrNotFound           = errors.New("not found")                 // 404
	ErrInvalid            = errors.New("invalid catalog input")     // 400
	ErrConflict           = errors.New("catalog conflict")          // 409
	ErrNotRefundable      = errors.New("product is not refundable") // 409 not_refundable
	ErrRefundWindowClosed = errors.New("refund window closed")      // 409 refund_window_closed
)

func problem(sentinel error, status int, code, format string, args ...any) error {
	return fmt.Errorf("%w: %w", sentinel, web.Problemf(status, code, format, args...))
}

func notFound(code, format string, args ...any) error {
	return problem(ErrNotFound, http.StatusNotFound, code, format, args...)
}

func invalid(code, format string, args ...any) error {
	return problem(ErrInvalid, http.StatusBadRequest, code, format, args...)
}

func conflict(code, format string, args ...any) error {
	return problem(ErrConflict, http.StatusConflict, code, format, args...)
}

// Product kinds (validator/ticket kinds).
const (
	KindSingle  = "single"
	KindMulti   = "multi"
	KindDayPass = "day_pass"
	KindPeriod  = "period"
	KindGroup   = "group"
)

// Sales point kinds, which are also order channels.
const (
	PointWindow      = "window"
	PointKiosk       = "kiosk"
	PointShop        = "shop"
	PointDistributor = "distributor"
)

// Gate directions.
const (
	DirIn   = "in"
	DirOut  = "out"
	DirBoth = "both"
)

// Park is a park, scenic area or venue with its own business day.
type Park struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	TimeZone      string    `json:"time_zone"` // IANA, e.g. Asia/Shanghai
	Currency      string    `json:"currency"`
	DailyCapacity *int      `json:"daily_capacity"` // null: no park-wide cap
	CapacityWarn  *int      `json:"capacity_warn"`  // flow warning level; null: none
	OpensAt       string    `json:"opens_at"`       // "09:00"; "" not set
	ClosesAt      string    `json:"closes_at"`
	CreatedAt     time.Time `json:"created_at"`

	loc *time.Location
}

// Location is the park's time zone. The zone was validated when the park
// was written; should it no longer load (it cannot with the embedded tz
// database), UTC is returned.
func (p Park) Location() *time.Location {
	if p.loc != nil {
		return p.loc
	}
	loc, err := loadLocation(p.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// Day returns the start (00:00 in the park's zone) of the park day that
// holds date's year, month and day (date's own location is ignored).
func (p Park) Day(date time.Time) time.Time {
	y, m, d := date.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, p.Location())
}

// Today is the park-local day of now, as a date at 00:00 in the park's zone.
func (p Park) Today(now time.Time) time.Time {
	return p.Day(now.In(p.Location()))
}

// Zone is an area of a park with its own occupancy cap.
type Zone struct {
	ParkID string `json:"park_id"`
	ID     string `json:"id"`
	Name   string `json:"name"`
	Cap    int    `json:"cap"`  // 0: none
	Warn   int    `json:"warn"` // 0: none
	// Bit is the zone's bit in ticket codes' zone masks, numbered per park
	// in creation order (0 first; an offline gate agent's --zone-bit);
	// nil past the 32nd zone (migration zone_bits).
	Bit *int16 `json:"bit"`
}

// Gate is a turnstile or handheld in a zone.
type Gate struct {
	ParkID    string `json:"park_id"`
	ID        string `json:"id"`
	Zone      string `json:"zone"`
	Direction string `json:"direction"` // in, out, both
}

// BusinessUnit groups sales points of a park for reports.
type BusinessUnit struct {
	ID     int64  `json:"id"`
	ParkID string `json:"park_id"`
	Name   string `json:"name"`
}

// SalesPoint is a ticket window, kiosk, the web shop or a distributor's
// channel.
type SalesPoint struct {
	ID             string `json:"id"`
	ParkID         string `json:"park_id"`
	BusinessUnitID *int64 `json:"business_unit_id"`
	Name           string `json:"name"`
	Kind           string `json:"kind"` // window, kiosk, shop, distributor
	Active         bool   `json:"active"`
}

// Product is something sold: its entitlement, limits, price and refund
// policy.
type Product struct {
	ID                string    `json:"id"`
	ParkID            string    `json:"park_id"`
	Name              string    `json:"name"`
	Kind              string    `json:"kind"`
	Entries           int       `json:"entries"`    // multi: entries; group: persons; else 0
	Zones             []string  `json:"zones"`      // empty: every zone
	ValidDays         int       `json:"valid_days"` // park days from the visit date
	HasSlots          bool      `json:"has_slots"`  // a time slot must be chosen
	RealName          bool      `json:"real_name"`  // each ticket needs holder name and ID
	MaxPerOrder       int       `json:"max_per_order"`
	DailyQuota        *int      `json:"daily_quota"` // null: none
	SalesStopped      bool      `json:"sales_stopped"`
	PriceMinor        int64     `json:"price_minor"`
	Currency          string    `json:"currency"`
	Refundable        bool      `json:"refundable"`
	RefundUntilHours  int       `json:"refund_until_hours"` // before the visit day starts; negative: after
	RefundFeeMinor    int64     `json:"refund_fee_minor"`
	RefundFeePercent  int       `json:"refund_fee_percent"`
	DateChangeAllowed bool      `json:"date_change_allowed"`
	Active            bool      `json:"active"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

// OnSale reports why the product cannot be sold now, or nil: it must be
// active and its sales not stopped.
func (p Product) OnSale() error {
	switch {
	case !p.Active:
		return conflict("product_inactive", "product %q is not active", p.ID)
	case p.SalesStopped:
		return conflict("sales_stopped", "sales of product %q are stopped by the operator", p.ID)
	}
	return nil
}

// PriceOverride is a product's price on one visit date.
type PriceOverride struct {
	ProductID  string `json:"product_id"`
	Date       string `json:"date"` // YYYY-MM-DD
	PriceMinor int64  `json:"price_minor"`
}

// Slot is an entry time slot of a product, the same every day.
type Slot struct {
	ID        int64  `json:"id"`
	ProductID string `json:"product_id"`
	Start     string `json:"start"` // "10:00", park-local
	End       string `json:"end"`   // "11:00", after Start
	Capacity  int    `json:"capacity"`
}

// Window returns the slot's start and end on the park day of visitDate (its
// year, month and day) in loc.
func (s Slot) Window(visitDate time.Time, loc *time.Location) (start, end time.Time) {
	y, m, d := visitDate.Date()
	at := func(hhmm string) time.Time {
		t, _ := time.Parse(clockLayout, hhmm)
		return time.Date(y, m, d, t.Hour(), t.Minute(), 0, 0, loc)
	}
	return at(s.Start), at(s.End)
}
