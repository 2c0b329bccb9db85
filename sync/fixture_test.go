package sync

// A real 3-node park cluster with the gate API served over HTTP on every
// node, as `admit node` serves it (validator/gate/gatetest), and helpers
// for outbox rows.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/sales/pgtest"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gate/gatetest"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

const adminToken = gatetest.AdminToken

// park is a real 3-node cluster serving the gate API (gatetest), with a key
// to sign ticket codes.
type park struct {
	*gatetest.Park
	t   *testing.T
	h   *clustertest.Harness
	key ed25519.PrivateKey
}

func newPark(t *testing.T) *park {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	g := gatetest.New(t, gatetest.Options{})
	return &park{Park: g, t: t, h: g.H, key: key}
}

// url is the first node that is served now.
func (p *park) url() string { return p.ServedURLs()[0] }

// call sends a JSON request to the first node and decodes the reply; it
// returns the status.
func (p *park) call(method, path, token string, body, out any) (int, error) {
	return p.callAt(p.url(), method, path, token, body, out)
}

// callAt is gatetest.CallOK: a reply of 300 or more is an error.
func (p *park) callAt(base, method, path, token string, body, out any) (int, error) {
	return gatetest.CallOK(base, method, path, token, body, out)
}

// addGate registers a gate directly and returns its token.
func (p *park) addGate(id, zone, direction string) string {
	p.t.Helper()
	var g gateapi.GateJSON
	if _, err := p.call(http.MethodPost, gateapi.PathGates, adminToken, gateapi.GateJSON{ID: id, Zone: zone, Direction: direction}, &g); err != nil {
		p.t.Fatal(err)
	}
	return g.Token
}

// scan scans code at a gate and wants a decision.
func (p *park) scan(gateID, token, c string) gateapi.ScanResponse {
	p.t.Helper()
	var resp gateapi.ScanResponse
	if _, err := p.call(http.MethodPost, gateapi.PathScan, token,
		gateapi.ScanRequest{Code: c, Gate: gateID, ScanID: gateID + ":" + newID(), Direction: "in"}, &resp); err != nil {
		p.t.Fatal(err)
	}
	return resp
}

func newID() string {
	var id [16]byte
	rand.Read(id[:])
	return ticket.FormatID(id)
}

// newTicket makes an active single-entry ticket of version 1, valid around
// now, with a code signed by the park's key.
func (p *park) newTicket() gateapi.TicketJSON {
	return p.version(gateapi.TicketJSON{ID: newID(), Product: "day-adult", Kind: "single",
		ValidFrom: time.Now().Truncate(time.Minute).Add(-time.Hour), ValidUntil: time.Now().Truncate(time.Minute).Add(24 * time.Hour)}, 1)
}

// version returns tj at version v with a new code (a reprint).
func (p *park) version(tj gateapi.TicketJSON, v uint64) gateapi.TicketJSON {
	p.t.Helper()
	id, err := ticket.ParseID(tj.ID)
	if err != nil {
		p.t.Fatal(err)
	}
	kind, err := ticket.ParseKind(tj.Kind)
	if err != nil {
		p.t.Fatal(err)
	}
	tj.Version = v
	tj.Code, err = code.Sign(p.key, code.Claims{TicketID: id, Version: uint32(v), Kind: uint8(kind),
		ValidFrom: tj.ValidFrom, ValidUntil: tj.ValidUntil})
	if err != nil {
		p.t.Fatal(err)
	}
	return tj
}

// clusterTicket reads a ticket from the cluster.
func (p *park) clusterTicket(id string) gateapi.TicketView {
	p.t.Helper()
	var v gateapi.TicketView
	if _, err := p.call(http.MethodGet, gateapi.PathTickets+id, adminToken, nil, &v); err != nil {
		p.t.Fatal(err)
	}
	return v
}

// db is a test database with outbox helpers.
type db struct {
	t    *testing.T
	pool *pgxpool.Pool
}

func newDB(t *testing.T) *db { return &db{t: t, pool: pgtest.NewDB(t)} }

// insert adds an outbox row and returns its seq.
func (d *db) insert(kind string, ticketID string, version uint64, payload any) int64 {
	d.t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		d.t.Fatal(err)
	}
	var tid, ver any
	if ticketID != "" {
		tid, ver = ticketID, int64(version)
	}
	var seq int64
	if err := d.pool.QueryRow(d.t.Context(), `INSERT INTO outbox (kind, ticket_id, version, payload) VALUES ($1, $2, $3, $4) RETURNING seq`,
		kind, tid, ver, b).Scan(&seq); err != nil {
		d.t.Fatal(err)
	}
	return seq
}

func (d *db) issue(tj gateapi.TicketJSON) int64 { return d.insert("issue", tj.ID, tj.Version, tj) }

func (d *db) unsent() int {
	d.t.Helper()
	var n int
	if err := d.pool.QueryRow(d.t.Context(), `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&n); err != nil {
		d.t.Fatal(err)
	}
	return n
}

func (d *db) sent(seq int64) bool {
	d.t.Helper()
	var ok bool
	if err := d.pool.QueryRow(d.t.Context(), `SELECT sent_at IS NOT NULL FROM outbox WHERE seq = $1`, seq).Scan(&ok); err != nil {
		d.t.Fatal(err)
	}
	return ok
}

func testConfig(t *testing.T, pool *pgxpool.Pool, urls string) Config {
	cfg := DefaultConfig()
	cfg.Pool, cfg.ClusterURLs, cfg.AdminToken = pool, urls, adminToken
	cfg.Log = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Registerer = prometheus.NewRegistry()
	cfg.Backoff, cfg.MaxBackoff, cfg.LockRetry = 20*time.Millisecond, 200*time.Millisecond, 20*time.Millisecond
	cfg.Timeout = 5 * time.Second
	return cfg
}

func newRelay(t *testing.T, cfg Config) *Relay {
	t.Helper()
	r, err := NewRelay(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// run starts r.Run and returns a stop func that cancels it and waits.
func run(t *testing.T, fn func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	var once gosync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// closedURL is a URL where nothing listens.
func closedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// tWriter sends logs to t.Log while the test runs.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func waitFor(t *testing.T, what string, fn func() error) {
	t.Helper()
	clustertest.CheckFor(t, 15*time.Second, 10*time.Millisecond, fn, "%s", what)
}

// metric reads a counter, gauge or histogram sample count from the
// registry cfg.Registerer is; label is the kind label's value, or "".
func metric(t *testing.T, cfg Config, name, label string) float64 {
	t.Helper()
	mfs, err := cfg.Registerer.(*prometheus.Registry).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}
