package sync

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/admitpark/admit/sync/outbox"
	"github.com/admitpark/admit/validator/gateapi"
)

// The relay carries a ticket's credentials and the park's ID-card key to
// the cluster; the feed brings back what the cluster recorded beside each
// decision: device time, credential kind, offline and conflict flags
// (sales migration 7), so sales' entries report can list conflicts.
func TestRelayCarriesCredentialsAndFeedCarriesConflicts(t *testing.T) {
	p, d := newPark(t), newDB(t)
	north := p.addGate("north-1", "main", "in")
	p.addGate("south-1", "main", "in")
	r := newRelay(t, testConfig(t, d.pool, p.ClusterURLs()))
	f, err := NewFeed(testConfig(t, d.pool, p.ClusterURLs()))
	if err != nil {
		t.Fatal(err)
	}

	key := bytes.Repeat([]byte{0x42}, 32)
	d.insert("configure", "", 0, outbox.Configure{IDCardKey: base64.StdEncoding.EncodeToString(key)})
	tj := p.newTicket()
	tj.Credentials = []gateapi.CredentialJSON{
		{Kind: gateapi.CredentialCard, Value: "04A1B2"},
		{Kind: gateapi.CredentialIDCard, Value: gateapi.IDCardHash(key, "11010519491231002X")},
	}
	d.saleTicket(tj)
	d.issue(tj)
	if _, err := r.SendPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	if v := p.clusterTicket(tj.ID); len(v.Ticket.Credentials) != 2 {
		t.Fatalf("cluster binds %+v", v.Ticket.Credentials)
	}

	// Admitted by ID card at north-1, live, with a device time; then let
	// in again by an offline gate at south-1, uploaded later.
	dt := time.Now().Add(-time.Minute).Truncate(time.Millisecond).UTC()
	var resp gateapi.ScanResponse
	if _, err := p.call(http.MethodPost, gateapi.PathScan, north, gateapi.ScanRequest{Gate: "north-1", ScanID: "n1",
		Credential: &gateapi.Credential{Kind: gateapi.CredentialIDCard, Value: "11010519491231002x"}, DeviceTime: dt}, &resp); err != nil || resp.Result != "admit" {
		t.Fatalf("ID card scan: %+v %v", resp, err)
	}
	var up gateapi.ScanBatchResponse
	if _, err := p.call(http.MethodPost, gateapi.PathScans, adminToken, gateapi.ScanBatchRequest{Scans: []gateapi.ScanRequest{
		{Code: tj.Code, Gate: "south-1", ScanID: "s1", Offline: "admit", DeviceTime: dt.Add(30 * time.Second)},
	}}, &up); err != nil || !up.Results[0].Conflict {
		t.Fatalf("upload: %+v %v", up, err)
	}
	for {
		n, err := f.Pull(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	rows, err := d.pool.Query(t.Context(), `SELECT scan_id, result, reason, device_time, credential, offline, conflict
		FROM entry_events ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		scanID, result, reason, credential string
		deviceTime                         *time.Time
		offline, conflict                  bool
	}
	var got []row
	for rows.Next() {
		var x row
		if err := rows.Scan(&x.scanID, &x.result, &x.reason, &x.deviceTime, &x.credential, &x.offline, &x.conflict); err != nil {
			t.Fatal(err)
		}
		got = append(got, x)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("entry_events %+v", got)
	}
	a, b := got[0], got[1]
	if a.scanID != "n1" || a.result != "admit" || a.credential != "id_card" || a.offline || a.conflict || a.deviceTime == nil || !a.deviceTime.Equal(dt) {
		t.Fatalf("live event %+v", a)
	}
	if b.scanID != "s1" || b.result != "admit" || b.reason != "already_used" || b.credential != "" || !b.offline || !b.conflict ||
		b.deviceTime == nil || !b.deviceTime.Equal(dt.Add(30*time.Second)) {
		t.Fatalf("offline event %+v", b)
	}
}
