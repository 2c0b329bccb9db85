package shift

import "context"

// addMemberMoney adds to a shift report the money of members' cards that
// went through the cashier's drawer (package member): card recharges
// taken (cash or bank card), card balances paid back, and date-change
// differences paid back in cash (package datechange). Payments of orders
// from a card's balance are not drawer money (stored_value is not a
// handover method); their tickets count as sold.
func addMemberMoney(ctx context.Context, db DB, id int64, line func(string) *MethodLine) error {
	rows, err := db.Query(ctx, `SELECT kind, method, count(*), coalesce(sum(amount_minor), 0) FROM card_ledger
		WHERE shift_id = $1 AND kind IN ('recharge', 'card_refund') AND method <> '' GROUP BY kind, method`, id)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var kind, method string
		var n, sum int64
		if err := rows.Scan(&kind, &method, &n, &sum); err != nil {
			return err
		}
		l := line(method)
		if kind == "recharge" {
			l.Payments += n
			l.TakenMinor += sum
		} else {
			l.RefundsPaidOutMinor += -sum
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var back int64
	if err := db.QueryRow(ctx, `SELECT coalesce(sum(old_price_minor - new_price_minor), 0) FROM date_changes
		WHERE shift_id = $1 AND method = 'cash' AND new_price_minor < old_price_minor`, id).Scan(&back); err != nil {
		return err
	}
	if back > 0 {
		line("cash").RefundsPaidOutMinor += back
	}
	return nil
}
