package member

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/admitpark/admit/validator/ticket"
)

// History is what a member bought and when they came: orders with their
// phone as contact or paid from their cards, tickets held in their name
// (ID number), bound to their cards or of those orders, and the gates' entry events of
// those tickets. Newest first, each list bounded by MaxHistory.
type History struct {
	Member  Member         `json:"member"`
	Orders  []OrderSummary `json:"orders"`
	Tickets []TicketBrief  `json:"tickets"`
	Entries []EntryBrief   `json:"entries"`
}

// MaxHistory bounds each list of a history.
const MaxHistory = 200

// OrderSummary is an order in a history.
type OrderSummary struct {
	Number     string    `json:"number"`
	ParkID     string    `json:"park_id"`
	Status     string    `json:"status"`
	TotalMinor int64     `json:"total_minor"`
	Currency   string    `json:"currency"`
	CreatedAt  time.Time `json:"created_at"`
}

// TicketBrief is a ticket in a history.
type TicketBrief struct {
	ID        string `json:"id"`
	Number    string `json:"number,omitempty"`
	Order     string `json:"order"`
	ProductID string `json:"product_id"`
	VisitDate string `json:"visit_date"`
	Status    string `json:"status"`
	Card      string `json:"card,omitempty"`
}

// EntryBrief is a gate event of one of the member's tickets.
type EntryBrief struct {
	TicketID  string    `json:"ticket_id"`
	Gate      string    `json:"gate"`
	Zone      string    `json:"zone"`
	Direction string    `json:"direction"`
	Result    string    `json:"result"`
	Reason    string    `json:"reason,omitempty"`
	At        time.Time `json:"at"`
}

// History returns member id's purchases and entries.
func (a *API) History(ctx context.Context, id int64) (History, error) {
	m, err := a.GetMember(ctx, id)
	if err != nil {
		return History{}, err
	}
	h := History{Member: m, Orders: []OrderSummary{}, Tickets: []TicketBrief{}, Entries: []EntryBrief{}}
	// The member's tickets: by ID hash, by card, by the orders of their phone.
	const mine = `SELECT t.id FROM tickets t, members m WHERE m.id = $1 AND (
			(m.id_hash IS NOT NULL AND t.holder_id_hash = m.id_hash)
			OR t.card_id IN (SELECT c.id FROM cards c WHERE c.member_id = m.id)
			OR t.order_id IN (SELECT l.order_id FROM card_ledger l JOIN cards c ON c.id = l.card_id
				WHERE c.member_id = m.id AND l.order_id IS NOT NULL)
			OR (m.phone <> '' AND t.order_id IN (SELECT o.id FROM orders o WHERE o.contact_phone = m.phone)))`
	rows, err := a.cfg.Pool.Query(ctx, `SELECT o.number, o.park_id, o.status, o.total_minor, o.currency, o.created_at
		FROM orders o, members m WHERE m.id = $1 AND (
			(m.phone <> '' AND o.contact_phone = m.phone)
			OR o.id IN (SELECT l.order_id FROM card_ledger l JOIN cards c ON c.id = l.card_id WHERE c.member_id = m.id AND l.order_id IS NOT NULL)
			OR o.id IN (SELECT t.order_id FROM tickets t WHERE t.id IN (`+mine+`)))
		ORDER BY o.created_at DESC, o.id DESC LIMIT $2`, id, MaxHistory)
	if err != nil {
		return h, err
	}
	if h.Orders, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (OrderSummary, error) {
		var o OrderSummary
		err := r.Scan(&o.Number, &o.ParkID, &o.Status, &o.TotalMinor, &o.Currency, &o.CreatedAt)
		return o, err
	}); err != nil {
		return h, err
	}
	rows, err = a.cfg.Pool.Query(ctx, `SELECT t.id, coalesce(t.number, ''), o.number, t.product_id, t.visit_date, t.status, coalesce(c.number, '')
		FROM tickets t JOIN orders o ON o.id = t.order_id LEFT JOIN cards c ON c.id = t.card_id
		WHERE t.id IN (`+mine+`) ORDER BY t.issued_at DESC, t.id LIMIT $2`, id, MaxHistory)
	if err != nil {
		return h, err
	}
	if h.Tickets, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (TicketBrief, error) {
		var t TicketBrief
		var tid pgtype.UUID
		var day time.Time
		err := r.Scan(&tid, &t.Number, &t.Order, &t.ProductID, &day, &t.Status, &t.Card)
		t.ID, t.VisitDate = ticket.FormatID(tid.Bytes), day.Format(time.DateOnly)
		return t, err
	}); err != nil {
		return h, err
	}
	rows, err = a.cfg.Pool.Query(ctx, `SELECT e.ticket_id, e.gate, e.zone, e.direction, e.result, e.reason, e.at
		FROM entry_events e WHERE e.ticket_id IN (`+mine+`) ORDER BY e.at DESC LIMIT $2`, id, MaxHistory)
	if err != nil {
		return h, err
	}
	h.Entries, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (EntryBrief, error) {
		var e EntryBrief
		var tid pgtype.UUID
		err := r.Scan(&tid, &e.Gate, &e.Zone, &e.Direction, &e.Result, &e.Reason, &e.At)
		e.TicketID = ticket.FormatID(tid.Bytes)
		return e, err
	})
	return h, err
}
