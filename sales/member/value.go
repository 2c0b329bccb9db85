package member

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/catalog"
	"github.com/admitpark/admit/sales/orders"
	"github.com/admitpark/admit/sales/shift"
	"github.com/admitpark/admit/sales/web"
)

// entry is one card_ledger row; the balances after it are read from the
// card (locked by the caller, already changed).
type entry struct {
	card           int64
	kind           string
	amount, points int64
	method         string
	reference      string
	orderID        int64
	requestID      string
	salesPoint     string
	shiftID        int64
	at             time.Time
}

func nullable[T comparable](v T) *T {
	var zero T
	if v == zero {
		return nil
	}
	return &v
}

func ledger(ctx context.Context, tx DB, p web.Principal, e entry) error {
	_, err := ledgerID(ctx, tx, p, e)
	return err
}

func ledgerID(ctx context.Context, tx DB, p web.Principal, e entry) (int64, error) {
	sp := e.salesPoint
	if sp == "" {
		sp = p.SalesPointID
	}
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO card_ledger (card_id, at, kind, amount_minor, balance_minor, points, points_balance,
			method, reference, order_id, user_id, sales_point_id, request_id, shift_id)
		SELECT id, $2, $3, $4, balance_minor, $5, points, $6, $7, $8, $9, $10, $11, $12 FROM cards WHERE id = $1 RETURNING id`,
		e.card, e.at, e.kind, e.amount, e.points, e.method, e.reference, nullable(e.orderID), nullable(p.UserID),
		nullable(sp), nullable(e.requestID), nullable(e.shiftID)).Scan(&id)
	return id, err
}

// usable refuses a card that cannot pay or be recharged now.
func usable(c cardRow, today time.Time) error {
	if c.Status != CardActive {
		return conflict("card_not_active", "card %s is %s", c.Number, c.Status)
	}
	if c.expires != nil && c.expires.Before(today) {
		return conflict("card_expired", "card %s expired on %s: renew it first", c.Number, c.ExpiresOn)
	}
	return nil
}

// RechargeRequest adds money to a card (POST /v1/cards/{number}/recharge).
type RechargeRequest struct {
	AmountMinor int64  `json:"amount_minor"`
	Method      string `json:"method"`              // cash, or card (a bank card at the window)
	Reference   string `json:"reference,omitempty"` // the bank card payment's reference (method card)
	// RequestID, when given, makes the recharge idempotent per card: a
	// repeat (a double click, a retry) returns the first result.
	RequestID string `json:"request_id,omitempty"`
}

// Movement answers a change of a card's balance: the card after it and
// its statement line.
type Movement struct {
	Card     Card          `json:"card"`
	Line     StatementLine `json:"line"`
	Replayed bool          `json:"replayed,omitempty"` // the same request_id was seen before: its first result
}

// Recharge adds money to an active card (充值). It counts on the
// cashier's sales point (and shift, once shifts exist).
func (a *API) Recharge(ctx context.Context, p web.Principal, number string, r RechargeRequest) (Movement, error) {
	if r.AmountMinor < 1 || r.AmountMinor > a.cfg.MaxRechargeMinor {
		return Movement{}, bad("bad_amount", `"amount_minor" must be 1-%d`, a.cfg.MaxRechargeMinor)
	}
	if !refMethodRe.MatchString(r.Method) {
		return Movement{}, bad("bad_method", `"method" must be cash or card, not %q`, r.Method)
	}
	ref, err := cleanText(r.Reference, `"reference"`, 128, r.Method == "card")
	if err != nil {
		return Movement{}, bad("bad_reference", "%v (a card payment names its reference)", err)
	}
	if p.Role == web.RoleCashier && p.SalesPointID == "" {
		return Movement{}, web.Problemf(http.StatusForbidden, "no_sales_point", "cashier %s is not assigned to a sales point", p.Username)
	}
	if r.RequestID != "" && !requestIDRe.MatchString(r.RequestID) {
		return Movement{}, bad("bad_request_id", `"request_id" must be 1-128 printable ASCII characters without spaces`)
	}
	now := a.now()
	var id int64
	var number2 string
	var replayed bool
	err = pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		c, err := lockCard(ctx, tx, number, true)
		if err != nil {
			return err
		}
		number2 = c.Number
		if r.RequestID != "" {
			var amount int64
			var kind string
			err := tx.QueryRow(ctx, `SELECT id, kind, amount_minor FROM card_ledger WHERE card_id = $1 AND request_id = $2`, c.id, r.RequestID).
				Scan(&id, &kind, &amount)
			if err == nil {
				if kind != "recharge" || amount != r.AmountMinor {
					return conflict("request_id_reused", "request_id %q was used for another %s of %d on card %s", r.RequestID, kind, amount, c.Number)
				}
				replayed = true
				return nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		if err := checkCaller(ctx, tx, p, c); err != nil {
			return err
		}
		today, _, _, err := parkToday(ctx, tx, c.ParkID, now)
		if err != nil {
			return err
		}
		if err := usable(c, today); err != nil {
			return err
		}
		if c.BalanceMinor > math.MaxInt64-r.AmountMinor {
			return bad("bad_amount", "the balance would overflow")
		}
		shiftID, err := CashierShift(ctx, tx, p)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE cards SET balance_minor = balance_minor + $2, updated_at = $3 WHERE id = $1`,
			c.id, r.AmountMinor, now); err != nil {
			return err
		}
		if id, err = ledgerID(ctx, tx, p, entry{card: c.id, kind: "recharge", amount: r.AmountMinor, method: r.Method, reference: ref, shiftID: shiftID, requestID: r.RequestID, at: now}); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "card.recharge", "card", c.Number,
			map[string]any{"amount_minor": r.AmountMinor, "method": r.Method, "reference": ref, "ledger_id": id, "shift_id": shiftID})
	})
	if err != nil {
		return Movement{}, err
	}
	return a.movement(ctx, number2, id, replayed)
}

