// Package datechange moves a sold ticket to another visit date or time
// slot (改签), when its product allows it (products.date_change_allowed):
// in one transaction the places are given back on the old day and taken
// on the new one (quota.Move: never oversold), the price difference is
// charged (cash at the window, or a member card's stored value) or paid
// back (cash, or into a card), the ticket gets a new version with a new
// code signed for its new validity (credential.NewVersion) and an outbox
// issue row (the old code then answers "replaced" at the gates), and the
// change is recorded in date_changes and the audit log. A ticket the
// gates have admitted is refused, saying when and where.
package datechange

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/web"
)

// Config configures date changes.
type Config struct {
	Pool  *pgxpool.Pool
	Clock web.Clock
	Log   *slog.Logger
	// KEK opens the signing keys: the moved ticket's new code is signed.
	KEK *keys.KEK
	// MaxDaysAhead is the latest new visit date, in days after the park's
	// today (as orders.Config.MaxDaysAhead).
	MaxDaysAhead int
}

// DefaultConfig returns the defaults; set Pool and KEK.
func DefaultConfig() Config {
	return Config{Clock: web.SystemClock{}, Log: slog.Default(), MaxDaysAhead: 90}
}

// Validate says what is missing or out of range.
func (c Config) Validate() error {
	var errs []error
	if c.Pool == nil || c.KEK == nil {
		errs = append(errs, errors.New("datechange: Pool and KEK are required"))
	}
	if c.Clock == nil || c.Log == nil {
		errs = append(errs, errors.New("datechange: Clock and Log are required"))
	}
	if c.MaxDaysAhead < 0 || c.MaxDaysAhead > 3660 {
		errs = append(errs, fmt.Errorf("datechange: MaxDaysAhead %d must be 0-3660", c.MaxDaysAhead))
	}
	return errors.Join(errs...)
}

// API changes visit dates.
type API struct{ cfg Config }

// NewAPI checks cfg.
func NewAPI(cfg Config) (*API, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &API{cfg: cfg}, nil
}

// Request is the body of POST /v1/tickets/{id}/change-date.
type Request struct {
	VisitDate string `json:"visit_date"`        // YYYY-MM-DD, the park's date
	SlotID    int64  `json:"slot_id,omitempty"` // required for a product sold by slot
	// Settle says how a price difference is settled: required when the
	// new day costs more or less.
	Settle *Settle `json:"settle,omitempty"`
	Reason string  `json:"reason,omitempty"`
}

// Settle settles a price difference.
type Settle struct {
	Method string `json:"method"` // cash (at a window) or stored_value (a member card)
	// AmountMinor: cash charged, the difference exactly (as an order's
	// cash payment); left out when money is paid back.
	AmountMinor *int64 `json:"amount_minor,omitempty"`
	Card        string `json:"card,omitempty"` // stored_value: the card charged or paid back into
}

// Result answers a date change.
type Result struct {
	ChangeID        int64     `json:"change_id"`
	TicketID        string    `json:"ticket_id"`
	Number          string    `json:"number,omitempty"` // the typed ticket number (unchanged)
	OldVisitDate    string    `json:"old_visit_date"`
	VisitDate       string    `json:"visit_date"`
	SlotID          int64     `json:"slot_id,omitempty"`
	ValidFrom       time.Time `json:"valid_from"`
	ValidUntil      time.Time `json:"valid_until"`
	SlotStart       time.Time `json:"slot_start,omitzero"`
	SlotEnd         time.Time `json:"slot_end,omitzero"`
	OldVersion      int64     `json:"old_version"`
	Version         int64     `json:"version"`
	Code            string    `json:"code"` // the new code; the old one answers "replaced" once synced
	OldPriceMinor   int64     `json:"old_price_minor"`
	PriceMinor      int64     `json:"price_minor"`
	DifferenceMinor int64     `json:"difference_minor"` // charged (+) or paid back (-)
	SettledBy       string    `json:"settled_by,omitempty"`
	Currency        string    `json:"currency"`
	BalanceMinor    *int64    `json:"card_balance_minor,omitempty"` // stored_value: the card's balance after
}

func bad(code, format string, args ...any) error {
	return web.Problemf(http.StatusBadRequest, code, format, args...)
}

func conflict(code, format string, args ...any) error {
	return web.Problemf(http.StatusConflict, code, format, args...)
}

// Routes registers:
//
//	POST /v1/tickets/{id}/change-date   cashier (money at a window), admin (no cash)
func (a *API) Routes(mux *http.ServeMux, authn web.Authenticator) {
	mux.Handle("POST /v1/tickets/{id}/change-date", web.Authenticated(authn,
		web.Require(a.handleChange, web.RoleCashier, web.RoleAdmin)))
}

func (a *API) handleChange(w http.ResponseWriter, r *http.Request) {
	var req Request
	if !web.Decode(w, r, &req, 4<<10) {
		return
	}
	p, _ := web.PrincipalFrom(r.Context())
	p.RemoteAddr = web.RemoteAddr(r)
	res, err := a.Change(r.Context(), p, r.PathValue("id"), req)
	if err != nil {
		web.Fail(w, a.cfg.Log, err)
		return
	}
	web.JSON(w, http.StatusOK, res)
}
