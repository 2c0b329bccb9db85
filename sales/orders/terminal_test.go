package orders

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestCardAndWalletAtTheWindow: a card or wallet payment taken on the
// window's terminal pays the order with the terminal's reference, in the
// cashier's open shift; the reference is required, printable and bounded,
// and one slip is recorded once per window.
func TestCardAndWalletAtTheWindow(t *testing.T) {
	f := newFixture(t)
	o := f.create(tokCashier, body(line("day", 2)))
	pay := fmt.Sprintf("/v1/orders/%d/pay", o.ID)

	p := f.wantProblem(f.call("POST", pay, tokCashier, map[string]any{"method": "card"}), 400, "reference_required")
	if !strings.Contains(p.Error, `"reference"`) || !strings.Contains(p.Error, "terminal") {
		t.Errorf("missing reference: %q does not say what is missing", p.Error)
	}
	f.wantProblem(f.call("POST", pay, tokCashier, map[string]any{"method": "wallet", "reference": "   "}), 400, "reference_required")
	f.wantProblem(f.call("POST", pay, tokCashier, map[string]any{"method": "card", "reference": strings.Repeat("7", 65)}), 400, "bad_reference")
	f.wantProblem(f.call("POST", pay, tokCashier, map[string]any{"method": "card", "reference": "12\u200b34"}), 400, "bad_reference")
	f.wantProblem(f.call("POST", pay, tokCashier, map[string]any{"method": "card", "reference": "12\x0734"}), 400, "bad_text")
	f.wantProblem(f.call("POST", pay, tokCashier, map[string]any{"method": "card", "reference": "R1", "amount_minor": o.TotalMinor - 1}), 400, "amount_mismatch")
	f.wantProblem(f.call("POST", pay, tokCashier, map[string]any{"method": "cash", "amount_minor": o.TotalMinor, "reference": "R1"}), 400, "bad_payment")
	f.wantProblem(f.call("POST", pay, tokAdmin, map[string]any{"method": "card", "reference": "R1"}), 403, "cashier_only")
	if n := f.count(`SELECT count(*) FROM payments`); n != 0 {
		t.Fatalf("refused payments left %d rows", n)
	}

	var res PayResult
	f.must("POST", pay, tokCashier, map[string]any{"method": "card", "reference": " 000123456789 "}, http.StatusOK).decode(t, &res)
	pm := res.Order.Payments
	if res.Order.Status != StatusPaid || len(res.Order.Tickets) != 2 || len(pm) != 1 || pm[0].Method != "card" ||
		pm[0].Reference != "000123456789" || pm[0].AmountMinor != o.TotalMinor || pm[0].SalesPointID != "w1" {
		t.Fatalf("card payment: %s, payments %+v", res.Order.Status, pm)
	}
	var shiftID int64
	if err := f.pool.QueryRow(f.ctx, `SELECT coalesce(shift_id, 0) FROM payments WHERE id = $1`, res.PaymentID).Scan(&shiftID); err != nil || shiftID == 0 {
		t.Fatalf("the card payment is in no shift: %d %v", shiftID, err)
	}
	if n := f.count(`SELECT count(*) FROM audit_log WHERE action = 'payment.card' AND details->>'reference' = '000123456789'`); n != 1 {
		t.Errorf("audit rows for the card payment: %d", n)
	}

	// The same slip again at this window is refused; a wallet payment
	// may carry the same digits (another terminal).
	o2 := f.create(tokCashier, body(line("day", 1)))
	pay2 := fmt.Sprintf("/v1/orders/%d/pay", o2.ID)
	p = f.wantProblem(f.call("POST", pay2, tokCashier, map[string]any{"method": "card", "reference": "000123456789"}), 409, "duplicate_reference")
	if !strings.Contains(p.Error, o.Number) {
		t.Errorf("duplicate reference: %q does not name the order that has it", p.Error)
	}
	f.must("POST", pay2, tokCashier, map[string]any{"method": "wallet", "reference": "000123456789", "amount_minor": o2.TotalMinor}, http.StatusOK)
}
