package gate_test

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/admitpark/admit/bench/load"
	"github.com/admitpark/admit/validator/gate/gatetest"
	"github.com/admitpark/admit/validator/gateapi"
)

// BenchmarkScanEndToEnd sends single scans (POST /v1/scan) over real HTTP
// to every node of an in-process 3-node cluster (real Raft over TCP, fsync
// on, Badger on disk), 64 requests in flight. Each ticket is scanned twice
// (admit, then already_used). It reports scans/s and the CPU time of the
// whole process per scan (client, three nodes and all): on a shared machine
// the CPU figure is the steadier one.
func BenchmarkScanEndToEnd(b *testing.B) {
	const tickets = 50_000
	p := gatetest.New(b, gatetest.Options{Nodes: 3})
	urls := p.ServedURLs()
	admin, err := gateapi.NewClient(gateapi.Config{URLs: urls, AdminToken: gatetest.AdminToken})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := admin.SetZone(ctx, gateapi.ZoneJSON{ID: "main"}); err != nil {
		b.Fatal(err)
	}
	g, err := admin.AddGate(ctx, gateapi.GateJSON{ID: "bench-1", Zone: "main", Direction: gateapi.DirectionIn})
	if err != nil {
		b.Fatal(err)
	}
	var codes bytes.Buffer
	if _, err := load.Run(ctx, admin, load.DefaultOptions(tickets), &codes, nil); err != nil {
		b.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(codes.String()), "\n") // Base45 has spaces
	clients := make([]*fasthttp.HostClient, len(urls))
	for i, u := range urls {
		clients[i] = &fasthttp.HostClient{Addr: strings.TrimPrefix(u, "http://"), MaxConns: 64}
	}
	var next, admits, denies, failed atomic.Int64
	auth := "Bearer " + g.Token
	b.SetParallelism(32) // 64 in flight on 2 cores
	b.ResetTimer()
	cpu0 := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		var body []byte
		for pb.Next() {
			k := next.Add(1)
			c := clients[k%int64(len(clients))]
			req.Reset()
			req.Header.SetMethod(http.MethodPost)
			req.SetRequestURI("http://" + c.Addr + gateapi.PathScan)
			req.Header.Set("Authorization", auth)
			req.Header.SetContentType("application/json")
			body = append(body[:0], `{"gate":"bench-1","scan_id":"`...)
			body = strconv.AppendInt(body, k, 10)
			body = append(body, `","code":"`...)
			body = append(body, lines[(k/2)%int64(len(lines))]...)
			body = append(body, `"}`...)
			req.SetBody(body)
			if err := c.DoTimeout(req, resp, 5*time.Second); err != nil || resp.StatusCode() != http.StatusOK {
				failed.Add(1)
				continue
			}
			if bytes.Contains(resp.Body(), []byte(`"result":"admit"`)) {
				admits.Add(1)
			} else if bytes.Contains(resp.Body(), []byte(`"reason":"already_used"`)) {
				denies.Add(1)
			} else {
				b.Fatalf("a scan that is neither admitted nor already used: %s", resp.Body())
			}
		}
	})
	cpu := processCPU() - cpu0
	b.StopTimer()
	n := float64(admits.Load() + denies.Load())
	b.ReportMetric(n/b.Elapsed().Seconds(), "scans/s")
	if n > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/scan")
	}
	if failed.Load() > 0 {
		b.Fatalf("%d scans failed (%d admitted, %d denied)", failed.Load(), admits.Load(), denies.Load())
	}
	if b.N >= 4 && (admits.Load() == 0 || denies.Load() == 0) {
		b.Fatalf("no real traffic: %d admitted, %d denied", admits.Load(), denies.Load())
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
