package report_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/admitpark/admit/sales/report"
	"github.com/admitpark/admit/sales/web"
)

// FuzzCheckParams: any query is either refused with a 400 problem or
// yields a period of whole park days, at least one and at most the limit,
// and a known format, period and grouping.
func FuzzCheckParams(f *testing.F) {
	f.Add("revenue", "2026-11-01", "2026-11-30", "month", "product,cashier", "csv")
	f.Add("flow", "2026-03-08", "", "", "", "")
	f.Add("revenue", "2026-11-01", "2026-10-01", "day", "product,product", "xlsx")
	f.Add("shifts", "", "", "", "", "pdf")
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 11, 16, 12, 0, 0, 0, loc)
	f.Fuzz(func(t *testing.T, name, from, to, period, groupBy, format string) {
		q := report.Params{Park: "p", From: from, To: to, Period: period, Format: format}
		if groupBy != "" {
			q.GroupBy = strings.Split(groupBy, ",")
		}
		start, end, err := report.CheckParams(name, &q, loc, now, 400)
		if err != nil {
			var p *web.Problem
			if !errors.As(err, &p) || p.Status != 400 || !errors.Is(err, report.ErrInvalid) {
				t.Fatalf("refusal %v is not a 400 problem", err)
			}
			return
		}
		if report.ContentType[q.Format] == "" {
			t.Fatalf("accepted format %q", q.Format)
		}
		if !end.After(start) || end.Sub(start) > 401*24*time.Hour {
			t.Fatalf("period %v .. %v", start, end)
		}
		if start.Hour() != 0 || end.Hour() != 0 || start.Location() != loc {
			t.Fatalf("period %v .. %v is not whole days in the park's time", start, end)
		}
		if name == report.Revenue && q.Period != "day" && q.Period != "month" && q.Period != "year" {
			t.Fatalf("accepted period %q", q.Period)
		}
		for _, d := range q.GroupBy {
			if name != report.Revenue {
				t.Fatalf("grouping %v accepted for %s", q.GroupBy, name)
			}
			if !strings.Contains(strings.Join(report.Dimensions, " "), d) || d == "" {
				t.Fatalf("accepted dimension %q", d)
			}
		}
	})
}
