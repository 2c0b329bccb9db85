package member

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/catalog"
	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/validator/gateapi"
)

// Card statuses, as stored in cards.status.
const (
	CardActive   = "active"
	CardLost     = "lost"
	CardReplaced = "replaced"
	CardRefunded = "refunded"
)

// Card is a member's card as the API shows it.
type Card struct {
	Number       string    `json:"number"`
	ParkID       string    `json:"park_id"`
	MemberID     int64     `json:"member_id"`
	Status       string    `json:"status"`
	Currency     string    `json:"currency"`
	BalanceMinor int64     `json:"balance_minor"`
	Points       int64     `json:"points"`
	ExpiresOn    string    `json:"expires_on,omitempty"` // last valid park day; empty: does not expire
	ReplacedBy   string    `json:"replaced_by,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// cardRow is a cards row with its id and the member's category.
type cardRow struct {
	Card
	id       int64
	expires  *time.Time
	category string
}

var cardNumberRe = regexp.MustCompile(`^[0-9A-Z]{4,32}$`)

// NormalizeCard is a card number or UID as stored and bound
// (gateapi.NormalizeCardValue): 4-32 digits and upper-case letters.
func NormalizeCard(s string) (string, error) {
	n := gateapi.NormalizeCardValue(s)
	if !cardNumberRe.MatchString(n) {
		return n, bad("bad_card_number", "a card number or UID is 4-32 digits and letters (spaces, colons and dashes are dropped), not %q", s)
	}
	return n, nil
}

const cardCols = `c.id, c.number, c.park_id, c.member_id, c.status, c.currency, c.balance_minor, c.points, c.expires_on,
	coalesce(r.number, ''), c.created_at, c.updated_at, m.category`

const cardFrom = ` FROM cards c JOIN members m ON m.id = c.member_id LEFT JOIN cards r ON r.id = c.replaced_by `

func scanCard(row pgx.Row) (cardRow, error) {
	var c cardRow
	err := row.Scan(&c.id, &c.Number, &c.ParkID, &c.MemberID, &c.Status, &c.Currency, &c.BalanceMinor, &c.Points, &c.expires,
		&c.ReplacedBy, &c.CreatedAt, &c.UpdatedAt, &c.category)
	if c.expires != nil {
		c.ExpiresOn = c.expires.Format(time.DateOnly)
	}
	return c, err
}

// lockCard reads a card by number, locked FOR UPDATE (of the card row
// only) when lock is set.
func lockCard(ctx context.Context, db DB, number string, lock bool) (cardRow, error) {
	n, err := NormalizeCard(number)
	if err != nil {
		return cardRow{}, err
	}
	q := `SELECT ` + cardCols + cardFrom + `WHERE c.number = $1`
	if lock {
		q += ` FOR UPDATE OF c`
	}
	c, err := scanCard(db.QueryRow(ctx, q, n))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, notFound("unknown_card", "no card %s", n)
	}
	return c, err
}

func cardsOf(ctx context.Context, db DB, memberID int64) ([]Card, error) {
	rows, err := db.Query(ctx, `SELECT `+cardCols+cardFrom+`WHERE c.member_id = $1 ORDER BY c.id`, memberID)
	if err != nil {
		return nil, err
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (cardRow, error) { return scanCard(r) })
	if err != nil {
		return nil, err
	}
	out := make([]Card, len(cs))
	for i, c := range cs {
		out[i] = c.Card
		if err := inParkZone(ctx, db, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// GetCard returns a card by number, its times in its park's zone.
func (a *API) GetCard(ctx context.Context, number string) (Card, error) {
	c, err := lockCard(ctx, a.cfg.Pool, number, false)
	if err != nil {
		return c.Card, err
	}
	return c.Card, inParkZone(ctx, a.cfg.Pool, &c.Card)
}

// inParkZone shows c's times in its park's zone.
func inParkZone(ctx context.Context, db DB, c *Card) error {
	_, loc, _, err := parkToday(ctx, db, c.ParkID, time.Now())
	if err != nil {
		return err
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.In(loc), c.UpdatedAt.In(loc)
	return nil
}

var locs sync.Map // time zone name -> *time.Location

// parkToday is park's current day (as a date at 00:00 UTC), its location
// and currency.
func parkToday(ctx context.Context, db DB, park string, now time.Time) (time.Time, *time.Location, string, error) {
	p, err := catalog.GetPark(ctx, db, park)
	if errors.Is(err, catalog.ErrNotFound) {
		return time.Time{}, nil, "", notFound("unknown_park", "no park %q", park)
	}
	if err != nil {
		return time.Time{}, nil, "", err
	}
	var loc *time.Location
	if l, ok := locs.Load(p.TimeZone); ok {
		loc = l.(*time.Location)
	} else if loc, err = time.LoadLocation(p.TimeZone); err != nil {
		return time.Time{}, nil, "", fmt.Errorf("park %s time zone: %w", park, err)
	} else {
		locs.Store(p.TimeZone, loc)
	}
	l := now.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, time.UTC), loc, p.Currency, nil
}

// callerPark is the park a cashier works in ("" for other roles).
func callerPark(ctx context.Context, db DB, p web.Principal) (string, error) {
	if p.Role != web.RoleCashier {
		return "", nil
	}
	if p.SalesPointID == "" {
		return "", web.Problemf(http.StatusForbidden, "no_sales_point", "cashier %s is not assigned to a sales point", p.Username)
	}
	sp, err := catalog.GetSalesPoint(ctx, db, p.SalesPointID)
	if errors.Is(err, catalog.ErrNotFound) {
		return "", web.Problemf(http.StatusForbidden, "unknown_sales_point", "your sales point %q does not exist", p.SalesPointID)
	}
	if err != nil {
		return "", err
	}
	if !sp.Active {
		return "", web.Problemf(http.StatusForbidden, "sales_point_inactive", "sales point %s is closed (inactive)", sp.ID)
	}
	return sp.ParkID, nil
}

// checkCaller refuses a cashier of another park.
func checkCaller(ctx context.Context, db DB, p web.Principal, c cardRow) error {
	park, err := callerPark(ctx, db, p)
	if err != nil {
		return err
	}
	if park != "" && park != c.ParkID {
		return web.Problemf(http.StatusForbidden, "wrong_park", "card %s belongs to park %s, your sales point to park %s", c.Number, c.ParkID, park)
	}
	return nil
}

// OpenRequest opens a card for a member (POST /v1/members/{id}/cards).
type OpenRequest struct {
	Number    string `json:"number"`               // printed number or IC UID
	ParkID    string `json:"park_id,omitempty"`    // a cashier's own park when left out
	ExpiresOn string `json:"expires_on,omitempty"` // YYYY-MM-DD, the last valid park day; empty: no expiry
}

func parseDay(s, what string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return nil, bad("bad_date", "%s must be a date like 2027-11-22, not %q", what, s)
	}
	return &d, nil
}

// OpenCard opens a card for member id (开卡).
func (a *API) OpenCard(ctx context.Context, p web.Principal, memberID int64, r OpenRequest) (Card, error) {
	var number string
	err := pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		var err error
		number, err = a.openCard(ctx, tx, p, memberID, r)
		return err
	})
	if err != nil {
		return Card{}, err
	}
	return a.GetCard(ctx, number)
}

func (a *API) openCard(ctx context.Context, tx pgx.Tx, p web.Principal, memberID int64, r OpenRequest) (string, error) {
	n, err := NormalizeCard(r.Number)
	if err != nil {
		return "", err
	}
	expires, err := parseDay(r.ExpiresOn, `"expires_on"`)
	if err != nil {
		return "", err
	}
	park, err := callerPark(ctx, tx, p)
	if err != nil {
		return "", err
	}
	switch {
	case park != "" && r.ParkID != "" && r.ParkID != park:
		return "", web.Problemf(http.StatusForbidden, "wrong_park", "your sales point is in park %s, not %s", park, r.ParkID)
	case park == "" && r.ParkID == "":
		return "", bad("park_required", `"park_id" is required`)
	case park == "":
		park = r.ParkID
	}
	today, _, currency, err := parkToday(ctx, tx, park, a.now())
	if err != nil {
		return "", err
	}
	if expires != nil && expires.Before(today) {
		return "", bad("bad_date", `"expires_on" %s is in the past (park date today: %s)`, r.ExpiresOn, today.Format(time.DateOnly))
	}
	if _, err := lockMember(ctx, tx, memberID); err != nil {
		return "", err
	}
	var id int64
	err = tx.QueryRow(ctx, `INSERT INTO cards (number, park_id, member_id, currency, expires_on, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (number) DO NOTHING RETURNING id`,
		n, park, memberID, currency, expires, a.now()).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", conflict("card_exists", "card %s is already issued", n)
	}
	if err != nil {
		return "", err
	}
	return n, audit.Record(ctx, tx, p, "card.open", "card", n,
		map[string]any{"member_id": memberID, "park_id": park, "expires_on": r.ExpiresOn})
}

// RenewRequest extends a card (POST /v1/cards/{number}/renew).
type RenewRequest struct {
	ExpiresOn string `json:"expires_on"` // the new last valid day; later than the old one
}

// RenewCard moves a card's expiry later (续卡).
func (a *API) RenewCard(ctx context.Context, p web.Principal, number string, r RenewRequest) (Card, error) {
	expires, err := parseDay(r.ExpiresOn, `"expires_on"`)
	if err != nil {
		return Card{}, err
	}
	if expires == nil {
		return Card{}, bad("bad_date", `"expires_on" is required`)
	}
	var c cardRow
	err = pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		var err error
		if c, err = lockCard(ctx, tx, number, true); err != nil {
			return err
		}
		if err := checkCaller(ctx, tx, p, c); err != nil {
			return err
		}
		if c.Status != CardActive {
			return conflict("card_not_active", "card %s is %s: only an active card is renewed", c.Number, c.Status)
		}
		if c.expires != nil && !expires.After(*c.expires) {
			return bad("bad_date", `"expires_on" %s is not later than the card's expiry %s`, r.ExpiresOn, c.ExpiresOn)
		}
		if _, err := tx.Exec(ctx, `UPDATE cards SET expires_on = $2, updated_at = $3 WHERE id = $1`, c.id, expires, a.now()); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "card.renew", "card", c.Number, map[string]any{"old_expires_on": c.ExpiresOn, "expires_on": r.ExpiresOn})
	})
	if err != nil {
		return Card{}, err
	}
	return a.GetCard(ctx, c.Number)
}

