package report

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/shift"
	"github.com/admitpark/admit/sales/web"
)

// dimSQL is each revenue dimension's expression over revenue_daily r and
// its joins.
var dimSQL = map[string]string{
	"park":          "r.park_id",
	"business_unit": "coalesce(bu.name, '')",
	"sales_point":   "r.sales_point_id",
	"cashier":       "coalesce(u.username, '')",
	"product":       "r.product_id",
	"channel":       "r.channel",
	"method":        "r.method",
	"distributor":   "coalesce(d.name, '')",
}

var periodFormat = map[string]string{"day": "YYYY-MM-DD", "month": "YYYY-MM", "year": "YYYY"}

func money(name string) Column { return Column{Name: name, Kind: KindMoney} }
func count(name string) Column { return Column{Name: name, Kind: KindInt} }
func text(name string) Column  { return Column{Name: name, Kind: KindText} }

// revenueQuery: period, the group_by dimensions, then the sums.
func revenueQuery(pk park, q Params) query {
	cols := []Column{text(q.Period)}
	sel := []string{fmt.Sprintf("to_char(date_trunc('%s', r.day), '%s')", q.Period, periodFormat[q.Period])}
	for _, d := range q.GroupBy {
		cols = append(cols, text(d))
		sel = append(sel, dimSQL[d])
	}
	groups := make([]string, len(sel))
	for i := range sel {
		groups[i] = strconv.Itoa(i + 1)
	}
	cols = append(cols, count("tickets_sold"), count("tickets_refunded"), money("gross_minor"), money("refunds_minor"),
		money("refund_fees_minor"), money("net_minor"))
	sql := `SELECT ` + strings.Join(sel, ", ") + `,
			sum(r.tickets_sold)::bigint, sum(r.tickets_refunded)::bigint, sum(r.gross_minor)::bigint, sum(r.refunds_minor)::bigint,
			sum(r.fees_minor)::bigint, (sum(r.gross_minor) - sum(r.refunds_minor))::bigint
		FROM revenue_daily r
		LEFT JOIN sales_points sp ON sp.id = nullif(r.sales_point_id, '')
		LEFT JOIN business_units bu ON bu.id = sp.business_unit_id
		LEFT JOIN users u ON u.id = nullif(r.user_id, 0)
		LEFT JOIN distributors d ON d.id = nullif(r.distributor_id, 0)
		WHERE r.park_id = $1 AND r.day >= $2 AND r.day < $3
		GROUP BY ` + strings.Join(groups, ", ") + ` ORDER BY ` + strings.Join(groups, ", ")
	return query{cols: cols, run: func(ctx context.Context, tx pgx.Tx, emit func([]any) error) error {
		return scanRows(ctx, tx, cols, emit, sql, pk.id, dateOf(pk.from), dateOf(pk.to))
	}}
}

// dateOf is t's calendar date as a date value (pgx sends a time.Time at
// UTC midnight as that date).
func dateOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// soldEnteredQuery: per visit date and product, tickets sold (issued),
// entered (admitted in at least once), refunded, and unused (neither);
// sold = entered + refunded + unused.
func soldEnteredQuery(pk park) query {
	cols := []Column{text("visit_date"), text("product"), count("tickets_sold"), count("persons_sold"),
		count("tickets_entered"), count("tickets_refunded"), count("tickets_unused")}
	const sql = `SELECT to_char(t.visit_date, 'YYYY-MM-DD'), t.product_id, count(*),
			sum(CASE WHEN t.kind = 'group' AND t.entries > 0 THEN t.entries ELSE 1 END)::bigint,
			count(*) FILTER (WHERE e.entered), count(*) FILTER (WHERE t.status = 'refunded'),
			count(*) FILTER (WHERE e.entered IS NULL AND t.status <> 'refunded')
		FROM tickets t
		LEFT JOIN LATERAL (SELECT true AS entered FROM entry_events ev
			WHERE ev.ticket_id = t.id AND ev.result = 'admit' AND ev.direction = 'in' LIMIT 1) e ON true
		WHERE t.park_id = $1 AND t.visit_date >= $2 AND t.visit_date < $3
		GROUP BY 1, 2 ORDER BY 1, 2`
	return query{cols: cols, run: func(ctx context.Context, tx pgx.Tx, emit func([]any) error) error {
		return scanRows(ctx, tx, cols, emit, sql, pk.id, dateOf(pk.from), dateOf(pk.to))
	}}
}

