package report_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/admitpark/admit/sales/orders"
	"github.com/admitpark/admit/sales/payment"
	"github.com/admitpark/admit/sales/pgtest"
	"github.com/admitpark/admit/sales/shift"
)

// TestPaymentAfterCloseNeverLandsInTheClosedShift races a close of a
// shift against cash payments at its window, all released at once from
// behind a lock on the shift row: each payment either lands in the shift
// and in its frozen report, or is refused (no_open_shift) and leaves no
// payment; nothing lands after the close.
func TestPaymentAfterCloseNeverLandsInTheClosedShift(t *testing.T) {
	w := newWorld(t)
	c := w.who["c1"]
	const rounds, payers = 4, 6
	landedTotal, refusedTotal := 0, 0
	for round := range rounds {
		sh, err := w.shifts.Open(w.ctx, c, shift.OpenRequest{OpeningFloatMinor: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var pending []orders.Order
		for range payers {
			o, _, err := w.orders.Create(w.ctx, c, "", orders.CreateRequest{Lines: []orders.LineRequest{{ProductID: "kid", VisitDate: "2026-11-16", Quantity: 1}}})
			if err != nil {
				t.Fatal(err)
			}
			pending = append(pending, o)
		}
		var mu sync.Mutex
		var closed shift.Shift
		var closeErr error
		landed, refused := map[string]bool{}, 0
		pgtest.RaceBehindLock(t, w.ctx, w.pool, `SELECT count(*) FROM (SELECT 1 FROM shifts WHERE id = $1 FOR UPDATE) x`, []any{sh.ID}, payers+1,
			func(i int) {
				if i == payers {
					s, err := w.shifts.Close(w.ctx, c, sh.ID, shift.CloseRequest{Counted: map[string]int64{"cash": 0}})
					mu.Lock()
					closed, closeErr = s, err
					mu.Unlock()
					return
				}
				o := pending[i]
				_, err := w.orders.Pay(w.ctx, c, o.Number, orders.PayRequest{Method: payment.MethodCash, AmountMinor: &o.TotalMinor})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					landed[o.Number] = true
				case errors.Is(err, shift.ErrNoOpenShift):
					refused++
				default:
					t.Errorf("round %d: payment %s: %v", round, o.Number, err)
				}
			})
		if closeErr != nil {
			t.Fatalf("round %d: close: %v", round, closeErr)
		}
		var inShift, sum int64
		if err := w.pool.QueryRow(w.ctx, `SELECT count(*), coalesce(sum(amount_minor), 0) FROM payments WHERE shift_id = $1`, sh.ID).
			Scan(&inShift, &sum); err != nil {
			t.Fatal(err)
		}
		var all int64
		if err := w.pool.QueryRow(w.ctx, `SELECT count(*) FROM payments p JOIN orders o ON o.id = p.order_id WHERE o.number = ANY($1)`,
			numbers(pending)).Scan(&all); err != nil {
			t.Fatal(err)
		}
		if int(inShift) != len(landed) || int(all) != len(landed) || len(landed)+refused != payers {
			t.Fatalf("round %d: %d payments succeeded, %d refused; %d payments name the shift, %d exist", round, len(landed), refused, inShift, all)
		}
		if r := closed.Report; r.Methods[0].TakenMinor != sum || r.Methods[0].Payments != inShift || r.ExpectedMinor != 1000+sum {
			t.Fatalf("round %d: the frozen report %+v does not hold the shift's %d payments of %d", round, r, inShift, sum)
		}
		landedTotal += len(landed)
		refusedTotal += refused
	}
	t.Logf("%d rounds: %d payments landed before the close, %d were refused after it", rounds, landedTotal, refusedTotal)
}

func numbers(os []orders.Order) []string {
	var out []string
	for _, o := range os {
		out = append(out, o.Number)
	}
	return out
}