func (a *API) movement(ctx context.Context, number string, ledgerID int64, replayed bool) (Movement, error) {
	c, err := a.GetCard(ctx, number)
	if err != nil {
		return Movement{}, err
	}
	l, err := scanLine(a.cfg.Pool.QueryRow(ctx, `SELECT `+lineCols+` FROM card_ledger l LEFT JOIN orders o ON o.id = l.order_id WHERE l.id = $1`, ledgerID))
	return Movement{Card: c, Line: l, Replayed: replayed}, err
}

// Debit takes money (and redeemed points) from a card. Points earned by
// the member's category rule on the money part are added.
type Debit struct {
	Card         string
	Kind         string // payment (an order), consume (another point of sale), date_change
	AmountMinor  int64  // what is due, in the card's currency; points pay part of it
	RedeemPoints int64  // points to redeem against AmountMinor
	Currency     string // the currency of what is due; must be the card's
	ParkID       string // the park selling; must be the card's
	OrderID      int64  // for payment and date_change
	RequestID    string // a point of sale's id for this call: repeated, it returns the first result
	Reference    string
}

// Debited is what a debit did.
type Debited struct {
	CardNumber   string `json:"card"`
	LedgerID     int64  `json:"ledger_id"`
	MoneyMinor   int64  `json:"money_minor"`   // from the balance
	PointsUsed   int64  `json:"points_used"`   // redeemed
	PointsMinor  int64  `json:"points_minor"`  // what the redeemed points paid
	PointsEarned int64  `json:"points_earned"` // by the category's rule
	BalanceMinor int64  `json:"balance_minor"` // after
	Replayed     bool   `json:"replayed,omitempty"`
}

