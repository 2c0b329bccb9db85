package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gate/gatetest"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// link stands between an agent process and the cluster: it forwards
// every call, refuses them all while down, and can kill the agent in the
// middle of an upload: after the cluster applied the n-th upload batch
// and before the agent hears back.
type link struct {
	target string
	down   atomic.Bool
	killAt atomic.Int64 // upload batch to kill at; 0: none
	kill   func()
	mu     sync.Mutex
	nUp    int64
	up     []gateapi.ScanRequest // every uploaded scan, as sent
}

func (l *link) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if l.down.Load() {
		panic(http.ErrAbortHandler) // the connection drops: no answer
	}
	body, _ := io.ReadAll(r.Body)
	upload := false
	if r.Method == http.MethodPost && r.URL.Path == gateapi.PathScans {
		var b gateapi.ScanBatchRequest
		if json.Unmarshal(body, &b) == nil && len(b.Scans) > 0 && b.Scans[0].Offline != "" {
			upload = true
			l.mu.Lock()
			l.up = append(l.up, b.Scans...)
			l.mu.Unlock()
		}
	}
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, l.target+r.URL.RequestURI(), bytes.NewReader(body))
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if upload {
		l.mu.Lock()
		l.nUp++
		n := l.nUp
		l.mu.Unlock()
		if n == l.killAt.Load() {
			l.kill() // applied on the cluster; the agent never hears of it
			panic(http.ErrAbortHandler)
		}
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(out)
}

func (l *link) uploads() []gateapi.ScanRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]gateapi.ScanRequest(nil), l.up...)
}

// agentProc is an `admit gate agent` process.
type agentProc struct {
	t     *testing.T
	args  []string
	env   []string
	url   string
	log   string
	token string
	mu    sync.Mutex // the link kills from its own goroutine
	cmd   *exec.Cmd
	exit  chan struct{}
}

func (p *agentProc) start() {
	p.t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(admitBin, p.args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = p.env, f, f
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	exit := make(chan struct{})
	go func() { cmd.Wait(); f.Close(); close(exit) }()
	p.mu.Lock()
	p.cmd, p.exit = cmd, exit
	p.mu.Unlock()
}

func (p *agentProc) proc() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.exit
}

// sigkill kills the process and waits until it is gone.
func (p *agentProc) sigkill() {
	cmd, exit := p.proc()
	cmd.Process.Kill()
	<-exit
}

func (p *agentProc) status() (st struct {
	Online  bool `json:"online"`
	Backlog int  `json:"backlog"`
}, err error) {
	_, err = gatetest.CallOK(p.url, http.MethodGet, "/v1/agent/status", p.token, nil, &st)
	return st, err
}

