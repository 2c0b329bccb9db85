package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/admitpark/admit/cluster/httpapi"
	"github.com/admitpark/admit/validator/gateapi"
)

const fakeAdmin = "fake-admin-token"

// fakeGateAPI answers like the gate API of a cluster, from memory, on one or
// more listeners (nodes). It is what the load generator is tested against.
type fakeGateAPI struct {
	urls []string

	mu        sync.Mutex
	tokens    map[string]string // gate -> token
	valid     map[string]bool   // issued codes; codes starting with "T" are valid too
	used      map[string]bool
	decisions map[string]gateapi.ScanResponse // gate/scan_id -> decision
	idCount   map[string]int                  // scan_id -> times received
	arrivals  []time.Time                     // one per scan request, probes excluded
	perNode   map[string]int                  // local addr -> scan requests
	requests  int
	scans     int
	batchLens []int
	probes    int

	// Faults, set before the run.
	delay          time.Duration // every scan request answers this much later
	stallAt        int           // the stallAt-th scan request stops the server for stall
	stall          time.Duration
	stallUntil     time.Time
	failEvery      int // every failEvery-th scan request: 503, nothing decided
	unknownEvery   int // every unknownEvery-th: decided, then 503 (outcome unknown)
	failAfterScans int // once more scans than this arrived: 503 for all
}

func startFake(t *testing.T, nodes int) *fakeGateAPI {
	t.Helper()
	f := &fakeGateAPI{
		tokens: map[string]string{}, valid: map[string]bool{}, used: map[string]bool{},
		decisions: map[string]gateapi.ScanResponse{}, idCount: map[string]int{}, perNode: map[string]int{},
	}
	srv := &fasthttp.Server{Handler: f.handle, Name: "fake-admit"}
	for range nodes {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ln)
		f.urls = append(f.urls, "http://"+ln.Addr().String())
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.ShutdownWithContext(ctx)
	})
	return f
}

func (f *fakeGateAPI) handle(ctx *fasthttp.RequestCtx) {
	if string(ctx.Method()) != http.MethodPost {
		httpapi.Error(ctx, http.StatusMethodNotAllowed, "POST only")
		return
	}
	switch string(ctx.Path()) {
	case gateapi.PathGates:
		if httpapi.BearerToken(ctx) != fakeAdmin {
			httpapi.Error(ctx, http.StatusUnauthorized, "wrong admin token")
			return
		}
		var g gateapi.GateJSON
		if err := json.Unmarshal(ctx.PostBody(), &g); err != nil || g.ID == "" {
			httpapi.Error(ctx, http.StatusBadRequest, "bad gate")
			return
		}
		f.mu.Lock()
		g.Token = "gt_" + g.ID + fmt.Sprint(len(f.tokens))
		f.tokens[g.ID] = g.Token
		f.mu.Unlock()
		httpapi.JSON(ctx, http.StatusCreated, g)
	case gateapi.PathIssue:
		if httpapi.BearerToken(ctx) != fakeAdmin {
			httpapi.Error(ctx, http.StatusUnauthorized, "wrong admin token")
			return
		}
		var req gateapi.IssueRequest
		if err := json.Unmarshal(ctx.PostBody(), &req); err != nil {
			httpapi.Error(ctx, http.StatusBadRequest, "%v", err)
			return
		}
		f.mu.Lock()
		for _, tk := range req.Tickets {
			f.valid[tk.Code] = true
		}
		f.mu.Unlock()
		httpapi.JSON(ctx, http.StatusOK, gateapi.IssueResponse{Applied: len(req.Tickets)})
	case gateapi.PathScan, gateapi.PathScans:
		f.scan(ctx)
	default:
		httpapi.Error(ctx, http.StatusNotFound, "no route")
	}
}

