package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// offlineAgent is an agent that has keys cached and no cluster: every
// scan is decided locally and fsynced.
func offlineAgent(b *testing.B) (*Agent, []string) {
	b.Helper()
	return offlineAgentIn(b, b.TempDir())
}

// offlineAgentIn is offlineAgent with its store in dir.
func offlineAgentIn(b testing.TB, dir string) (*Agent, []string) {
	b.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	st, err := OpenStore(dir)
	if err != nil {
		b.Fatal(err)
	}
	err = st.SaveKeys(gateapi.KeysResponse{TimeZone: "Asia/Shanghai", Keys: []gateapi.KeyJSON{{ID: 1, Public: base64.StdEncoding.EncodeToString(pub)}},
		Gate: &gateapi.GateJSON{ID: "g1", Zone: "main", Direction: "in"}})
	st.Close()
	if err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.ClusterURLs, cfg.Gate, cfg.GateToken, cfg.DataDir = []string{"http://127.0.0.1:1"}, "g1", "t", dir
	cfg.Probe = time.Hour
	a, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	codes := make([]string, 4096)
	from := time.Now().Add(-time.Hour).Truncate(time.Minute)
	for i := range codes {
		var id [16]byte
		rand.Read(id[:])
		kind := ticket.Single
		if i%4 == 0 {
			kind = ticket.Period
		}
		if codes[i], err = code.Sign(priv, code.Claims{KeyID: 1, TicketID: id, Version: 1, Kind: uint8(kind), ValidFrom: from,
			ValidUntil: from.Add(48 * time.Hour), ZoneMask: 1}); err != nil {
			b.Fatal(err)
		}
	}
	return a, codes
}

func report(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
}

// BenchmarkOfflineDecision: one device scanning one after another: parse,
// signature, rules, usage look-up, and the fsynced commit before the answer.
func BenchmarkOfflineDecision(b *testing.B) {
	a, codes := offlineAgent(b)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := gateapi.ScanRequest{Code: codes[i%len(codes)], Gate: "g1", ScanID: fmt.Sprintf("b:%d", i), DeviceTime: time.Now()}
		start := time.Now()
		if _, err := a.decideOffline(ctx, &req); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	report(b, lat)
}

// BenchmarkOfflineDecisionParallel: several devices behind one agent; one
// fsync serves every decision waiting (group commit).
func BenchmarkOfflineDecisionParallel(b *testing.B) {
	a, codes := offlineAgent(b)
	ctx := context.Background()
	var mu sync.Mutex
	var lat []time.Duration
	var n atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			i := n.Add(1)
			req := gateapi.ScanRequest{Code: codes[int(i)%len(codes)], Gate: "g1", ScanID: fmt.Sprintf("p:%d", i), DeviceTime: time.Now()}
			start := time.Now()
			if _, err := a.decideOffline(ctx, &req); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	report(b, lat)
}

// BenchmarkDecideNoStore is the decision alone (no store, no fsync).
func BenchmarkDecideNoStore(b *testing.B) {
	a, codes := offlineAgent(b)
	v := a.view.Load()
	now := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := gateapi.ScanRequest{Code: codes[i%len(codes)], Gate: "g1", ScanID: "x"}
		c, err := code.Parse(req.Code)
		in := local{policy: AllowOncePerDevice, zoneBit: 0, gate: "g1", v: v}
		decide(&req, c, err, &in, now)
	}
}