// TestAgentSIGKILLedMidUpload: a real agent process decides scans offline,
// is SIGKILLed after the cluster applied one of its upload batches but
// before it heard back, and is started again from its data dir: every
// offline scan reaches the cluster exactly once, each with its device time.
func TestAgentSIGKILLedMidUpload(t *testing.T) {
	park := gatetest.New(t, gatetest.Options{Nodes: 1})
	admin, err := gateapi.NewClient(gateapi.Config{URLs: []string{park.ServedURLs()[0]}, AdminToken: gatetest.AdminToken})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	if err := admin.SetPark(ctx, gateapi.ParkJSON{ID: "sunny", TimeZone: "UTC",
		Keys: []gateapi.KeyJSON{{ID: 1, Public: base64.StdEncoding.EncodeToString(pub)}}}); err != nil {
		t.Fatal(err)
	}
	g, err := admin.AddGate(ctx, gateapi.GateJSON{ID: "g1", Zone: "main", Direction: "in"})
	if err != nil {
		t.Fatal(err)
	}
	const n, batch = 400, 25
	codes := make([]string, n)
	from := time.Now().Add(-time.Hour).Truncate(time.Minute)
	var tickets []gateapi.TicketJSON
	for i := range codes {
		var id [16]byte
		rand.Read(id[:])
		if codes[i], err = code.Sign(priv, code.Claims{KeyID: 1, TicketID: id, Version: 1, Kind: uint8(ticket.Single),
			ValidFrom: from, ValidUntil: from.Add(24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		tickets = append(tickets, gateapi.TicketJSON{ID: ticket.FormatID(id), Version: 1, Product: "adult", Kind: "single",
			ValidFrom: from, ValidUntil: from.Add(24 * time.Hour), Status: "active", Code: codes[i], Park: "sunny"})
	}
	if r, err := admin.Issue(ctx, tickets); err != nil || r.Applied != n {
		t.Fatalf("issue: %+v, %v", r, err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &link{target: park.ServedURLs()[0]}
	srv := &http.Server{Handler: l}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	dir := t.TempDir()
	listen := freePort(t)
	p := &agentProc{t: t, url: "http://" + listen, log: filepath.Join(dir, "agent.log"), token: g.Token,
		args: []string{"gate", "agent", "--cluster", "http://" + ln.Addr().String(), "--gate", "g1", "--listen", listen,
			"--data-dir", filepath.Join(dir, "data"), "--budget", "500ms", "--upload-batch", fmt.Sprint(batch)},
		env: append(os.Environ(), "ADMIT_GATE_TOKEN="+g.Token)}
	t.Cleanup(func() {
		if cmd, _ := p.proc(); cmd != nil {
			p.sigkill()
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("agent log:\n%s", b)
		}
	})
	l.kill = p.sigkill
	p.start()
	waitAgent := func(what string, ok func(online bool, backlog int) bool) {
		t.Helper()
		clustertest.CheckFor(t, 60*time.Second, 20*time.Millisecond, func() error {
			st, err := p.status()
			if err != nil {
				return err
			}
			if !ok(st.Online, st.Backlog) {
				return fmt.Errorf("online %v, backlog %d", st.Online, st.Backlog)
			}
			return nil
		}, "agent %s", what)
	}
	waitAgent("online", func(on bool, _ int) bool { return on })

	l.down.Store(true)
	base := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Millisecond)
	for i, c := range codes {
		var r gateapi.ScanResponse
		if _, err := gatetest.CallOK(p.url, http.MethodPost, gateapi.PathScan, g.Token,
			gateapi.ScanRequest{Code: c, Gate: "g1", ScanID: fmt.Sprintf("g1:%d", i), DeviceTime: base.Add(time.Duration(i) * time.Second)}, &r); err != nil {
			t.Fatal(err)
		}
		if r.Result != gateapi.ResultAdmit || !r.Offline {
			t.Fatalf("scan %d while cut off: %+v; want an offline admit", i, r)
		}
	}

	l.killAt.Store(3)
	l.down.Store(false)
	_, exit := p.proc()
	<-exit // killed by the link in the middle of the third upload
	if got := len(l.uploads()); got != 3*batch {
		t.Fatalf("%d scans uploaded before the kill, want %d", got, 3*batch)
	}
	p.start()
	waitAgent("online with its backlog uploaded", func(on bool, backlog int) bool { return on && backlog == 0 })

	seen := map[string]int{}
	after := ""
	for {
		r, err := admin.Events(ctx, after, 10000)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Events) == 0 {
			break
		}
		for _, e := range r.Events {
			seen[e.ScanID]++
			i := 0
			fmt.Sscanf(e.ScanID, "g1:%d", &i)
			// The cluster records what the gate did and when the device
			// says it did it, beside its own log time.
			if e.Result != gateapi.ResultAdmit || !e.Offline || !e.DeviceTime.Equal(base.Add(time.Duration(i)*time.Second)) {
				t.Fatalf("event %+v: want an offline admit with device time %v", e, base.Add(time.Duration(i)*time.Second))
			}
		}
		after = r.Next
	}
	sent := map[string]int{}
	for _, s := range l.uploads() {
		sent[s.ScanID]++
		i := 0
		fmt.Sscanf(s.ScanID, "g1:%d", &i)
		if !s.DeviceTime.Equal(base.Add(time.Duration(i)*time.Second)) || s.Offline != gateapi.ResultAdmit {
			t.Fatalf("upload of %s: device time %v, offline %q; want %v, admit", s.ScanID, s.DeviceTime, s.Offline, base.Add(time.Duration(i)*time.Second))
		}
	}
	resent := 0
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("g1:%d", i)
		if seen[id] != 1 {
			t.Fatalf("scan %s reached the cluster %d times; want exactly once", id, seen[id])
		}
		if sent[id] > 1 {
			resent++
		}
	}
	if len(seen) != n {
		t.Fatalf("%d scans on the cluster, want %d", len(seen), n)
	}
	// The batch the agent never heard back about was sent again.
	if resent != batch {
		t.Fatalf("%d scans uploaded twice, want the %d of the interrupted batch", resent, batch)
	}
	if b, _ := os.ReadFile(p.log); !strings.Contains(string(b), "online") {
		t.Fatalf("agent log does not say it came back online:\n%s", b)
	}
}
