package orders

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/admitpark/admit/sales/payment"
	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/validator/ticket"
)

// Order is an order as the API shows it. Times are in the park's zone.
type Order struct {
	ID            int64         `json:"id"`
	Number        string        `json:"number"`
	ParkID        string        `json:"park_id"`
	Channel       string        `json:"channel"`
	SalesPointID  string        `json:"sales_point_id,omitempty"`
	UserID        int64         `json:"user_id,omitempty"`
	DistributorID int64         `json:"distributor_id,omitempty"`
	ExternalRef   string        `json:"external_ref,omitempty"`
	Status        string        `json:"status"`
	Currency      string        `json:"currency"`
	TotalMinor    int64         `json:"total_minor"`
	ContactName   string        `json:"contact_name,omitempty"`
	ContactPhone  string        `json:"contact_phone,omitempty"`
	ExpiresAt     time.Time     `json:"expires_at,omitzero"` // pending: places held until then
	CreatedAt     time.Time     `json:"created_at"`
	PaidAt        time.Time     `json:"paid_at,omitzero"`
	Lines         []Line        `json:"lines"`
	Payments      []PaymentView `json:"payments"`
	Tickets       []Ticket      `json:"tickets,omitempty"` // once paid
}

// Line is one product line.
type Line struct {
	ID             int64    `json:"id"`
	ProductID      string   `json:"product_id"`
	VisitDate      string   `json:"visit_date"`
	SlotID         int64    `json:"slot_id,omitempty"`
	Quantity       int      `json:"quantity"`
	UnitPriceMinor int64    `json:"unit_price_minor"`
	AmountMinor    int64    `json:"amount_minor"`
	Holders        []Holder `json:"holders,omitempty"` // pending real-name orders
}

// Holder is a ticket holder as shown: the ID number masked.
type Holder struct {
	Name     string `json:"name"`
	IDMasked string `json:"id_masked"`
}

// PaymentView is a payment and whether it waits for a refund (it came for
// an order that could not take it).
type PaymentView struct {
	payment.Payment
	RefundDue bool `json:"refund_due,omitempty"`
}

// Ticket is an issued ticket.
type Ticket struct {
	ID             string    `json:"id"`               // 32 hex digits, as in the code and the cluster
	Number         string    `json:"number,omitempty"` // the typed ticket number printed on the ticket (12 digits, check digit last)
	Card           string    `json:"card,omitempty"`   // the member card that opens it (a pass)
	LineID         int64     `json:"line_id"`
	ProductID      string    `json:"product_id"`
	Kind           string    `json:"kind"`
	Entries        int       `json:"entries,omitempty"`
	VisitDate      string    `json:"visit_date"`
	ValidFrom      time.Time `json:"valid_from"`
	ValidUntil     time.Time `json:"valid_until"`
	SlotStart      time.Time `json:"slot_start,omitzero"`
	SlotEnd        time.Time `json:"slot_end,omitzero"`
	Status         string    `json:"status"`
	Version        int64     `json:"version"`
	Code           string    `json:"code"`
	HolderName     string    `json:"holder_name,omitempty"`
	HolderIDMasked string    `json:"holder_id_masked,omitempty"`
	PriceMinor     int64     `json:"price_minor"`
}

// Get returns an order by id or number. A distributor sees only its own
// orders: another's is "not found".
func (a *API) Get(ctx context.Context, p web.Principal, ref string) (Order, error) {
	o, err := orderFor(ctx, a.cfg.Pool, p, ref, false)
	if err != nil {
		return Order{}, err
	}
	return a.view(ctx, a.cfg.Pool, o)
}

// ListQuery filters GET /v1/orders.
type ListQuery struct {
	Phone     string // contact phone, normalized as on create
	VisitDate string // YYYY-MM-DD: orders with a line on that date
}

// MaxList bounds the orders List returns, newest first.
const MaxList = 50

