package payment

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/admitpark/admit/sales/web"
)

// MaxReferenceRunes bounds a terminal's reference (a bank card slip's
// reference number, an Alipay/WeChat transaction number: 12-32 characters).
const MaxReferenceRunes = 64

// Window is money a cashier takes at a window: cash into the drawer, or a
// card or wallet payment on the window's own terminal (a bank card POS, an
// Alipay/WeChat scanner), which the cashier records with the reference the
// terminal printed. It counts in the cashier's shift under its method.
type Window struct {
	OrderID      int64
	Method       string // MethodCash, MethodCard or MethodWallet
	DueMinor     int64  // the order total (or what else is due)
	AmountMinor  int64  // what the cashier entered; must equal DueMinor
	Reference    string // card, wallet: the terminal's reference (see CheckReference)
	Currency     string
	UserID       int64  // the cashier
	SalesPointID string // the cashier's window
	ShiftID      int64  // the cashier's open shift (0: none; see package shift)
	At           time.Time
}

// OnTerminal reports whether method is taken on a window's terminal (and
// so needs a reference).
func OnTerminal(method string) bool { return method == MethodCard || method == MethodWallet }

// CheckReference cleans a terminal's reference: trimmed, 1 to
// MaxReferenceRunes printable characters. A refusal is a 400 problem
// (reference_required or bad_reference).
func CheckReference(method, ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return "", web.Problemf(http.StatusBadRequest, "reference_required",
			`a %s payment takes "reference": the reference the terminal printed on its slip`, method)
	}
	if !utf8.ValidString(ref) || utf8.RuneCountInString(ref) > MaxReferenceRunes {
		return "", web.Problemf(http.StatusBadRequest, "bad_reference", `"reference" must be at most %d characters`, MaxReferenceRunes)
	}
	for _, r := range ref {
		if !unicode.IsPrint(r) {
			return "", web.Problemf(http.StatusBadRequest, "bad_reference", `"reference" must be printable text, not %q`, ref)
		}
	}
	return ref, nil
}

// RecordWindow records a succeeded payment taken at a window. An amount
// other than the amount due is a 400 amount_mismatch problem (cash change
// is given at the window, not recorded; a terminal takes the exact
// amount). A card or wallet reference already recorded at this window by
// the same method is a 409 duplicate_reference problem: the same slip typed
// twice would count twice in the shift.
func RecordWindow(ctx context.Context, db DB, w Window) (Payment, error) {
	var ref *string
	switch {
	case w.Method == MethodCash:
		if w.Reference != "" {
			return Payment{}, web.Problemf(http.StatusBadRequest, "bad_payment", `cash takes no "reference"`)
		}
	case OnTerminal(w.Method):
		r, err := CheckReference(w.Method, w.Reference)
		if err != nil {
			return Payment{}, err
		}
		ref = &r
	default:
		return Payment{}, errors.New("payment: a window takes cash, card or wallet, not " + w.Method)
	}
	if w.AmountMinor != w.DueMinor {
		return Payment{}, web.Problemf(http.StatusBadRequest, "amount_mismatch",
			"%s amount %d does not equal the order total %d %s", w.Method, w.AmountMinor, w.DueMinor, w.Currency)
	}
	if w.UserID == 0 || w.SalesPointID == "" {
		return Payment{}, web.Problemf(http.StatusForbidden, "no_sales_point", "%s is taken by a cashier at a sales point", w.Method)
	}
	if ref != nil {
		var order string
		err := db.QueryRow(ctx, `SELECT o.number FROM payments p JOIN orders o ON o.id = p.order_id
			WHERE p.sales_point_id = $1 AND p.method = $2 AND p.terminal_ref = $3`, w.SalesPointID, w.Method, *ref).Scan(&order)
		if err == nil {
			return Payment{}, duplicate(w.Method, *ref, "order "+order)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return Payment{}, err
		}
	}
	p, err := scanPayment(db.QueryRow(ctx, `INSERT INTO payments
		(order_id, method, terminal_ref, amount_minor, currency, status, user_id, sales_point_id, created_at, confirmed_at, shift_id)
		VALUES ($1, $2, $3, $4, $5, 'succeeded', $6, $7, $8, $8, $9) RETURNING `+paymentCols,
		w.OrderID, w.Method, ref, w.AmountMinor, w.Currency, w.UserID, w.SalesPointID, w.At, nullable(w.ShiftID)))
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "payments_terminal_ref" {
		return Payment{}, duplicate(w.Method, *ref, "another sale a moment ago") // a concurrent sale won the race
	}
	return p, err
}

func duplicate(method, ref, where string) error {
	return web.Problemf(http.StatusConflict, "duplicate_reference",
		"the %s reference %q was already recorded at this window (%s): type the reference of this sale's slip", method, ref, where)
}

// RecordCash records a succeeded cash payment (RecordWindow with method cash).
func RecordCash(ctx context.Context, db DB, w Window) (Payment, error) {
	w.Method = MethodCash
	return RecordWindow(ctx, db, w)
}
