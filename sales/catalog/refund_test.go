package catalog

import (
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRefundFee(t *testing.T) {
	for _, c := range []struct {
		fixed int64
		pct   int
		price int64
		want  int64
	}{
		{0, 0, 10000, 0},
		{500, 0, 10000, 500},
		{0, 10, 10000, 1000},
		{500, 10, 10000, 1500},
		{0, 10, 15, 2},           // 1.5 rounds half up
		{0, 10, 14, 1},           // 1.4 rounds down
		{9000, 20, 10000, 10000}, // capped at the price
		{20000, 0, 10000, 10000},
		{0, 100, 10000, 10000},
		{500, 10, 0, 0},
		{500, 10, -5, 0},
		{0, 50, math.MaxInt64, math.MaxInt64/2 + 1}, // no overflow
		{math.MaxInt64, 50, math.MaxInt64, math.MaxInt64},
	} {
		p := Product{RefundFeeMinor: c.fixed, RefundFeePercent: c.pct}
		if got := RefundFee(p, c.price); got != c.want {
			t.Errorf("RefundFee(fixed %d, %d%%, price %d) = %d, want %d", c.fixed, c.pct, c.price, got, c.want)
		}
	}
}

func TestRefundAllowed(t *testing.T) {
	loc, err := loadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	park := Park{ID: "sea", TimeZone: "Asia/Shanghai", loc: loc}
	visit := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC) // only the date counts
	dayStart := time.Date(2026, 5, 1, 0, 0, 0, 0, loc)   // 2026-04-30 16:00 UTC

	p := Product{ID: "adult", Refundable: true, RefundUntilHours: 24}
	if err := RefundAllowed(p, park, visit, dayStart.Add(-24*time.Hour-time.Second)); err != nil {
		t.Errorf("one second before the deadline: %v", err)
	}
	err = RefundAllowed(p, park, visit, dayStart.Add(-24*time.Hour))
	if !errors.Is(err, ErrRefundWindowClosed) || !isProblem(err, http.StatusConflict, "refund_window_closed") {
		t.Fatalf("at the deadline: %v, want refund_window_closed", err)
	}
	for _, want := range []string{"2026-04-30 00:00 CST", "24 hours before", "Asia/Shanghai"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not say %q", err, want)
		}
	}

	// 0: until the visit day starts in the park's zone, not in UTC.
	p.RefundUntilHours = 0
	if err := RefundAllowed(p, park, visit, time.Date(2026, 4, 30, 15, 59, 0, 0, time.UTC)); err != nil {
		t.Errorf("23:59 the evening before (park time): %v", err)
	}
	if err := RefundAllowed(p, park, visit, time.Date(2026, 4, 30, 16, 0, 0, 0, time.UTC)); !errors.Is(err, ErrRefundWindowClosed) {
		t.Errorf("00:00 park time on the day: %v, want closed", err)
	}
	// Negative: until hours after the day starts.
	p.RefundUntilHours = -12
	if err := RefundAllowed(p, park, visit, dayStart.Add(11*time.Hour)); err != nil {
		t.Errorf("11:00 on the day with -12: %v", err)
	}
	err = RefundAllowed(p, park, visit, dayStart.Add(12*time.Hour))
	if !errors.Is(err, ErrRefundWindowClosed) || !strings.Contains(err.Error(), "12 hours after") {
		t.Errorf("12:00 on the day with -12: %v", err)
	}

	p.Refundable = false
	err = RefundAllowed(p, park, visit, dayStart.Add(-100*time.Hour))
	if !errors.Is(err, ErrNotRefundable) || !isProblem(err, http.StatusConflict, "not_refundable") {
		t.Errorf("not refundable: %v", err)
	}

	// A zone with DST: the day starts at local midnight, whatever the offset.
	ny, _ := loadLocation("America/New_York")
	nyPark := Park{ID: "ny", TimeZone: "America/New_York", loc: ny}
	p = Product{ID: "x", Refundable: true, RefundUntilHours: 24}
	deadline := RefundDeadline(p, nyPark, time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)) // DST began 2026-03-08 02:00
	if want := time.Date(2026, 3, 7, 23, 0, 0, 0, ny); !deadline.Equal(want) {         // 24 real hours, across the 23-hour day
		t.Errorf("deadline %s, want %s (24 h before 2026-03-09 00:00 EDT)", deadline, want)
	}
}

func TestParkLocationWithoutLoad(t *testing.T) {
	p := Park{TimeZone: "Europe/Berlin"}
	if p.Location().String() != "Europe/Berlin" {
		t.Errorf("Location = %v", p.Location())
	}
	if (Park{}).Location() != time.UTC {
		t.Errorf("an empty zone should fall back to UTC")
	}
}
