package catalog

import (
	"net/http"
	"strconv"
	"time"
)

// RefundFee is what a refund of a ticket priced priceMinor keeps back: the
// product's fixed fee plus its percent of the price (rounded half up),
// never more than the price and never negative.
func RefundFee(p Product, priceMinor int64) int64 {
	if priceMinor <= 0 {
		return 0
	}
	pct := int64(min(max(p.RefundFeePercent, 0), 100))
	// price*pct/100 without overflow: split the price into hundreds.
	fee := (priceMinor/100)*pct + ((priceMinor%100)*pct+50)/100
	fixed := max(p.RefundFeeMinor, 0)
	if fixed >= priceMinor-fee {
		return priceMinor
	}
	return fee + fixed
}

// RefundDeadline is the last moment a ticket for visitDate (its year, month
// and day, as a park day) may be refunded: refund_until_hours before the
// visit day starts at 00:00 in the park's zone (after it, when negative).
func RefundDeadline(p Product, park Park, visitDate time.Time) time.Time {
	return park.Day(visitDate).Add(-time.Duration(p.RefundUntilHours) * time.Hour)
}

// RefundAllowed tells whether a ticket of p for visitDate may be refunded
// at now: nil, or a 409 web.Problem (wrapping ErrNotRefundable or
// ErrRefundWindowClosed) saying why not. A refund is allowed while now is
// before RefundDeadline.
func RefundAllowed(p Product, park Park, visitDate time.Time, now time.Time) error {
	if !p.Refundable {
		return problem(ErrNotRefundable, http.StatusConflict, "not_refundable", "product %q is not refundable", p.ID)
	}
	deadline := RefundDeadline(p, park, visitDate)
	if now.Before(deadline) {
		return nil
	}
	var rule string
	switch h := p.RefundUntilHours; {
	case h > 0:
		rule = formatHours(h) + " before the visit day starts"
	case h < 0:
		rule = formatHours(-h) + " after the visit day starts"
	default:
		rule = "the start of the visit day"
	}
	return problem(ErrRefundWindowClosed, http.StatusConflict, "refund_window_closed",
		"refunds of product %q for %s were allowed until %s (%s, park time %s)",
		p.ID, visitDate.Format(time.DateOnly), deadline.In(park.Location()).Format("2006-01-02 15:04 MST"), rule, park.TimeZone)
}

func formatHours(h int) string {
	if h == 1 {
		return "1 hour"
	}
	return strconv.Itoa(h) + " hours"
}