var requestIDRe = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`)

// DebitCard takes d from the card in tx (the caller's transaction: an
// order's payment commits with the order). The card row is locked, so
// racing debits queue on it and the balance never goes below zero: a debit
// the balance cannot cover is a 409 insufficient_balance problem.
func DebitCard(ctx context.Context, tx DB, p web.Principal, d Debit, now time.Time) (Debited, error) {
	if d.AmountMinor < 0 || d.RedeemPoints < 0 {
		return Debited{}, bad("bad_amount", "amounts and points must not be negative")
	}
	if d.RequestID != "" && !requestIDRe.MatchString(d.RequestID) {
		return Debited{}, bad("bad_request_id", `"request_id" must be 1-128 printable ASCII characters without spaces`)
	}
	c, err := lockCard(ctx, tx, d.Card, true)
	if err != nil {
		return Debited{}, err
	}
	out := Debited{CardNumber: c.Number}
	if d.RequestID != "" {
		var amount, points int64
		err := tx.QueryRow(ctx, `SELECT id, amount_minor, points, balance_minor FROM card_ledger WHERE card_id = $1 AND request_id = $2`,
			c.id, d.RequestID).Scan(&out.LedgerID, &amount, &points, &out.BalanceMinor)
		if err == nil {
			out.MoneyMinor, out.Replayed = -amount, true
			return out, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return out, err
		}
	}
	if d.ParkID != "" && d.ParkID != c.ParkID {
		return out, web.Problemf(http.StatusForbidden, "wrong_park", "card %s belongs to park %s, not %s", c.Number, c.ParkID, d.ParkID)
	}
	if d.Currency != "" && d.Currency != c.Currency {
		return out, conflict("wrong_currency", "card %s holds %s, the amount is in %s", c.Number, c.Currency, d.Currency)
	}
	today, _, _, err := parkToday(ctx, tx, c.ParkID, now)
	if err != nil {
		return out, err
	}
	if err := usable(c, today); err != nil {
		return out, err
	}
	var rule Category
	if err := tx.QueryRow(ctx, `SELECT points_per_unit, unit_minor, point_value_minor FROM member_categories WHERE id = $1`, c.category).
		Scan(&rule.PointsPerUnit, &rule.UnitMinor, &rule.PointValueMinor); err != nil {
		return out, err
	}
	if d.RedeemPoints > 0 {
		if d.RedeemPoints > c.Points {
			return out, conflict("insufficient_points", "card %s has %d points, %d asked", c.Number, c.Points, d.RedeemPoints)
		}
		if rule.PointValueMinor == 0 || d.RedeemPoints > d.AmountMinor/rule.PointValueMinor {
			return out, bad("too_many_points", "%d points pay %d at most here (a point pays %d)",
				d.RedeemPoints, d.AmountMinor/max(rule.PointValueMinor, 1), rule.PointValueMinor)
		}
	}
	out.PointsUsed, out.PointsMinor = d.RedeemPoints, d.RedeemPoints*rule.PointValueMinor
	out.MoneyMinor = d.AmountMinor - out.PointsMinor
	if out.MoneyMinor > c.BalanceMinor {
		return out, conflict("insufficient_balance", "card %s holds %d %s, %d is due", c.Number, c.BalanceMinor, c.Currency, out.MoneyMinor)
	}
	out.PointsEarned = out.MoneyMinor / rule.UnitMinor * int64(rule.PointsPerUnit)
	// The condition repeats the check: the row is locked, and the CHECK
	// (balance_minor >= 0) stands behind both.
	tag, err := tx.Exec(ctx, `UPDATE cards SET balance_minor = balance_minor - $2, points = points - $3 + $4, updated_at = $5
		WHERE id = $1 AND balance_minor >= $2 AND points >= $3`, c.id, out.MoneyMinor, out.PointsUsed, out.PointsEarned, now)
	if err != nil {
		return out, err
	}
	if tag.RowsAffected() != 1 {
		return out, conflict("insufficient_balance", "card %s cannot cover %d", c.Number, out.MoneyMinor)
	}
	if out.LedgerID, err = ledgerID(ctx, tx, p, entry{card: c.id, kind: d.Kind, amount: -out.MoneyMinor,
		points: out.PointsEarned - out.PointsUsed, reference: d.Reference, orderID: d.OrderID, requestID: d.RequestID, at: now}); err != nil {
		return out, err
	}
	out.BalanceMinor = c.BalanceMinor - out.MoneyMinor
	return out, audit.Record(ctx, tx, p, "card."+d.Kind, "card", c.Number, map[string]any{"amount_minor": d.AmountMinor,
		"money_minor": out.MoneyMinor, "points_used": out.PointsUsed, "points_earned": out.PointsEarned,
		"order_id": d.OrderID, "request_id": d.RequestID, "ledger_id": out.LedgerID})
}

// CreditCard pays money back into a card in tx (an order refund, a date
// change to a cheaper day). Lost cards take it too: the balance moves to
// the replacement.
func CreditCard(ctx context.Context, tx DB, p web.Principal, cardID int64, kind string, amount, orderID int64, now time.Time) error {
	if amount <= 0 {
		return fmt.Errorf("member: credit of %d", amount)
	}
	tag, err := tx.Exec(ctx, `UPDATE cards SET balance_minor = balance_minor + $2, updated_at = $3 WHERE id = $1 AND status IN ('active', 'lost')`,
		cardID, amount, now)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return conflict("card_not_active", "card %d can no longer take money back", cardID)
	}
	return ledger(ctx, tx, p, entry{card: cardID, kind: kind, amount: amount, orderID: orderID, at: now})
}

// ConsumeRequest is a payment from a card at another point of sale
// (POST /v1/cards/{number}/consume): a restaurant, a shop.
type ConsumeRequest struct {
	AmountMinor  int64  `json:"amount_minor"`
	RedeemPoints int64  `json:"redeem_points,omitempty"`
	RequestID    string `json:"request_id"`          // the point of sale's id for this payment; a retry with it pays once
	Reference    string `json:"reference,omitempty"` // what was bought, the till's receipt number
}

// Consume takes a payment from a card (消费).
func (a *API) Consume(ctx context.Context, p web.Principal, number string, r ConsumeRequest) (Movement, Debited, error) {
	if r.AmountMinor < 1 {
		return Movement{}, Debited{}, bad("bad_amount", `"amount_minor" must be at least 1`)
	}
	if r.RequestID == "" {
		return Movement{}, Debited{}, bad("bad_request_id", `"request_id" is required: the point of sale's id for this payment, so that a retry pays once`)
	}
	ref, err := cleanText(r.Reference, `"reference"`, 128, false)
	if err != nil {
		return Movement{}, Debited{}, bad("bad_reference", "%v", err)
	}
	park, err := callerPark(ctx, a.cfg.Pool, p)
	if err != nil {
		return Movement{}, Debited{}, err
	}
	var d Debited
	err = pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		var err error
		d, err = DebitCard(ctx, tx, p, Debit{Card: number, Kind: "consume", AmountMinor: r.AmountMinor, RedeemPoints: r.RedeemPoints,
			ParkID: park, RequestID: r.RequestID, Reference: ref}, a.now())
		return err
	})
	if err != nil {
		return Movement{}, d, err
	}
	m, err := a.movement(ctx, d.CardNumber, d.LedgerID, d.Replayed)
	return m, d, err
}

