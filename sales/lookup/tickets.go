package lookup

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/validator/ticket"
)

// Sentinel errors; refusals are also *web.Problem with status and code.
var (
	ErrInvalid   = errors.New("invalid input")
	ErrNotFound  = errors.New("not found")
	ErrForbidden = web.ErrForbidden
)

func problem(sentinel error, status int, code, format string, args ...any) error {
	return fmt.Errorf("%w: %w", sentinel, web.Problemf(status, code, format, args...))
}

// Ticket is a sold ticket as look-ups show it.
type Ticket struct {
	ID             string     `json:"id"`               // 32 hex digits
	Number         string     `json:"number,omitempty"` // the typed ticket number printed on it (check digit last)
	OrderNumber    string     `json:"order_number"`
	ParkID         string     `json:"park_id"`
	ProductID      string     `json:"product_id"`
	ProductName    string     `json:"product_name"`
	Kind           string     `json:"kind"`
	Entries        int        `json:"entries,omitempty"`
	Zones          []string   `json:"zones"`
	VisitDate      string     `json:"visit_date"` // YYYY-MM-DD, park day
	ValidFrom      time.Time  `json:"valid_from"`
	ValidUntil     time.Time  `json:"valid_until"`
	SlotStart      *time.Time `json:"slot_start,omitempty"`
	SlotEnd        *time.Time `json:"slot_end,omitempty"`
	Status         string     `json:"status"`        // unused, used, suspended, refund_pending, refunded, revoked, replaced
	TicketStatus   string     `json:"ticket_status"` // tickets.status as stored
	Version        int64      `json:"version"`
	Holder         string     `json:"holder,omitempty"` // masked
	HolderIDMasked string     `json:"holder_id_masked,omitempty"`
	PriceMinor     int64      `json:"price_minor"`
	Currency       string     `json:"currency"`
	IssuedAt       time.Time  `json:"issued_at"`
	FirstEntryAt   *time.Time `json:"first_entry_at,omitempty"`
	FirstEntryGate string     `json:"first_entry_gate,omitempty"`
	Code           string     `json:"code,omitempty"` // GET /v1/tickets/{id}, for admin, cashier, distributor
}

// Query says which tickets to list: exactly one field is set.
type Query struct {
	OrderNumber string
	Phone       string
	IDNumber    string
}

// List is a list reply.
type List struct {
	Tickets   []Ticket `json:"tickets"`
	Truncated bool     `json:"truncated,omitempty"` // more matched than Config.MaxResults
}

// seesCodes: who may get a ticket's code (a bearer credential).
func seesCodes(p web.Principal) bool {
	return p.Role == web.RoleAdmin || p.Role == web.RoleCashier || p.Role == web.RoleDistributor
}

const ticketSQL = `SELECT t.id, o.number, t.park_id, t.product_id, pr.name, t.kind, t.entries, t.zones, t.visit_date,
		t.valid_from, t.valid_until, t.slot_start, t.slot_end, t.status, t.version, t.holder_name, t.holder_id_masked,
		t.price_minor, o.currency, t.issued_at, t.first_entry_at, coalesce(t.first_entry_gate, ''), t.code, coalesce(t.number, '')
	FROM tickets t JOIN orders o ON o.id = t.order_id JOIN products pr ON pr.id = t.product_id`

