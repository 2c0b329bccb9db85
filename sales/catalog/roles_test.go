package catalog

import (
	"net/http"
	"testing"
)

func TestCashierCannotChangePrices(t *testing.T) {
	f := newFixture(t)
	f.setup()
	f.product("adult", nil)

	for _, tok := range []string{tokCashier, tokDist, tokFinance} {
		r := f.call("PUT", "/v1/products/adult/prices/2026-05-01", tok, map[string]any{"price_minor": 1})
		if r.status != http.StatusForbidden {
			t.Fatalf("%s sets a price: status %d, want 403: %s", tok, r.status, r.body)
		}
		r = f.call("PUT", "/v1/products/adult", tok, map[string]any{"price_minor": 1})
		if r.status != http.StatusForbidden {
			t.Fatalf("%s changes the base price: status %d, want 403: %s", tok, r.status, r.body)
		}
	}
	price, err := PriceFor(f.ctx, f.pool, "adult", f.clock.Now())
	if err != nil || price != 10000 {
		t.Fatalf("price = %d, %v; want the unchanged 10000", price, err)
	}
	if n := f.count(`SELECT count(*) FROM price_overrides`); n != 0 {
		t.Fatalf("%d price overrides after refused calls", n)
	}
	if n := f.count(`SELECT count(*) FROM audit_log WHERE action LIKE 'price.%' OR action = 'product.update'`); n != 0 {
		t.Fatalf("%d audit entries for refused calls", n)
	}
	// The cashier can still read the product, its prices and availability.
	for _, path := range []string{"/v1/products/adult", "/v1/products", "/v1/products/adult/prices", "/v1/availability?product=adult&date=2026-05-01"} {
		if r := f.call("GET", path, tokCashier, nil); r.status != http.StatusOK {
			t.Errorf("cashier GET %s: status %d: %s", path, r.status, r.body)
		}
	}
}

func TestRoles(t *testing.T) {
	f := newFixture(t)
	f.setup()
	f.product("adult", nil)
	f.product("show", map[string]any{"has_slots": true})

	type call struct{ method, path string }
	writes := map[call]any{
		{"POST", "/v1/parks"}:                              map[string]any{"id": "lake", "name": "Lake", "time_zone": "UTC"},
		{"PUT", "/v1/parks/sea"}:                           map[string]any{"name": "X"},
		{"POST", "/v1/parks/sea/zones"}:                    map[string]any{"id": "z", "name": "Z"},
		{"POST", "/v1/parks/sea/gates"}:                    map[string]any{"id": "g", "zone": "main"},
		{"POST", "/v1/parks/sea/business-units"}:           map[string]any{"name": "B"},
		{"POST", "/v1/sales-points"}:                       map[string]any{"id": "W9", "park_id": "sea", "name": "W", "kind": "window"},
		{"POST", "/v1/products"}:                           map[string]any{"id": "kid", "park_id": "sea", "name": "Kid", "kind": "single", "price_minor": 1},
		{"PUT", "/v1/products/adult"}:                      map[string]any{"name": "X"},
		{"PUT", "/v1/products/adult/prices/2026-05-01"}:    map[string]any{"price_minor": 1},
		{"DELETE", "/v1/products/adult/prices/2026-05-01"}: nil,
		{"POST", "/v1/products/show/slots"}:                map[string]any{"start": "10:00", "end": "11:00", "capacity": 1},
		{"POST", "/v1/products/adult/stop-sales"}:          nil,
		{"POST", "/v1/products/adult/resume-sales"}:        nil,
	}
	for c, body := range writes {
		for _, tok := range []string{tokFinance, tokCashier, tokDist, tokGate} {
			if r := f.call(c.method, c.path, tok, body); r.status != http.StatusForbidden {
				t.Errorf("%s %s as %s: status %d, want 403: %s", c.method, c.path, tok, r.status, r.body)
			}
		}
		if r := f.call(c.method, c.path, "", body); r.status != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: status %d, want 401", c.method, c.path, r.status)
		}
		if r := f.call(c.method, c.path, "stolen", body); r.status != http.StatusUnauthorized {
			t.Errorf("%s %s with a bad token: status %d, want 401", c.method, c.path, r.status)
		}
	}
	// Setup wrote 5 entries (a park, 2 zones, 2 products); refusals none.
	if n := f.count(`SELECT count(*) FROM audit_log`); n != 5 {
		t.Errorf("%d audit entries, want 5", n)
	}

	reads := map[string][]string{ // path: tokens allowed; all others get 403
		"/v1/parks":                                      {tokAdmin, tokFinance, tokCashier, tokDist, tokGate},
		"/v1/parks/sea":                                  {tokAdmin, tokFinance, tokCashier, tokDist, tokGate},
		"/v1/parks/sea/zones":                            {tokAdmin, tokFinance, tokCashier, tokDist, tokGate},
		"/v1/parks/sea/gates":                            {tokAdmin, tokFinance, tokGate},
		"/v1/parks/sea/business-units":                   {tokAdmin, tokFinance},
		"/v1/sales-points":                               {tokAdmin, tokFinance},
		"/v1/products":                                   {tokAdmin, tokFinance, tokCashier, tokDist},
		"/v1/products/adult":                             {tokAdmin, tokFinance, tokCashier, tokDist},
		"/v1/products/adult/prices":                      {tokAdmin, tokFinance, tokCashier, tokDist},
		"/v1/products/show/slots":                        {tokAdmin, tokFinance, tokCashier, tokDist},
		"/v1/availability?product=adult&date=2026-05-01": {tokAdmin, tokFinance, tokCashier, tokDist},
	}
	for path, allowed := range reads {
		for _, tok := range []string{tokAdmin, tokFinance, tokCashier, tokDist, tokGate} {
			want := http.StatusForbidden
			for _, a := range allowed {
				if a == tok {
					want = http.StatusOK
				}
			}
			if r := f.call("GET", path, tok, nil); r.status != want {
				t.Errorf("GET %s as %s: status %d, want %d: %s", path, tok, r.status, want, r.body)
			}
		}
	}
}
