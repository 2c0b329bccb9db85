package sync

import (
	"context"
	"net/http"
	"testing"

	"github.com/admitpark/admit/sync/outbox"
	"github.com/admitpark/admit/validator/gateapi"
)

// The default cluster learns a park id only when it is named as the one
// park it serves: configure rows of that park keep their id; those of
// other parks are sent without it (the cluster may serve several).
func TestDefaultClusterLearnsOnlyItsNamedPark(t *testing.T) {
	p, d := newPark(t), newDB(t)
	write := func(c outbox.Configure) {
		t.Helper()
		if _, err := outbox.WriteConfigure(context.Background(), d.pool, c); err != nil {
			t.Fatal(err)
		}
	}
	park := func() gateapi.ParkJSON {
		t.Helper()
		var pj gateapi.ParkJSON
		if _, err := p.call(http.MethodGet, gateapi.PathPark, adminToken, nil, &pj); err != nil {
			t.Fatal(err)
		}
		return pj
	}

	// Not named: a park's configure row reaches the default cluster
	// without its id.
	write(outbox.Configure{Park: "rainy", TimeZone: "Europe/Paris"})
	r := newRelay(t, testConfig(t, d.pool, p.ClusterURLs()))
	if n, err := r.SendPending(t.Context()); err != nil || n != 1 {
		t.Fatalf("SendPending = %d, %v", n, err)
	}
	if pj := park(); pj.ID != "" || pj.TimeZone != "Europe/Paris" {
		t.Fatalf("unnamed default cluster: %+v, want the time zone and no park id", pj)
	}

	// Named: its park's id goes through; another park's still does not.
	cfg := testConfig(t, d.pool, p.ClusterURLs())
	cfg.DefaultClusterPark = "sunny"
	r2 := newRelay(t, cfg)
	write(outbox.Configure{Park: "sunny", TimeZone: "Asia/Shanghai"})
	write(outbox.Configure{Park: "rainy", TimeZone: "Asia/Shanghai"})
	if n, err := r2.SendPending(t.Context()); err != nil || n != 2 {
		t.Fatalf("SendPending = %d, %v (a second park's id would be refused with 409)", n, err)
	}
	if pj := park(); pj.ID != "sunny" {
		t.Fatalf("named default cluster: %+v, want park id sunny", pj)
	}
}
