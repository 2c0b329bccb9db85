package gate_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gate/gatetest"
	"github.com/admitpark/admit/validator/gateapi"
)

// counter is a counter's value in reg (labels as name=value pairs); 0 when
// absent.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
				}
				if !found {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// upload posts scans as an offline gate agent does (POST /v1/scans) to
// node i and wants every item decided.
func (p *park) upload(i int, token string, scans ...gateapi.ScanRequest) []gateapi.ScanResponse {
	p.t.Helper()
	var out gateapi.ScanBatchResponse
	if _, err := gatetest.CallOK(p.URL(p.h.Members[i]), http.MethodPost, gateapi.PathScans, token,
		gateapi.ScanBatchRequest{Scans: scans}, &out); err != nil {
		p.t.Fatal(err)
	}
	for k, r := range out.Results {
		if r.Error != "" {
			p.t.Fatalf("upload item %d: %+v", k, r)
		}
	}
	return out.Results
}

// Two gates cut off from the cluster both let the same single ticket in.
// Their uploads, retried again and again through every node, record both
// entries (the visitors are inside), exactly one conflict, listed the
// same by every node with both scans, and counted once.
func TestTwoOfflineAdmitsMakeOneConflict(t *testing.T) {
	p := newPark(t, 3)
	p.addGate("g1", "main", "in")
	p.addGate("g2", "main", "in")
	tj := single("day-adult")
	c := p.issue(tj, code.Claims{})
	base := time.Now().Add(-10 * time.Minute).Truncate(time.Millisecond).UTC()
	a := gateapi.ScanRequest{Code: c, Gate: "g1", ScanID: "off-a", Offline: "admit", DeviceTime: base}
	b := gateapi.ScanRequest{Code: c, Gate: "g2", ScanID: "off-b", Offline: "admit", DeviceTime: base.Add(3 * time.Minute)}

	ra := p.upload(0, adminToken, a)[0]
	if ra.Result != "admit" || ra.Reason != "" || ra.Conflict || !ra.Offline {
		t.Fatalf("first upload: %+v", ra)
	}
	rb := p.upload(1, adminToken, b)[0]
	if rb.Result != "admit" || rb.Reason != gateapi.ReasonAlreadyUsed || !rb.Conflict || !rb.Offline {
		t.Fatalf("second upload: %+v", rb)
	}

	// Agents retry (a device killed mid-upload sends its backlog again),
	// concurrently, through every node.
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out gateapi.ScanBatchResponse
			if _, err := gatetest.CallOK(p.URL(p.h.Members[w%3]), http.MethodPost, gateapi.PathScans, adminToken,
				gateapi.ScanBatchRequest{Scans: []gateapi.ScanRequest{a, b}}, &out); err != nil {
				t.Error(err)
				return
			}
			if !out.Results[0].Rescan || !out.Results[1].Rescan || out.Results[0].Conflict || !out.Results[1].Conflict {
				t.Errorf("retry %d: %+v", w, out.Results)
			}
		}()
	}
	wg.Wait()

	// Every node lists the one conflict with both scans.
	leaderIndex := p.h.WaitLeader(10 * time.Second).Node().AppliedIndex()
	p.h.WaitApplied(leaderIndex, 10*time.Second)
	for i, m := range p.h.Members {
		cl, err := gateapi.NewClient(gateapi.Config{URLs: []string{p.URL(m)}, AdminToken: gatetest.SalesToken})
		if err != nil {
			t.Fatal(err)
		}
		cs, err := cl.Conflicts(t.Context(), "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs.Conflicts) != 1 || cs.Total != 1 {
			t.Fatalf("node %d: %+v", i, cs)
		}
		got := cs.Conflicts[0]
		if got.TicketID != tj.ID || got.Zone != "main" || got.Reason != gateapi.ReasonAlreadyUsed ||
			got.Scan.ScanID != "off-b" || got.Scan.Gate != "g2" || !got.Scan.DeviceTime.Equal(b.DeviceTime) || !got.Scan.Offline ||
			got.Other.ScanID != "off-a" || got.Other.Gate != "g1" || !got.Other.DeviceTime.Equal(a.DeviceTime) || !got.Other.Offline ||
			got.Other.At.IsZero() || got.Scan.At.Before(got.Other.At) {
			t.Fatalf("node %d conflict: %+v", i, got)
		}
		if n := counter(t, m.Registry, "admit_offline_conflicts_total"); n != 1 {
			t.Fatalf("node %d: admit_offline_conflicts_total %v", i, n)
		}
	}

	// The changefeed: two entries, the second flagged, with device times.
	var ev gateapi.EventsResponse
	p.admin(http.MethodGet, gateapi.PathEvents, nil, &ev)
	if len(ev.Events) != 2 {
		t.Fatalf("%d events: %+v", len(ev.Events), ev.Events)
	}
	e0, e1 := ev.Events[0], ev.Events[1]
	if e0.ScanID != "off-a" || e0.Result != "admit" || e0.Conflict || !e0.Offline || !e0.DeviceTime.Equal(a.DeviceTime) ||
		e1.ScanID != "off-b" || e1.Result != "admit" || !e1.Conflict || e1.Reason != gateapi.ReasonAlreadyUsed || !e1.DeviceTime.Equal(b.DeviceTime) {
		t.Fatalf("events %+v", ev.Events)
	}
	// Both visitors are inside.
	var zones gateapi.ZonesResponse
	p.admin(http.MethodGet, gateapi.PathZones, nil, &zones)
	if zones.Zones[0].Occupancy != 2 {
		t.Fatalf("zones %+v", zones)
	}
}

