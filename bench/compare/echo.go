package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/admitpark/admit/bench/loadgen"
	"github.com/admitpark/admit/cluster/localproc"
	"github.com/admitpark/admit/validator/gateapi"
)

// echoEnv, when set to a listen address, makes this program (or its test
// binary, see TestMain) serve as the echo system instead of comparing:
// the compare program starts itself again with it, so that the echo
// server is a process of its own, as admit's nodes and the baselines are,
// and does not share the load generator's process (its scheduler, and its
// garbage collector with the ticket set's million codes).
const echoEnv = "ADMIT_BENCH_ECHO_LISTEN"

// echoMaxBatch is the most scans a batch reply is cached for (the gate
// API's default MaxScansPerRequest, loadgen's limit).
const echoMaxBatch = 1000

// echoSystem is the ceiling: a bare fasthttp server in its own process
// that answers every POST /v1/scan with the same admit reply and every
// POST /v1/scans with as many of them as the request has scans. It keeps
// no state and checks nothing; loaded and scanned like the others, it
// measures what the load generator, fasthttp and loopback alone cost on
// this machine.
type echoSystem struct {
	bin  string // this program
	addr string
	proc *localproc.Process
	gt   *loadgen.GateTarget
}

func (e *echoSystem) name() string { return "echo" }

func (e *echoSystem) start(ctx context.Context, dir string) (systemInfo, error) {
	addr, err := localproc.FreeAddr()
	if err != nil {
		return systemInfo{}, err
	}
	e.addr = addr
	p, err := localproc.Start(localproc.Config{Name: "echo", Bin: e.bin, Env: append(os.Environ(), echoEnv+"="+addr),
		LogPath: filepath.Join(dir, "echo.log"), ParentDeathSignal: syscall.SIGKILL, StopTimeout: 5 * time.Second})
	if err != nil {
		return systemInfo{}, err
	}
	e.proc = p
	if err := waitHTTP(ctx, p, "http://"+addr+echoHealth, 30*time.Second, nil); err != nil {
		return systemInfo{}, fmt.Errorf("echo server did not answer (log %s): %w", p.LogPath(), err)
	}
	return systemInfo{
		Version: "fasthttp " + fasthttpVersion() + " server, canned replies (the ceiling: no state, no checks)",
		PerScan: "POST /v1/scan answered with one fixed ScanResponse (admit); POST /v1/scans with as many as the body has scans " +
			"(counted, not parsed); nothing is read, checked, stored or replicated",
		Durability: "none",
		Settings: []string{"one process (this program started again with " + echoEnv + "), fasthttp.Server defaults, GOMAXPROCS = cores",
			"scanned through the same gate client (loadgen.GateTarget) as admit"},
		Endpoints: []string{"http://" + addr},
	}, nil
}

// load: the echo server keeps no tickets.
func (e *echoSystem) load(context.Context, *ticketSet) error { return nil }

func (e *echoSystem) target(ctx context.Context, cfg loadgen.Config, _ *ticketSet) (loadgen.Target, error) {
	if e.gt != nil {
		e.gt.Close()
	}
	cfg.Cluster, cfg.GateToken = []string{"http://" + e.addr}, "echo" // any token: nothing to register
	gt, err := loadgen.NewGateTarget(ctx, cfg)
	if err != nil {
		return nil, err
	}
	e.gt = gt
	return gt, nil
}

func (e *echoSystem) stop() {
	if e.gt != nil {
		e.gt.Close()
	}
	e.proc.Stop()
}

const echoHealth = "/healthz"

// serveEcho runs the echo server on addr until the process ends.
func serveEcho(addr string) error {
	single := echoReply(1)
	var cache [echoMaxBatch + 1]atomic.Pointer[[]byte]
	codeKey := []byte(`"code":`)
	h := func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case gateapi.PathScan:
			ctx.SetContentType("application/json")
			ctx.SetBody(single)
		case gateapi.PathScans:
			n := bytes.Count(ctx.PostBody(), codeKey)
			if n < 1 || n > echoMaxBatch {
				ctx.Error(`{"error":"scans: 1-1000 per request"}`, fasthttp.StatusBadRequest)
				return
			}
			b := cache[n].Load()
			if b == nil {
				r := echoReply(n)
				b = &r
				cache[n].Store(b)
			}
			ctx.SetContentType("application/json")
			ctx.SetBody(*b)
		case echoHealth:
			ctx.SetContentType("application/json")
			ctx.SetBodyString(`{"status":"ok"}`)
		default:
			ctx.Error(`{"error":"not found"}`, fasthttp.StatusNotFound)
		}
	}
	srv := &fasthttp.Server{Handler: h, Name: "admit-bench-echo", NoDefaultDate: true}
	return srv.ListenAndServe(addr)
}

// echoReply is the canned reply to n scans: a ScanResponse (n = 1) or a
// ScanBatchResponse of n, each an admit of a single-entry day ticket, the
// size of admit's own.
func echoReply(n int) []byte {
	r := gateapi.ScanResponse{
		ScanID: "g1.00000000:1000000", Result: "admit", TicketID: "0123456789abcdef0123456789abcdef",
		Product: product, Persons: 1, EntriesUsed: 1, EntriesAllowed: 1,
	}
	var v any = r
	if n > 1 || n == 0 {
		br := gateapi.ScanBatchResponse{Results: make([]gateapi.ScanResponse, n)}
		for i := range br.Results {
			br.Results[i] = r
		}
		v = br
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // fixed types: cannot fail
	}
	return b
}

// echoMain serves as the echo system when echoEnv is set, and then never
// returns; it returns at once otherwise.
func echoMain() {
	addr := os.Getenv(echoEnv)
	if addr == "" {
		return
	}
	if err := serveEcho(addr); err != nil {
		fmt.Fprintln(os.Stderr, "admit-bench-compare echo:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func fasthttpVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/valyala/fasthttp" {
				return d.Version
			}
		}
	}
	return "(version unknown)"
}

// waitHTTP polls url with GET (through c; nil: a plain client) every
// 20 ms until it answers 200, p exits, or timeout passes.
func waitHTTP(ctx context.Context, p *localproc.Process, url string, timeout time.Duration, c *http.Client) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if c == nil {
		c = &http.Client{Timeout: time.Second}
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s: %s", url, resp.Status)
		}
		last = err
		if p != nil {
			if derr := p.Dead(); derr != nil {
				return derr
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}
