package audit

import (
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/admitpark/admit/sales/web"
)

// FuzzParseFilter: any query string is either refused with a 400 problem
// or gives a filter within the limits.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"", "from=2026-11-01&to=2026-11-02&user=fin&action=refund.*", "user=12&entity=shift&entity_id=3&before=99&limit=10",
		"limit=0", "from=x", "action=%00", "user=a&user=b", "to=2026-11-01T00:00:00Z&from=2026-11-02"} {
		f.Add(s)
	}
	a := &API{cfg: DefaultConfig()}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		fl, err := a.ParseFilter(q)
		if err != nil {
			var p *web.Problem
			if !errors.As(err, &p) || p.Status != http.StatusBadRequest {
				t.Fatalf("refusal %v is not a 400 problem", err)
			}
			return
		}
		if fl.Limit < 0 || fl.Limit > a.cfg.MaxLimit || fl.Before < 0 || fl.UserID < 0 {
			t.Fatalf("filter out of bounds: %+v", fl)
		}
		if !fl.From.IsZero() && !fl.To.IsZero() && !fl.To.After(fl.From) {
			t.Fatalf("empty time range accepted: %+v", fl)
		}
	})
}