// List finds orders by contact phone and/or visit date (at least one).
func (a *API) List(ctx context.Context, p web.Principal, q ListQuery) ([]Order, error) {
	var (
		phone *string
		day   *time.Time
	)
	if q.Phone != "" {
		ph, err := NormalizePhone(q.Phone)
		if err != nil {
			return nil, bad("bad_phone", "phone: %v", err)
		}
		phone = &ph
	}
	if q.VisitDate != "" {
		d, err := time.Parse(time.DateOnly, q.VisitDate)
		if err != nil {
			return nil, bad("bad_date", "date must look like 2026-11-22, not %q", q.VisitDate)
		}
		day = &d
	}
	if phone == nil && day == nil {
		return nil, bad("missing_filter", "give phone=, date= (visit date) or both")
	}
	var distributor *int64
	if p.Role == web.RoleDistributor {
		distributor = &p.DistributorID
	}
	rows, err := a.cfg.Pool.Query(ctx, `SELECT `+orderCols+` FROM orders o
		WHERE ($1::text IS NULL OR o.contact_phone = $1)
		  AND ($2::date IS NULL OR EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.id AND l.visit_date = $2))
		  AND ($3::bigint IS NULL OR o.distributor_id = $3)
		ORDER BY o.created_at DESC, o.id DESC LIMIT $4`, phone, day, distributor, MaxList)
	if err != nil {
		return nil, err
	}
	var found []orderRow
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		found = append(found, o)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]Order, 0, len(found))
	for _, o := range found {
		v, err := a.view(ctx, a.cfg.Pool, o)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// load reads order id in full.
func (a *API) load(ctx context.Context, db DB, id int64) (Order, error) {
	o, err := findOrder(ctx, db, itoa(id), false)
	if err != nil {
		return Order{}, err
	}
	return a.view(ctx, db, o)
}

func (a *API) view(ctx context.Context, db DB, o orderRow) (Order, error) {
	park, err := a.readPark(ctx, db, o.ParkID)
	if err != nil {
		return Order{}, err
	}
	loc := park.Loc
	v := Order{ID: o.ID, Number: o.Number, ParkID: o.ParkID, Channel: o.Channel, SalesPointID: o.SalesPointID,
		UserID: o.UserID, DistributorID: o.DistributorID, ExternalRef: o.ExternalRef, Status: o.Status,
		Currency: o.Currency, TotalMinor: o.TotalMinor, ContactName: o.ContactName, ContactPhone: o.ContactPhone,
		ExpiresAt: inLoc(o.ExpiresAt, loc), CreatedAt: inLoc(o.CreatedAt, loc), PaidAt: inLoc(o.PaidAt, loc),
		Lines: []Line{}, Payments: []PaymentView{}}
	if o.Status != StatusPending {
		v.ExpiresAt = time.Time{}
	}
	holders := map[int64][]holder{}
	if o.Status == StatusPending {
		if holders, err = loadHolders(ctx, db, o.ID); err != nil {
			return Order{}, err
		}
	}
	rows, err := db.Query(ctx, `SELECT id, product_id, visit_date, coalesce(slot_id, 0), quantity, unit_price_minor
		FROM order_lines WHERE order_id = $1 ORDER BY id`, o.ID)
	if err != nil {
		return Order{}, err
	}
	for rows.Next() {
		var l Line
		var day time.Time
		if err := rows.Scan(&l.ID, &l.ProductID, &day, &l.SlotID, &l.Quantity, &l.UnitPriceMinor); err != nil {
			rows.Close()
			return Order{}, err
		}
		l.VisitDate = day.Format(time.DateOnly)
		l.AmountMinor = l.UnitPriceMinor * int64(l.Quantity)
		for _, h := range holders[l.ID] {
			l.Holders = append(l.Holders, Holder{Name: h.Name, IDMasked: h.IDMasked})
		}
		v.Lines = append(v.Lines, l)
	}
	if err := rows.Err(); err != nil {
		return Order{}, err
	}
	pays, err := payment.ForOrder(ctx, db, o.ID)
	if err != nil {
		return Order{}, err
	}
	for _, p := range pays {
		p.CreatedAt, p.ConfirmedAt = inLoc(p.CreatedAt, loc), inLoc(p.ConfirmedAt, loc)
		due, err := refundDue(ctx, db, p.ID)
		if err != nil {
			return Order{}, err
		}
		v.Payments = append(v.Payments, PaymentView{Payment: p, RefundDue: due})
	}
	if v.Tickets, err = ticketsOf(ctx, db, o.ID, loc); err != nil {
		return Order{}, err
	}
	return v, nil
}

func ticketsOf(ctx context.Context, db DB, orderID int64, loc *time.Location) ([]Ticket, error) {
	rows, err := db.Query(ctx, `SELECT t.id, t.order_line_id, t.product_id, t.kind, t.entries, t.visit_date, t.valid_from, t.valid_until,
			coalesce(t.slot_start, 'epoch'::timestamptz), coalesce(t.slot_end, 'epoch'::timestamptz), t.status, t.version, t.code,
			t.holder_name, t.holder_id_masked, t.price_minor, coalesce(t.number, ''), coalesce(c.number, '')
		FROM tickets t LEFT JOIN cards c ON c.id = t.card_id WHERE t.order_id = $1 ORDER BY t.order_line_id, t.issued_at, t.id`, orderID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Ticket
	for rows.Next() {
		var t Ticket
		var id pgtype.UUID
		var day time.Time
		if err := rows.Scan(&id, &t.LineID, &t.ProductID, &t.Kind, &t.Entries, &day, &t.ValidFrom, &t.ValidUntil,
			&t.SlotStart, &t.SlotEnd, &t.Status, &t.Version, &t.Code, &t.HolderName, &t.HolderIDMasked, &t.PriceMinor, &t.Number, &t.Card); err != nil {
			return nil, err
		}
		t.ID = ticket.FormatID(id.Bytes)
		t.VisitDate = day.Format(time.DateOnly)
		t.ValidFrom, t.ValidUntil = inLoc(t.ValidFrom, loc), inLoc(t.ValidUntil, loc)
		t.SlotStart, t.SlotEnd = inLoc(t.SlotStart, loc), inLoc(t.SlotEnd, loc)
		out = append(out, t)
	}
	return out, rows.Err()
}

// inLoc shows t in loc; the zero time and the epoch (SQL's stand-in for
// NULL here) stay zero.
func inLoc(t time.Time, loc *time.Location) time.Time {
	if t.IsZero() || t.Unix() == 0 {
		return time.Time{}
	}
	return t.In(loc)
}
