package agent_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// TestBacklogSurvivesRestart: offline decisions are on disk before the
// answer; an agent stopped while cut off and started again from its data
// dir still knows them (a second scan of a ticket it let in is refused)
// and uploads every one, in order, exactly once, each with its device time.
func TestBacklogSurvivesRestart(t *testing.T) {
	p := newPark(t, 1)
	token := p.addGate("g1", "main")
	dir := t.TempDir()
	a := p.startAgent("g1", token, dir, nil)
	a.cutOff(t)
	const n = 40
	codes := make([]string, n)
	base := time.Now().Add(-10 * time.Minute).Truncate(time.Millisecond).UTC()
	for i := range codes {
		codes[i] = p.issue(tk{kind: ticket.Single})
		r, err := a.Scan(t.Context(), gateapi.ScanRequest{Code: codes[i], ScanID: fmt.Sprintf("g1:%d", i), DeviceTime: base.Add(time.Duration(i) * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		want(t, "offline scan", r, gateapi.ResultAdmit, "", true)
	}
	a.stop()

	b := p.startAgentOffline("g1", token, dir)
	r, err := b.Scan(t.Context(), gateapi.ScanRequest{Code: codes[3], ScanID: "g1:again"})
	if err != nil {
		t.Fatal(err)
	}
	want(t, "a ticket let in before the restart", r, gateapi.ResultDeny, gateapi.ReasonAlreadyUsed, true)
	if m, _ := b.Backlog(); m != n+1 {
		t.Fatalf("backlog after restart %d, want %d", m, n+1)
	}
	b.reconnect(t)

	seen := map[string]int{}
	var order []string
	for _, e := range p.events() {
		if e.Gate != "g1" {
			continue
		}
		seen[e.ScanID]++
		order = append(order, e.ScanID)
		i := -1
		fmt.Sscanf(e.ScanID, "g1:%d", &i)
		if i >= 0 && (!e.Offline || !e.DeviceTime.Equal(base.Add(time.Duration(i)*time.Second))) {
			t.Fatalf("event %+v: want an offline scan with device time %v", e, base.Add(time.Duration(i)*time.Second))
		}
	}
	for i := 0; i < n; i++ {
		if id := fmt.Sprintf("g1:%d", i); seen[id] != 1 || order[i] != id {
			t.Fatalf("scan %s reached the cluster %d times, at position %q; want once, in order", id, seen[id], order[i])
		}
	}
	if seen["g1:again"] != 1 || len(seen) != n+1 {
		t.Fatalf("events at g1: %v", seen)
	}
	// Every upload carried the scan's device time and its offline decision.
	got := map[string]gateapi.ScanRequest{}
	for _, s := range append(a.cable.uploads(), b.cable.uploads()...) {
		got[s.ScanID] = s
	}
	for i := 0; i < n; i++ {
		s := got[fmt.Sprintf("g1:%d", i)]
		if !s.DeviceTime.Equal(base.Add(time.Duration(i)*time.Second)) || s.Offline != gateapi.ResultAdmit {
			t.Fatalf("upload of g1:%d: device time %v, offline %q; want %v, admit", i, s.DeviceTime, s.Offline, base.Add(time.Duration(i)*time.Second))
		}
	}
	if s := got["g1:again"]; s.Offline != gateapi.ResultDeny || s.DeviceTime.IsZero() {
		t.Fatalf("upload of the offline deny: %+v", s)
	}
}

// TestDeviceTimeOnline: an online scan reaches the cluster with a device
// time: the device's, or the agent's clock when the device sent none.
func TestDeviceTimeOnline(t *testing.T) {
	p := newPark(t, 1)
	a := p.startAgent("g1", p.addGate("g1", "main"), t.TempDir(), nil)
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	if _, err := a.Scan(t.Context(), gateapi.ScanRequest{Code: p.issue(tk{kind: ticket.Single}), ScanID: "d1", DeviceTime: at}); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if _, err := a.Scan(t.Context(), gateapi.ScanRequest{Code: p.issue(tk{kind: ticket.Single}), ScanID: "d2"}); err != nil {
		t.Fatal(err)
	}
	sent := map[string]gateapi.ScanRequest{}
	for _, s := range a.cable.scans() {
		sent[s.ScanID] = s
	}
	if !sent["d1"].DeviceTime.Equal(at) || sent["d1"].Offline != "" {
		t.Fatalf("scan d1 sent as %+v; want the device's time %v, no offline decision", sent["d1"], at)
	}
	if d := sent["d2"].DeviceTime; d.Before(before.Add(-time.Second)) || d.After(time.Now()) {
		t.Fatalf("scan d2 sent with device time %v; want the agent's clock", d)
	}
}
