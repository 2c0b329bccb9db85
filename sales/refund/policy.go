package refund

import (
	"net/http"
	"time"
)

// Policy is a product's refund rules (products.refundable,
// refund_until_hours, refund_fee_minor, refund_fee_percent).
type Policy struct {
	Refundable bool
	UntilHours int   // refunds allowed until this many hours before the visit day starts; negative: after
	FeeMinor   int64 // fixed part of the fee
	FeePercent int   // 0-100, of the ticket's price
}

// Fee is FeeMinor plus FeePercent % of price (rounded down, in the buyer's
// favour), capped at price.
func (p Policy) Fee(price int64) int64 {
	if price <= 0 {
		return 0
	}
	fee := p.FeeMinor + price/100*int64(p.FeePercent) + price%100*int64(p.FeePercent)/100
	return min(max(fee, 0), price)
}

// Deadline is the last moment a ticket for visitDate (a calendar day; only
// its year, month and day count) may be refunded: midnight of that day in
// the park's time zone, minus UntilHours.
func (p Policy) Deadline(visitDate time.Time, loc *time.Location) time.Time {
	y, m, d := visitDate.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc).Add(-time.Duration(p.UntilHours) * time.Hour)
}

// Check says whether a ticket for visitDate may be refunded at now: nil,
// or an ErrNotRefundable / ErrWindowClosed problem (409).
func (p Policy) Check(now, visitDate time.Time, loc *time.Location, what string) error {
	if !p.Refundable {
		return problem(ErrNotRefundable, http.StatusConflict, "not_refundable", "%s: the product is not refundable", what)
	}
	if dl := p.Deadline(visitDate, loc); !now.Before(dl) {
		return problem(ErrWindowClosed, http.StatusConflict, "refund_window_closed",
			"%s: refunds for %s closed at %s (%d hours before the visit day starts)",
			what, visitDate.Format(time.DateOnly), dl.In(loc).Format(time.RFC3339), p.UntilHours)
	}
	return nil
}