// LostResult answers a loss report: the card and the passes it froze.
type LostResult struct {
	Card      Card     `json:"card"`
	Suspended []string `json:"suspended_tickets"` // ticket ids, suspended at every gate once synced
}

// ReportLost freezes a card at once (挂失): no payment, no recharge, and
// every ticket bound to it is suspended at the gates (an outbox update row
// written with the change, sent by the relay as soon as it commits).
func (a *API) ReportLost(ctx context.Context, p web.Principal, number string) (LostResult, error) {
	var out LostResult
	err := pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		c, err := lockCard(ctx, tx, number, true)
		if err != nil {
			return err
		}
		if err := checkCaller(ctx, tx, p, c); err != nil {
			return err
		}
		if c.Status != CardActive {
			return conflict("card_not_active", "card %s is %s, not active", c.Number, c.Status)
		}
		if _, err := tx.Exec(ctx, `UPDATE cards SET status = 'lost', updated_at = $2 WHERE id = $1`, c.id, a.now()); err != nil {
			return err
		}
		if out.Suspended, err = suspendPasses(ctx, tx, c.id); err != nil {
			return err
		}
		out.Card.Number = c.Number
		return audit.Record(ctx, tx, p, "card.lost", "card", c.Number, map[string]any{"suspended_tickets": out.Suspended})
	})
	if err != nil {
		return out, err
	}
	out.Card, err = a.GetCard(ctx, out.Card.Number)
	return out, err
}