// query runs ticketSQL with cond (using $1..) restricted to the caller's
// orders, at most limit rows; withCode fills Code for callers who may see it.
func (a *API) query(ctx context.Context, p web.Principal, limit int, withCode bool, cond string, args ...any) ([]Ticket, error) {
	if p.Role == web.RoleDistributor {
		args = append(args, p.DistributorID)
		cond = fmt.Sprintf("(%s) AND o.distributor_id = $%d", cond, len(args))
	}
	args = append(args, limit)
	rows, err := a.cfg.Pool.Query(ctx, ticketSQL+` WHERE `+cond+
		fmt.Sprintf(` ORDER BY t.issued_at DESC, t.id LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Ticket, error) {
		var t Ticket
		var id [16]byte
		var visit time.Time
		var code string
		err := row.Scan(&id, &t.OrderNumber, &t.ParkID, &t.ProductID, &t.ProductName, &t.Kind, &t.Entries, &t.Zones,
			&visit, &t.ValidFrom, &t.ValidUntil, &t.SlotStart, &t.SlotEnd, &t.TicketStatus, &t.Version, &t.Holder,
			&t.HolderIDMasked, &t.PriceMinor, &t.Currency, &t.IssuedAt, &t.FirstEntryAt, &t.FirstEntryGate, &code, &t.Number)
		t.ID = ticket.FormatID(id)
		t.VisitDate = visit.Format(time.DateOnly)
		t.Holder = MaskName(t.Holder)
		t.Currency = strings.TrimSpace(t.Currency)
		if t.Zones == nil {
			t.Zones = []string{}
		}
		t.Status = t.TicketStatus
		if t.TicketStatus == "active" {
			t.Status = "unused"
			if t.FirstEntryAt != nil {
				t.Status = "used"
			}
		}
		if withCode && seesCodes(p) {
			t.Code = code
		}
		return t, err
	})
}

// Get returns one ticket, with its code for admin, cashier and the owning
// distributor.
func (a *API) Get(ctx context.Context, p web.Principal, id [16]byte) (Ticket, error) {
	list, err := a.query(ctx, p, 1, true, `t.id = $1`, id)
	if err != nil {
		return Ticket{}, err
	}
	if len(list) == 0 {
		return Ticket{}, problem(ErrNotFound, http.StatusNotFound, "unknown_ticket", "no ticket %s", ticket.FormatID(id))
	}
	return list[0], nil
}

// Find lists the tickets matching q, newest first, without codes.
func (a *API) Find(ctx context.Context, p web.Principal, q Query) (List, error) {
	var cond string
	var args []any
	q.OrderNumber, q.Phone, q.IDNumber = strings.TrimSpace(q.OrderNumber), strings.TrimSpace(q.Phone), strings.TrimSpace(q.IDNumber)
	set := 0
	for _, s := range []string{q.OrderNumber, q.Phone, q.IDNumber} {
		if s != "" {
			set++
		}
	}
	if set != 1 {
		return List{}, problem(ErrInvalid, http.StatusBadRequest, "bad_query",
			"give exactly one of ?order=ORDER_NUMBER, ?phone=PHONE, ?id_number=ID_NUMBER")
	}
	switch {
	case q.OrderNumber != "":
		n := q.OrderNumber
		if len(n) > 64 || !printable(n) {
			return List{}, problem(ErrInvalid, http.StatusBadRequest, "bad_order_number", "order number is 1-64 printable characters")
		}
		cond, args = `o.number = $1`, []any{n}
	case q.Phone != "":
		raw, norm := q.Phone, NormalizePhone(q.Phone)
		if !phoneRe.MatchString(norm) {
			return List{}, problem(ErrInvalid, http.StatusBadRequest, "bad_phone", "phone must be 5-20 digits, optionally with a leading +")
		}
		cond, args = `o.contact_phone IN ($1, $2)`, []any{raw, norm}
	default:
		n := NormalizeIDNumber(q.IDNumber)
		if utf8.RuneCountInString(n) > 64 || !printable(n) {
			return List{}, problem(ErrInvalid, http.StatusBadRequest, "bad_id_number", "ID number is 1-64 printable characters")
		}
		cond, args = `t.holder_id_hash = $1`, []any{HashIDNumber(a.cfg.IDHashSecret, n)}
	}
	list, err := a.query(ctx, p, a.cfg.MaxResults+1, false, cond, args...)
	if err != nil {
		return List{}, err
	}
	out := List{Tickets: list}
	if len(list) > a.cfg.MaxResults {
		out.Tickets, out.Truncated = list[:a.cfg.MaxResults], true
	}
	if out.Tickets == nil {
		out.Tickets = []Ticket{}
	}
	return out, nil
}

// phoneRe is a normalized phone number, as orders stores it.
var phoneRe = regexp.MustCompile(`^\+?[0-9]{5,20}$`)

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return s != ""
}