// An offline deny is recorded as a deny: nothing changes, and the ticket
// still admits live.
func TestOfflineDenyIsRecordedAsADeny(t *testing.T) {
	p := newPark(t, 3)
	token := p.addGate("g1", "main", "in")
	tj := single("day-adult")
	c := p.issue(tj, code.Claims{})
	r := p.upload(2, token, gateapi.ScanRequest{Code: c, Gate: "g1", ScanID: "d1", Offline: "deny", DeviceTime: time.Now().Add(-time.Minute)})[0]
	if r.Result != "deny" || r.Reason != gateapi.ReasonOfflineDeny || !r.Offline {
		t.Fatalf("offline deny: %+v", r)
	}
	if status, resp, msg := p.scan(p.URL(p.h.Members[0]), token, gateapi.ScanRequest{Code: c, Gate: "g1", ScanID: "d2"}); status != 200 || resp.Result != "admit" {
		t.Fatalf("live scan after an offline deny: %d %+v %s", status, resp, msg)
	}
}

// A gate whose clock is 10 minutes ahead: its device time is recorded as
// sent, the node counts it as skewed, and the decisions still follow the
// log: its scan, first in the log though its clock says later, admits;
// a scan with a right clock after it is the second use.
func TestDeviceClockTenMinutesOff(t *testing.T) {
	p := newPark(t, 3)
	fast := p.addGate("g1", "main", "in")
	right := p.addGate("g2", "main", "in")
	tj := single("day-adult")
	c := p.issue(tj, code.Claims{})
	m := p.h.Members[1]
	before := counter(t, m.Registry, "admit_scan_device_skewed_total", "kind", "live")

	ahead := time.Now().Add(10 * time.Minute).Truncate(time.Millisecond)
	status, r1, msg := p.scan(p.URL(m), fast, gateapi.ScanRequest{Code: c, Gate: "g1", ScanID: "k1", DeviceTime: ahead})
	if status != 200 || r1.Result != "admit" {
		t.Fatalf("skewed gate: %d %+v %s", status, r1, msg)
	}
	now := time.Now().Truncate(time.Millisecond)
	status, r2, msg := p.scan(p.URL(p.h.Members[2]), right, gateapi.ScanRequest{Code: c, Gate: "g2", ScanID: "k2", DeviceTime: now})
	if status != 200 || r2.Result != "deny" || r2.Reason != gateapi.ReasonAlreadyUsed || r2.FirstEntryGate != "g1" {
		t.Fatalf("right clock, second in the log: %d %+v %s", status, r2, msg)
	}
	if got := counter(t, m.Registry, "admit_scan_device_skewed_total", "kind", "live"); got != before+1 {
		t.Fatalf("skewed scans counted %v, want %v", got, before+1)
	}
	if got := counter(t, p.h.Members[2].Registry, "admit_scan_device_skewed_total", "kind", "live"); got != 0 {
		t.Fatalf("a right clock counted as skewed: %v", got)
	}
	var ev gateapi.EventsResponse
	p.admin(http.MethodGet, gateapi.PathEvents, nil, &ev)
	if len(ev.Events) != 2 {
		t.Fatalf("events %+v", ev.Events)
	}
	e1, e2 := ev.Events[0], ev.Events[1]
	if e1.ScanID != "k1" || !e1.DeviceTime.Equal(ahead) || e2.ScanID != "k2" || !e2.DeviceTime.Equal(now) ||
		e1.Seq >= e2.Seq || !e2.DeviceTime.Before(e1.DeviceTime) || e1.At.After(e2.At) {
		t.Fatalf("events not in log order with their device times: %+v", ev.Events)
	}
	if skew := e1.DeviceTime.Sub(e1.At); skew < 9*time.Minute {
		t.Fatalf("recorded skew %v", skew)
	}
}
