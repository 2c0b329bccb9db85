package catalog

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/admitpark/admit/sync/outbox"
)

func TestParkCreateGetUpdate(t *testing.T) {
	f := newFixture(t)
	f.setup()

	var p Park
	f.must("GET", "/v1/parks/sea", nil, http.StatusOK).decode(t, &p)
	if p.Name != "Sea World" || p.TimeZone != "Asia/Shanghai" || p.Currency != "CNY" || p.OpensAt != "09:00" ||
		p.ClosesAt != "18:00" || p.DailyCapacity == nil || *p.DailyCapacity != 1000 {
		t.Fatalf("park = %+v", p)
	}
	got, err := GetPark(f.ctx, f.pool, "sea")
	if err != nil {
		t.Fatal(err)
	}
	if got.Location().String() != "Asia/Shanghai" {
		t.Errorf("Location = %v", got.Location())
	}
	if d := got.Today(time.Date(2026, 4, 20, 17, 0, 0, 0, time.UTC)); d.Format(time.DateOnly) != "2026-04-21" {
		t.Errorf("17:00 UTC is %s in Shanghai, want 2026-04-21", d)
	}

	// PUT changes only what it names.
	f.must("PUT", "/v1/parks/sea", map[string]any{"name": "Sea World East", "daily_capacity": nil}, http.StatusOK).decode(t, &p)
	if p.Name != "Sea World East" || p.DailyCapacity != nil || p.TimeZone != "Asia/Shanghai" || p.OpensAt != "09:00" {
		t.Fatalf("after PUT: %+v", p)
	}
	// capacity_warn (800) is kept; with a capacity under it, refused.
	f.wantProblem(f.call("PUT", "/v1/parks/sea", tokAdmin, map[string]any{"daily_capacity": 500}), http.StatusBadRequest, "bad_capacity_warn")
	f.wantProblem(f.call("PUT", "/v1/parks/sea", tokAdmin, map[string]any{"id": "other"}), http.StatusBadRequest, "id_immutable")
	f.wantProblem(f.call("PUT", "/v1/parks/nope", tokAdmin, map[string]any{"name": "x"}), http.StatusNotFound, "park_not_found")
	f.wantProblem(f.call("GET", "/v1/parks/nope", tokAdmin, nil), http.StatusNotFound, "park_not_found")
	if r := f.call("PUT", "/v1/parks/sea", tokAdmin, map[string]any{"colour": "blue"}); r.status != http.StatusBadRequest {
		t.Errorf("unknown field: status %d: %s", r.status, r.body)
	}

	f.wantProblem(f.call("POST", "/v1/parks", tokAdmin, map[string]any{"id": "sea", "name": "Again", "time_zone": "UTC"}),
		http.StatusConflict, "park_exists")

	var list struct{ Parks []Park }
	f.must("GET", "/v1/parks", nil, http.StatusOK).decode(t, &list)
	if len(list.Parks) != 1 || list.Parks[0].ID != "sea" {
		t.Errorf("list = %+v", list)
	}
	if n := f.count(`SELECT count(*) FROM audit_log WHERE action IN ('park.create', 'park.update') AND object_id = 'sea'`); n != 2 {
		t.Errorf("%d park audit entries, want 2 (refusals write none)", n)
	}
	if _, err := GetPark(f.ctx, f.pool, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetPark(nope) = %v, want ErrNotFound", err)
	}
}