// StatementLine is one line of a card's statement.
type StatementLine struct {
	ID            int64     `json:"id"`
	At            time.Time `json:"at"`
	Kind          string    `json:"kind"`
	AmountMinor   int64     `json:"amount_minor"`  // + in, - out
	BalanceMinor  int64     `json:"balance_minor"` // after
	Points        int64     `json:"points"`
	PointsBalance int64     `json:"points_balance"`
	Method        string    `json:"method,omitempty"`
	Reference     string    `json:"reference,omitempty"`
	Order         string    `json:"order,omitempty"` // the order's number
	UserID        int64     `json:"user_id,omitempty"`
	SalesPointID  string    `json:"sales_point_id,omitempty"`
	RequestID     string    `json:"request_id,omitempty"`
}

const lineCols = `l.id, l.at, l.kind, l.amount_minor, l.balance_minor, l.points, l.points_balance, l.method, l.reference,
	coalesce(o.number, ''), coalesce(l.user_id, 0), coalesce(l.sales_point_id, ''), coalesce(l.request_id, '')`

func scanLine(row pgx.Row) (StatementLine, error) {
	var l StatementLine
	err := row.Scan(&l.ID, &l.At, &l.Kind, &l.AmountMinor, &l.BalanceMinor, &l.Points, &l.PointsBalance, &l.Method, &l.Reference,
		&l.Order, &l.UserID, &l.SalesPointID, &l.RequestID)
	return l, err
}

// Statement is a card's statement (消费明细), oldest line first.
type Statement struct {
	Card  Card            `json:"card"`
	Lines []StatementLine `json:"lines"`
	// Truncated: more lines than MaxStatement; ask with after= the last id.
	Truncated bool `json:"truncated,omitempty"`
}