// flowQuery: admitted scans per hour (park time) and zone, in and out,
// scans and persons.
func flowQuery(pk park) query {
	cols := []Column{text("hour"), text("zone"), count("entries"), count("persons_in"), count("exits"), count("persons_out")}
	const sql = `SELECT to_char(date_trunc('hour', e.at AT TIME ZONE $4), 'YYYY-MM-DD HH24:00'), e.zone,
			count(*) FILTER (WHERE e.direction = 'in'), coalesce(sum(e.persons) FILTER (WHERE e.direction = 'in'), 0)::bigint,
			count(*) FILTER (WHERE e.direction = 'out'), coalesce(sum(e.persons) FILTER (WHERE e.direction = 'out'), 0)::bigint
		FROM entry_events e JOIN tickets t ON t.id = e.ticket_id
		WHERE t.park_id = $1 AND e.at >= $2 AND e.at < $3 AND e.result = 'admit'
		GROUP BY 1, 2 ORDER BY 1, 2`
	return query{cols: cols, run: func(ctx context.Context, tx pgx.Tx, emit func([]any) error) error {
		return scanRows(ctx, tx, cols, emit, sql, pk.id, pk.from, pk.to, pk.tz)
	}}
}

// groupQuery: per distributor, its orders paid in the period (park days),
// their tickets and persons, the amount, and the refunds of those orders
// so far.
func groupQuery(pk park) query {
	cols := []Column{text("distributor"), count("orders"), count("tickets"), count("persons"), money("gross_minor"),
		count("tickets_refunded"), money("refunds_minor"), money("refund_fees_minor"), money("net_minor")}
	const sql = `SELECT d.name, count(*), coalesce(sum(t.n), 0)::bigint, coalesce(sum(t.persons), 0)::bigint,
			sum(o.total_minor)::bigint, coalesce(sum(f.n), 0)::bigint, coalesce(sum(f.amount), 0)::bigint,
			coalesce(sum(f.fees), 0)::bigint, (sum(o.total_minor) - coalesce(sum(f.amount), 0))::bigint
		FROM orders o JOIN distributors d ON d.id = o.distributor_id
		LEFT JOIN LATERAL (SELECT count(*) AS n, sum(CASE WHEN kind = 'group' AND entries > 0 THEN entries ELSE 1 END) AS persons
			FROM tickets WHERE order_id = o.id) t ON true
		LEFT JOIN LATERAL (SELECT count(*) AS n, sum(amount_minor) AS amount, sum(fee_minor) AS fees
			FROM refunds WHERE order_id = o.id AND status = 'refunded') f ON true
		WHERE o.park_id = $1 AND o.distributor_id IS NOT NULL AND o.paid_at >= $2 AND o.paid_at < $3
		GROUP BY d.id, d.name ORDER BY d.name, d.id`
	return query{cols: cols, run: func(ctx context.Context, tx pgx.Tx, emit func([]any) error) error {
		return scanRows(ctx, tx, cols, emit, sql, pk.id, pk.from, pk.to)
	}}
}

// maxShifts bounds the shifts one report lists (MaxDays of many cashiers).
const maxShifts = 1 << 20

// shiftsQuery: the shifts opened in the period, one row each, with their
// reports (frozen at close, live while open) and whether they are overdue.
func (a *API) shiftsQuery(p web.Principal, pk park) query {
	cols := []Column{text("shift_id"), text("cashier"), text("sales_point"), text("status"), text("opened_at"), text("closed_at"),
		text("overdue"), money("opening_float_minor"), money("expected_minor"), money("counted_minor"), money("difference_minor"),
		count("tickets_sold"), count("tickets_refunded"), count("tickets_reprinted"), count("orders_voided")}
	return query{cols: cols, run: func(ctx context.Context, _ pgx.Tx, emit func([]any) error) error {
		list, err := a.cfg.Shifts.List(ctx, p, shift.ListFilter{ParkID: pk.id, From: pk.from, To: pk.to, Limit: maxShifts})
		if err != nil {
			return err
		}
		for _, s := range list {
			closed, overdue := "", "no"
			if s.ClosedAt != nil {
				closed = s.ClosedAt.In(pk.loc).Format(time.DateTime)
			}
			if s.Overdue {
				overdue = "yes"
			}
			var counted, diff int64
			if s.Report.CountedMinor != nil {
				counted, diff = *s.Report.CountedMinor, *s.Report.DifferenceMinor
			}
			r := s.Report
			if err := emit([]any{strconv.FormatInt(s.ID, 10), s.Username, s.SalesPointID, s.Status, s.OpenedAt.In(pk.loc).Format(time.DateTime), closed,
				overdue, s.OpeningFloatMinor, r.ExpectedMinor, counted, diff, r.TicketsSold,
				r.TicketsRefunded, r.TicketsReprinted, r.OrdersVoided}); err != nil {
				return err
			}
		}
		return nil
	}}
}