func TestParkValidation(t *testing.T) {
	f := newFixture(t)
	base := func(k string, v any) map[string]any {
		m := map[string]any{"id": "p", "name": "P", "time_zone": "Europe/Berlin", "currency": "EUR"}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, c := range []struct {
		body map[string]any
		code string
	}{
		{base("time_zone", "Mars/Olympus"), "bad_time_zone"},
		{base("time_zone", nil), "bad_time_zone"},
		{base("time_zone", "Local"), "bad_time_zone"},
		{base("currency", "EURO"), "bad_currency"},
		{base("currency", "eu"), "bad_currency"},
		{base("id", "Has Space"), "bad_id"},
		{base("name", " "), "bad_name"},
		{base("daily_capacity", -1), "bad_daily_capacity"},
		{base("opens_at", "9am"), "bad_time"},
		{base("opens_at", "10:00"), "bad_hours"}, // closes_at missing
	} {
		f.wantProblem(f.call("POST", "/v1/parks", tokAdmin, c.body), http.StatusBadRequest, c.code)
	}
	b := base("opens_at", "18:00")
	b["closes_at"] = "09:00"
	f.wantProblem(f.call("POST", "/v1/parks", tokAdmin, b), http.StatusBadRequest, "bad_hours")
	if n := f.count(`SELECT count(*) FROM parks`); n != 0 {
		t.Fatalf("%d parks made from bad input", n)
	}
	var p Park
	f.must("POST", "/v1/parks", base("currency", nil), http.StatusCreated).decode(t, &p)
	if p.Currency != "CNY" {
		t.Errorf("default currency %q, want CNY", p.Currency)
	}
}

// outboxRows returns the configure payloads in seq order.
func (f *fixture) outboxRows() []outbox.Configure {
	f.t.Helper()
	rows, err := f.pool.Query(f.ctx, `SELECT kind, payload FROM outbox ORDER BY seq`)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []outbox.Configure
	for rows.Next() {
		var kind string
		var raw []byte
		if err := rows.Scan(&kind, &raw); err != nil {
			f.t.Fatal(err)
		}
		if kind != "configure" {
			f.t.Fatalf("outbox kind %q", kind)
		}
		var p outbox.Configure
		dec := json.NewDecoder(bytesReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			f.t.Fatalf("payload %s: %v", raw, err)
		}
		out = append(out, p)
	}
	return out
}

func TestZonesAndGatesReachTheOutbox(t *testing.T) {
	f := newFixture(t)
	f.setup() // the park's time zone, then two zones: three outbox rows
	all := f.outboxRows()
	if len(all) == 0 || all[0].TimeZone != "Asia/Shanghai" || all[0].Zones != nil {
		t.Fatalf("first outbox row should carry the park's time zone: %+v", all)
	}
	// The rest of the rows are zones and gates.
	zoneGateRows := func() []outbox.Configure { return f.outboxRows()[1:] }
	rows := zoneGateRows()
	// Each zone goes with its mask bit, numbered in creation order.
	zoneIs := func(z outbox.Zone, want outbox.Zone, bit int) bool {
		return z.Bit != nil && *z.Bit == bit && z.ID == want.ID && z.Cap == want.Cap && z.Warn == want.Warn
	}
	if len(rows) != 2 || len(rows[0].Zones) != 1 || !zoneIs(rows[0].Zones[0], outbox.Zone{ID: "main", Cap: 500, Warn: 400}, 0) ||
		len(rows[1].Zones) != 1 || rows[1].Zones[0].Bit == nil || *rows[1].Zones[0].Bit != 1 {
		t.Fatalf("outbox after two zones: %+v", rows)
	}

	// Changing a zone: 200, a new row with the new cap.
	var z Zone
	f.must("POST", "/v1/parks/sea/zones", map[string]any{"id": "main", "name": "Main", "cap": 600, "warn": 500}, http.StatusOK).decode(t, &z)
	if z.Cap != 600 {
		t.Fatalf("zone = %+v", z)
	}
	rows = zoneGateRows()
	if len(rows) != 3 || !zoneIs(rows[2].Zones[0], outbox.Zone{ID: "main", Cap: 600, Warn: 500}, 0) || rows[2].Gates != nil {
		t.Fatalf("outbox after zone change: %+v", rows)
	}

	// Refused changes write nothing.
	f.wantProblem(f.call("POST", "/v1/parks/sea/zones", tokAdmin, map[string]any{"id": "x", "name": "X", "cap": 10, "warn": 20}),
		http.StatusBadRequest, "bad_warn")
	p := f.wantProblem(f.call("POST", "/v1/parks/sea/gates", tokAdmin, map[string]any{"id": "north-1", "zone": "nowhere"}),
		http.StatusBadRequest, "unknown_zone")
	t.Logf("unknown zone: %s", p.Error)
	f.wantProblem(f.call("POST", "/v1/parks/sea/gates", tokAdmin, map[string]any{"id": "north-1", "zone": "main", "direction": "up"}),
		http.StatusBadRequest, "bad_direction")
	f.wantProblem(f.call("POST", "/v1/parks/nope/zones", tokAdmin, map[string]any{"id": "a", "name": "A"}),
		http.StatusNotFound, "park_not_found")
	if n := len(zoneGateRows()); n != 3 {
		t.Fatalf("%d outbox rows after refusals, want 3", n)
	}

	var g Gate
	f.must("POST", "/v1/parks/sea/gates", map[string]any{"id": "north-1", "zone": "main"}, http.StatusCreated).decode(t, &g)
	if g.Direction != DirBoth || g.Zone != "main" {
		t.Fatalf("gate = %+v", g)
	}
	f.must("POST", "/v1/parks/sea/gates", map[string]any{"id": "north-1", "zone": "aqua", "direction": "in"}, http.StatusOK)
	rows = zoneGateRows()
	if len(rows) != 5 || rows[3].Gates[0] != (outbox.Gate{ID: "north-1", Zone: "main", Direction: "both"}) ||
		rows[4].Gates[0] != (outbox.Gate{ID: "north-1", Zone: "aqua", Direction: "in"}) || rows[4].Zones != nil {
		t.Fatalf("outbox after gates: %+v", rows)
	}

	var gates struct{ Gates []Gate }
	f.must("GET", "/v1/parks/sea/gates", nil, http.StatusOK).decode(t, &gates)
	if len(gates.Gates) != 1 || gates.Gates[0].Zone != "aqua" {
		t.Fatalf("gates = %+v", gates)
	}
	var zones struct{ Zones []Zone }
	f.must("GET", "/v1/parks/sea/zones", nil, http.StatusOK).decode(t, &zones)
	if len(zones.Zones) != 2 {
		t.Fatalf("zones = %+v", zones)
	}
	for action, want := range map[string]int{"zone.create": 2, "zone.update": 1, "gate.create": 1, "gate.update": 1} {
		if n := f.count(`SELECT count(*) FROM audit_log WHERE action = $1`, action); n != want {
			t.Errorf("%d %s audit entries, want %d", n, action, want)
		}
	}
}

func TestSalesPointsAndBusinessUnits(t *testing.T) {
	f := newFixture(t)
	f.setup()
	var bu BusinessUnit
	f.must("POST", "/v1/parks/sea/business-units", map[string]any{"name": "Tickets"}, http.StatusCreated).decode(t, &bu)
	f.wantProblem(f.call("POST", "/v1/parks/sea/business-units", tokAdmin, map[string]any{"name": "Tickets"}),
		http.StatusConflict, "business_unit_exists")

	var sp SalesPoint
	f.must("POST", "/v1/sales-points", map[string]any{"id": "W1", "park_id": "sea", "business_unit_id": bu.ID,
		"name": "Window 1", "kind": "window"}, http.StatusCreated).decode(t, &sp)
	if !sp.Active || sp.BusinessUnitID == nil || *sp.BusinessUnitID != bu.ID {
		t.Fatalf("sales point = %+v", sp)
	}
	f.wantProblem(f.call("POST", "/v1/sales-points", tokAdmin, map[string]any{"id": "W2", "park_id": "sea", "name": "W", "kind": "booth"}),
		http.StatusBadRequest, "bad_kind")
	f.wantProblem(f.call("POST", "/v1/sales-points", tokAdmin, map[string]any{"id": "W2", "park_id": "sea", "name": "W", "kind": "kiosk",
		"business_unit_id": bu.ID + 99}), http.StatusBadRequest, "unknown_business_unit")
	f.wantProblem(f.call("POST", "/v1/sales-points", tokAdmin, map[string]any{"id": "W2", "park_id": "lake", "name": "W", "kind": "kiosk"}),
		http.StatusBadRequest, "unknown_park")
	f.wantProblem(f.call("POST", "/v1/sales-points", tokAdmin, map[string]any{"id": "W1", "park_id": "sea", "name": "W", "kind": "kiosk"}),
		http.StatusConflict, "sales_point_exists")
	f.must("POST", "/v1/sales-points", map[string]any{"id": "shop", "park_id": "sea", "name": "Web shop", "kind": "shop", "active": false}, http.StatusCreated)

	var list struct {
		SalesPoints []SalesPoint `json:"sales_points"`
	}
	f.must("GET", "/v1/sales-points?park=sea", nil, http.StatusOK).decode(t, &list)
	if len(list.SalesPoints) != 2 || list.SalesPoints[1].ID != "shop" || list.SalesPoints[1].Active {
		t.Fatalf("sales points = %+v", list)
	}
	if n := f.count(`SELECT count(*) FROM audit_log WHERE action IN ('sales_point.create', 'business_unit.create')`); n != 3 {
		t.Errorf("%d audit entries, want 3", n)
	}
}