// MaxStatement bounds the lines of one statement reply.
const MaxStatement = 1000

// CardStatement lists a card's ledger after line id after (0: from the
// start), times in the park's zone.
func (a *API) CardStatement(ctx context.Context, number string, after int64) (Statement, error) {
	c, err := lockCard(ctx, a.cfg.Pool, number, false)
	if err != nil {
		return Statement{}, err
	}
	_, loc, _, err := parkToday(ctx, a.cfg.Pool, c.ParkID, a.now())
	if err != nil {
		return Statement{}, err
	}
	rows, err := a.cfg.Pool.Query(ctx, `SELECT `+lineCols+` FROM card_ledger l LEFT JOIN orders o ON o.id = l.order_id
		WHERE l.card_id = $1 AND l.id > $2 ORDER BY l.id LIMIT $3`, c.id, after, MaxStatement+1)
	if err != nil {
		return Statement{}, err
	}
	lines, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StatementLine, error) { return scanLine(r) })
	if err != nil {
		return Statement{}, err
	}
	s := Statement{Card: c.Card, Lines: lines}
	if len(lines) > MaxStatement {
		s.Lines, s.Truncated = lines[:MaxStatement], true
	}
	for i := range s.Lines {
		s.Lines[i].At = s.Lines[i].At.In(loc)
	}
	if s.Lines == nil {
		s.Lines = []StatementLine{}
	}
	return s, nil
}

// PayOrder is orders.Config.CardPay: an order's total from a card's
// balance and points, in the order's transaction.
func PayOrder(ctx context.Context, tx pgx.Tx, p web.Principal, r orders.CardPayment) (orders.CardPaid, error) {
	d, err := DebitCard(ctx, tx, p, Debit{Card: r.Card, Kind: "payment", AmountMinor: r.AmountMinor, RedeemPoints: r.RedeemPoints,
		Currency: r.Currency, ParkID: r.ParkID, OrderID: r.OrderID, Reference: r.OrderNumber}, r.At)
	if err != nil {
		return orders.CardPaid{}, err
	}
	return orders.CardPaid{Card: d.CardNumber, MoneyMinor: d.MoneyMinor, PointsUsed: d.PointsUsed, PointsMinor: d.PointsMinor,
		PointsEarned: d.PointsEarned, BalanceMinor: d.BalanceMinor}, nil
}

// CreditByNumber pays amount back into card number in tx (a date change
// to a cheaper day): the card must be of park and currency. It returns the
// balance after.
func CreditByNumber(ctx context.Context, tx DB, p web.Principal, number, park, currency, kind string, amount, orderID int64, now time.Time) (int64, error) {
	c, err := lockCard(ctx, tx, number, true)
	if err != nil {
		return 0, err
	}
	if c.ParkID != park || c.Currency != currency {
		return 0, web.Problemf(http.StatusForbidden, "wrong_park", "card %s belongs to park %s (%s), not %s (%s)", c.Number, c.ParkID, c.Currency, park, currency)
	}
	if err := CreditCard(ctx, tx, p, c.id, kind, amount, orderID, now); err != nil {
		return 0, err
	}
	return c.BalanceMinor + amount, audit.Record(ctx, tx, p, "card."+kind, "card", c.Number, map[string]any{"amount_minor": amount, "order_id": orderID})
}

// CashierShift is the shift money a cashier takes or pays out at a window
// lands in (package shift): their open shift, locked FOR SHARE in tx so it
// cannot close under the change; required at a window unless the shifts
// setting says otherwise. 0 for other roles.
func CashierShift(ctx context.Context, tx DB, p web.Principal) (int64, error) {
	if p.Role != web.RoleCashier {
		return 0, nil
	}
	sp, err := catalog.GetSalesPoint(ctx, tx, p.SalesPointID)
	if err != nil {
		return 0, web.Problemf(http.StatusForbidden, "unknown_sales_point", "your sales point %q does not exist", p.SalesPointID)
	}
	if sp.Kind == "window" {
		return shift.Attach(ctx, tx, p.UserID, p.SalesPointID)
	}
	id, _, err := shift.Optional(ctx, tx, p.UserID, p.SalesPointID)
	return id, err
}
