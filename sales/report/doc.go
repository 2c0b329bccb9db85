// Package report reads the sales facts back out for finance: revenue by
// day, month or year in any grouping, tickets sold against entered, the
// visitor flow by hour and zone, group settlement per distributor, and the
// cashier shifts of a period; each as JSON, CSV or XLSX with the same
// numbers (money in minor units, int64, never floats; days and hours in the
// park's time zone).
//
// Reports never lock sales rows: each runs in a READ ONLY transaction of
// plain SELECTs, under a statement timeout, and streams its rows from the
// query to the writer (CSV, JSON, the XLSX stream writer), so a big export
// is not built in memory. The totals are summed from the same rows as they
// stream, so every grouping sums to its total by construction.
//
// Revenue reads the summary rows of package revenue (revenue_daily, kept
// in the sale's and the refund's own transaction), so a month over a
// million orders reads a few thousand rows. gross is the price of the
// tickets sold, refunds what went back, refund_fees the fees kept, net =
// gross - refunds. A sale counts on the park day it was paid, a refund on
// the day it was refunded, under the dimensions of the sale it refunds.
package report