// ReplaceRequest replaces a card (POST /v1/cards/{number}/replace).
type ReplaceRequest struct {
	NewNumber string `json:"new_number"`
}

// ReplaceResult answers a replacement.
type ReplaceResult struct {
	Old     Card     `json:"old"`
	New     Card     `json:"new"`
	Rebound []string `json:"rebound_tickets"` // passes now opened by the new card (and resumed)
}

// ReplaceCard moves a card's balance, points, expiry and passes to a new
// card (补换卡); the old one opens nothing more. A lost card's passes are
// resumed for the new card.
func (a *API) ReplaceCard(ctx context.Context, p web.Principal, number string, r ReplaceRequest) (ReplaceResult, error) {
	nn, err := NormalizeCard(r.NewNumber)
	if err != nil {
		return ReplaceResult{}, err
	}
	var out ReplaceResult
	now := a.now()
	err = pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		c, err := lockCard(ctx, tx, number, true)
		if err != nil {
			return err
		}
		if err := checkCaller(ctx, tx, p, c); err != nil {
			return err
		}
		if c.Status != CardActive && c.Status != CardLost {
			return conflict("card_not_replaceable", "card %s is %s: only an active or lost card is replaced", c.Number, c.Status)
		}
		var newID int64
		err = tx.QueryRow(ctx, `INSERT INTO cards (number, park_id, member_id, currency, balance_minor, points, expires_on, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (number) DO NOTHING RETURNING id`,
			nn, c.ParkID, c.MemberID, c.Currency, c.BalanceMinor, c.Points, c.expires, now).Scan(&newID)
		if errors.Is(err, pgx.ErrNoRows) {
			return conflict("card_exists", "card %s is already issued", nn)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE cards SET status = 'replaced', replaced_by = $2, balance_minor = 0, points = 0, updated_at = $3
			WHERE id = $1`, c.id, newID, now); err != nil {
			return err
		}
		if c.BalanceMinor != 0 || c.Points != 0 {
			if err := ledger(ctx, tx, p, entry{card: c.id, kind: "transfer_out", amount: -c.BalanceMinor, points: -c.Points,
				reference: nn, at: now}); err != nil {
				return err
			}
			if err := ledger(ctx, tx, p, entry{card: newID, kind: "transfer_in", amount: c.BalanceMinor, points: c.Points,
				reference: c.Number, at: now}); err != nil {
				return err
			}
		}
		if out.Rebound, err = a.rebindPasses(ctx, tx, c.id, newID); err != nil {
			return err
		}
		out.Old.Number, out.New.Number = c.Number, nn
		return audit.Record(ctx, tx, p, "card.replace", "card", c.Number, map[string]any{"new_number": nn,
			"old_status": c.Status, "balance_minor": c.BalanceMinor, "points": c.Points, "rebound_tickets": out.Rebound})
	})
	if err != nil {
		return out, err
	}
	if out.Old, err = a.GetCard(ctx, out.Old.Number); err != nil {
		return out, err
	}
	out.New, err = a.GetCard(ctx, out.New.Number)
	return out, err
}

// RefundRequest refunds a card (POST /v1/cards/{number}/refund).
type RefundRequest struct {
	Method    string `json:"method"`              // how the balance goes back: cash (at the window) or card
	Reference string `json:"reference,omitempty"` // the bank card refund's reference, for method card
}

// RefundResult answers a card refund: what goes back to the member.
type RefundResult struct {
	Card       Card  `json:"card"`
	PaidMinor  int64 `json:"paid_minor"`  // paid back to the member
	FeeMinor   int64 `json:"fee_minor"`   // kept by the category's rule
	PointsLost int64 `json:"points_lost"` // points are not paid back
	BalanceWas int64 `json:"balance_was"` // the balance before the refund
}

var refMethodRe = regexp.MustCompile(`^(cash|card)$`)

// RefundCard ends a card (退卡): the balance is paid back less the
// category's refund fee, points lapse. A card with a valid pass bound to
// it is refused: refund or move the pass first.
func (a *API) RefundCard(ctx context.Context, p web.Principal, number string, r RefundRequest) (RefundResult, error) {
	if !refMethodRe.MatchString(r.Method) {
		return RefundResult{}, bad("bad_method", `"method" must be cash or card, not %q`, r.Method)
	}
	ref, err := cleanText(r.Reference, `"reference"`, 128, r.Method == "card")
	if err != nil {
		return RefundResult{}, bad("bad_reference", "%v (a card refund names its reference)", err)
	}
	var out RefundResult
	now := a.now()
	err = pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		c, err := lockCard(ctx, tx, number, true)
		if err != nil {
			return err
		}
		if err := checkCaller(ctx, tx, p, c); err != nil {
			return err
		}
		if c.Status != CardActive && c.Status != CardLost {
			return conflict("card_not_refundable", "card %s is %s: only an active or lost card is refunded", c.Number, c.Status)
		}
		var pass string
		err = tx.QueryRow(ctx, `SELECT id::text FROM tickets WHERE card_id = $1 AND status IN ('active', 'suspended') AND valid_until > $2 LIMIT 1`,
			c.id, now).Scan(&pass)
		if err == nil {
			return conflict("card_has_pass", "card %s opens valid ticket %s: refund that ticket or replace the card first", c.Number, pass)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var fee int
		if err := tx.QueryRow(ctx, `SELECT refund_fee_percent FROM member_categories WHERE id = $1`, c.category).Scan(&fee); err != nil {
			return err
		}
		out.BalanceWas, out.PointsLost = c.BalanceMinor, c.Points
		out.FeeMinor = c.BalanceMinor * int64(fee) / 100
		out.PaidMinor = c.BalanceMinor - out.FeeMinor
		shiftID, err := CashierShift(ctx, tx, p)
		if err != nil {
			return err
		}
		// Two statement lines: what is paid out (in the cashier's shift),
		// then the fee kept.
		if _, err := tx.Exec(ctx, `UPDATE cards SET status = 'refunded', balance_minor = $2, points = 0, updated_at = $3 WHERE id = $1`,
			c.id, out.FeeMinor, now); err != nil {
			return err
		}
		e := entry{card: c.id, kind: "card_refund", amount: -out.PaidMinor, points: -c.Points, method: r.Method, reference: ref, shiftID: shiftID, at: now}
		if err := ledger(ctx, tx, p, e); err != nil {
			return err
		}
		if out.FeeMinor > 0 {
			if _, err := tx.Exec(ctx, `UPDATE cards SET balance_minor = 0 WHERE id = $1`, c.id); err != nil {
				return err
			}
			if err := ledger(ctx, tx, p, entry{card: c.id, kind: "refund_fee", amount: -out.FeeMinor, at: now}); err != nil {
				return err
			}
		}
		out.Card.Number = c.Number
		return audit.Record(ctx, tx, p, "card.refund", "card", c.Number, map[string]any{"method": r.Method, "reference": ref,
			"balance_minor": c.BalanceMinor, "paid_minor": out.PaidMinor, "fee_minor": out.FeeMinor, "points_lost": c.Points})
	})
	if err != nil {
		return out, err
	}
	out.Card, err = a.GetCard(ctx, out.Card.Number)
	return out, err
}