func (f *fakeGateAPI) scan(ctx *fasthttp.RequestCtx) {
	batch := string(ctx.Path()) == gateapi.PathScans
	var reqs []gateapi.ScanRequest
	if batch {
		var b gateapi.ScanBatchRequest
		if err := json.Unmarshal(ctx.PostBody(), &b); err != nil || len(b.Scans) == 0 {
			httpapi.Error(ctx, http.StatusBadRequest, "bad batch: %v", err)
			return
		}
		reqs = b.Scans
	} else {
		var r gateapi.ScanRequest
		if err := json.Unmarshal(ctx.PostBody(), &r); err != nil || r.Code == "" || r.ScanID == "" {
			httpapi.Error(ctx, http.StatusBadRequest, "bad scan: %v", err)
			return
		}
		reqs = []gateapi.ScanRequest{r}
	}
	token := httpapi.BearerToken(ctx)
	now := time.Now()
	f.mu.Lock()
	for _, r := range reqs {
		if token != fakeAdmin && token != f.tokens[r.Gate] {
			f.mu.Unlock()
			httpapi.Error(ctx, http.StatusForbidden, "wrong token for gate %q", r.Gate)
			return
		}
	}
	if !batch && reqs[0].Code == probeCode {
		f.probes++
		f.mu.Unlock()
		httpapi.JSON(ctx, http.StatusOK, gateapi.ScanResponse{Result: "deny", Reason: "invalid_code"})
		return
	}
	f.requests++
	n := f.requests
	f.scans += len(reqs)
	f.batchLens = append(f.batchLens, len(reqs))
	f.arrivals = append(f.arrivals, now)
	f.perNode[ctx.LocalAddr().String()]++
	if f.stallAt > 0 && n == f.stallAt {
		f.stallUntil = now.Add(f.stall)
	}
	wait := max(f.stallUntil.Sub(now), 0) + f.delay
	fail := (f.failEvery > 0 && n%f.failEvery == 0) || (f.failAfterScans > 0 && f.scans > f.failAfterScans)
	var out []gateapi.ScanResponse
	fresh := true
	if !fail {
		for _, r := range reqs {
			f.idCount[r.ScanID]++
			key := r.Gate + "/" + r.ScanID
			if d, ok := f.decisions[key]; ok {
				d.Rescan = true
				out = append(out, d)
				fresh = false
				continue
			}
			d := gateapi.ScanResponse{ScanID: r.ScanID, Result: "deny", Reason: "invalid_code"}
			if strings.HasPrefix(r.Code, "T") || f.valid[r.Code] {
				if f.used[r.Code] {
					d.Reason = "already_used"
				} else {
					f.used[r.Code] = true
					d.Result, d.Reason = "admit", ""
				}
			}
			f.decisions[key] = d
			out = append(out, d)
		}
	}
	unknown := !fail && fresh && f.unknownEvery > 0 && n%f.unknownEvery == 0
	f.mu.Unlock()

	if wait > 0 { // a stalled or slow node: the answer leaves later
		t := time.NewTimer(wait)
		<-t.C
	}
	switch {
	case fail:
		ctx.Response.Header.Set("Retry-After", "1")
		httpapi.Error(ctx, http.StatusServiceUnavailable, "cluster has no quorum right now; retry with the same scan_id")
	case unknown:
		ctx.Response.Header.Set("Retry-After", "1")
		httpapi.Error(ctx, http.StatusServiceUnavailable, "no answer from the cluster in time; retry with the same scan_id")
	case batch:
		httpapi.JSON(ctx, http.StatusOK, gateapi.ScanBatchResponse{Results: out})
	default:
		httpapi.JSON(ctx, http.StatusOK, out[0])
	}
}

// snapshot returns copies of what the server saw.
func (f *fakeGateAPI) snapshot() (requests, scans int, arrivals []time.Time, ids map[string]int, perNode map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids = make(map[string]int, len(f.idCount))
	for k, v := range f.idCount {
		ids[k] = v
	}
	perNode = map[string]int{}
	for k, v := range f.perNode {
		perNode[k] = v
	}
	return f.requests, f.scans, append([]time.Time(nil), f.arrivals...), ids, perNode
}

func (f *fakeGateAPI) set(fn func(f *fakeGateAPI)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}
