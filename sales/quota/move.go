package quota

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/admitpark/admit/sales/web"
)

// Move moves an order's places for one ticket from one day (or slot) to
// another in tx: from's places are given back and to's taken (an
// ErrExhausted problem if they are not there; the caller rolls tx back).
// Both sets of counters are locked in the one global order, so a move
// and an order or another move never wait on each other in opposite
// orders, and racing takers of the target day's last places get exactly as
// many as fit.
func Move(ctx context.Context, tx DB, orderID int64, from, to Request) error {
	if from.Quantity < 1 || to.Quantity != from.Quantity {
		return web.Problemf(http.StatusBadRequest, "bad_quantity", "a move keeps its quantity (at least 1)")
	}
	type step struct {
		take
		give bool
	}
	var steps []step
	gives := []limit{{scope: ScopePark, id: from.ParkID}, {scope: ScopeProduct, id: from.ProductID}}
	if from.SlotID != 0 {
		gives = append(gives, limit{scope: ScopeSlot, id: fmt.Sprint(from.SlotID)})
	}
	for _, l := range gives {
		steps = append(steps, step{take{limit: l, day: from.VisitDate.Format(time.DateOnly), n: from.Quantity}, true})
	}
	takes, err := limits(ctx, tx, to, true)
	if err != nil {
		return err
	}
	for _, l := range takes {
		steps = append(steps, step{take{limit: l, day: to.VisitDate.Format(time.DateOnly), n: to.Quantity}, false})
	}
	sort.SliceStable(steps, func(i, j int) bool {
		a, b := steps[i], steps[j]
		return lockLess(a.scope, a.id, a.day, b.scope, b.id, b.day)
	})
	for _, s := range steps {
		if s.give {
			tag, err := tx.Exec(ctx, `UPDATE quota_holds SET quantity = quantity - $5
				WHERE order_id = $1 AND scope = $2 AND scope_id = $3 AND visit_date = $4 AND quantity >= $5`,
				orderID, s.scope, s.id, s.day, s.n)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				continue // nothing held there (released already)
			}
			if _, err := tx.Exec(ctx, `UPDATE quota_usage SET used = GREATEST(0, used - $4)
				WHERE scope = $1 AND scope_id = $2 AND visit_date = $3`, s.scope, s.id, s.day, s.n); err != nil {
				return err
			}
			continue
		}
		if err := s.hold(ctx, tx, orderID); err != nil {
			return err
		}
	}
	return nil
}
