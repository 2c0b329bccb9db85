package sync

// TestRecoveryAfterFaults: the relay killed mid-batch, the cluster leader
// killed, PostgreSQL restarted, all while the outbox is being sent; after
// recovery the cluster holds every ticket exactly at its newest version.

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	gosync "sync"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster/clustertest"
	salesdb "github.com/admitpark/admit/sales/db"
	"github.com/admitpark/admit/sales/pgserver"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gateapi"
)

// ownPG is a PostgreSQL server of the test's own (not pgtest's shared
// one), so that the test can restart it.
type ownPG struct {
	t   *testing.T
	cfg pgserver.Config
	mu  gosync.Mutex
	srv *pgserver.Server
}

const ownDatabase = "sales"

// startOwnPG starts a server in a temp dir and returns it with a pool on a
// migrated database. Both stop at cleanup.
func startOwnPG(t *testing.T) (*ownPG, *db) {
	t.Helper()
	cfg := pgserver.DefaultConfig(filepath.Join(t.TempDir(), "pgdata"))
	cfg.NoSync = true
	cfg.Logger = testConfig(t, nil, "").Log
	pg := &ownPG{t: t, cfg: cfg}
	srv, err := pgserver.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	pg.srv = srv
	pg.cfg.Port = srv.Port() // a restart comes back where clients look
	t.Cleanup(func() {
		pg.mu.Lock()
		defer pg.mu.Unlock()
		if err := pg.srv.Stop(); err != nil {
			t.Errorf("stop PostgreSQL: %v", err)
		}
	})
	if err := srv.CreateDatabase(t.Context(), ownDatabase); err != nil {
		t.Fatal(err)
	}
	pool, err := salesdb.Open(t.Context(), srv.DSN(ownDatabase), salesdb.PoolConfig{MaxConns: 8, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close) // runs before the server stops
	if _, err := salesdb.Migrate(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	return pg, &db{t: t, pool: pool}
}

// restart stops the server (pg_ctl stop -m fast: every session is cut)
// and starts it again on the same directory and port.
func (pg *ownPG) restart() {
	pg.t.Helper()
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if err := pg.srv.Stop(); err != nil {
		pg.t.Fatal(err)
	}
	srv, err := pgserver.Start(context.Background(), pg.cfg)
	if err != nil {
		pg.t.Fatal(err)
	}
	pg.srv = srv
}

// faultProxy stands between relays and the cluster: it forwards each
// request to a served node and may hold a reply after the cluster has
// acted on the request, while the test injects a fault. The relay then
// hears the answer only after the fault, or never.
type faultProxy struct {
	p       *park
	srv     *httptest.Server
	http    *http.Client
	holdAt  map[int]bool // POSTs (counted from 1) whose 2xx reply is held
	held    chan string  // what the held request was
	release chan struct{}
	closed  chan struct{}

	mu    gosync.Mutex
	posts int
}

func newFaultProxy(t *testing.T, p *park, holdAt ...int) *faultProxy {
	x := &faultProxy{p: p, http: &http.Client{Timeout: 30 * time.Second}, holdAt: map[int]bool{},
		held: make(chan string), release: make(chan struct{}), closed: make(chan struct{})}
	for _, n := range holdAt {
		x.holdAt[n] = true
	}
	x.srv = httptest.NewServer(x)
	t.Cleanup(func() {
		close(x.closed)
		x.srv.Close()
	})
	return x
}

func (x *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	urls := x.p.ServedURLs()
	if len(urls) == 0 {
		http.Error(w, "no node served", http.StatusBadGateway)
		return
	}
	// Not r.Context(): a relay killed meanwhile must not stop the
	// cluster from acting on what it was sent.
	req, err := http.NewRequestWithContext(context.Background(), r.Method, urls[0]+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := x.http.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	reply, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if r.Method == http.MethodPost && resp.StatusCode < 300 {
		x.mu.Lock()
		x.posts++
		n := x.posts
		x.mu.Unlock()
		if x.holdAt[n] {
			select {
			case x.held <- fmt.Sprintf("POST #%d %s (%d bytes)", n, r.URL.Path, len(body)):
				select {
				case <-x.release:
				case <-x.closed:
				}
			case <-x.closed:
			}
		}
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(reply)
}

// waitHeld waits until a reply is held and logs which request it answers.
func (x *faultProxy) waitHeld(t *testing.T) {
	t.Helper()
	select {
	case what := <-x.held:
		t.Logf("reply held: %s", what)
	case <-time.After(60 * time.Second):
		t.Fatal("no request reached the fault point within 60s")
	}
}

func (x *faultProxy) releaseHeld() { x.release <- struct{}{} }

// ticketAt reads a ticket from the node at base; found is false on 404.
func (p *park) ticketAt(base, id string) (v gateapi.TicketView, found bool, err error) {
	status, err := p.callAt(base, http.MethodGet, gateapi.PathTickets+id, adminToken, nil, &v)
	if status == http.StatusNotFound {
		return v, false, nil
	}
	return v, err == nil, err
}

func TestRecoveryAfterFaults(t *testing.T) {
	const n = 300
	p := newPark(t)
	t0 := time.Now()
	pg, d := startOwnPG(t)
	t.Logf("own PostgreSQL up in %v", time.Since(t0).Round(time.Millisecond))

	// Outbox: issue v1 for every ticket; v2 (a reprint: new code) for
	// every third, two steps later; a revoke at v3 for every sixth, two
	// steps after its v2. Interleaved in seq order, so issue batches are
	// cut by revokes.
	type want struct {
		v1, newest gateapi.TicketJSON
		version    uint64
		status     string
	}
	tickets := make([]want, n)
	rows := 0
	for i := 0; i < n+4; i++ {
		if i < n {
			tj := p.newTicket()
			tickets[i] = want{v1: tj, newest: tj, version: 1, status: "active"}
			d.issue(tj)
			rows++
		}
		if j := i - 2; j >= 0 && j < n && j%3 == 0 {
			tickets[j].newest = p.version(tickets[j].v1, 2)
			tickets[j].version = 2
			d.issue(tickets[j].newest)
			rows++
		}
		if j := i - 4; j >= 0 && j < n && j%6 == 0 {
			tickets[j].version, tickets[j].status = 3, "revoked"
			d.insert("revoke", tickets[j].v1.ID, 3, gateapi.ChangeRequest{Version: 3})
			rows++
		}
	}
	if got := d.unsent(); got != rows || rows != n+n/3+n/6 {
		t.Fatalf("%d unsent of %d rows", got, rows)
	}

	// Faults, at POSTs the cluster has acknowledged but whose replies the
	// proxy holds: 5 (an issue batch) kills relay A; 12 kills the leader;
	// 21 (an issue batch) restarts PostgreSQL; 31 restarts the killed node.
	x := newFaultProxy(t, p, 5, 12, 21, 31)
	cfgA := testConfig(t, d.pool, x.srv.URL)
	cfgA.Batch = 20
	relayA := newRelay(t, cfgA)
	tA := time.Now()
	stopA := run(t, relayA.Run)
	x.waitHeld(t)
	stopA() // killed mid-batch: its last batch applied, never marked sent
	x.releaseHeld()
	leftA := d.unsent()
	t.Logf("relay A killed mid-batch after %v: %d of %d rows marked sent", time.Since(tA).Round(time.Millisecond), rows-leftA, rows)
	if leftA == 0 || leftA == rows {
		t.Fatalf("relay A left %d of %d rows unsent", leftA, rows)
	}
	// The cluster has acted on rows relay A never marked: they must be resent.
	ahead := 0
	err := pgxRows(d, func(id string, version uint64) error {
		v, found, err := p.ticketAt(p.ServedURLs()[0], id)
		if err != nil {
			return err
		}
		if found && v.Ticket.Version >= version {
			ahead++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ahead == 0 {
		t.Fatal("no unsent row was already applied: relay A was not killed between ack and mark")
	}
	t.Logf("%d unsent rows were already applied by the cluster (acked, not marked)", ahead)

	// Relay B, a restarted process on the same database, through the faults.
	cfgB := testConfig(t, d.pool, x.srv.URL)
	cfgB.Batch, cfgB.Timeout = 20, 30*time.Second // a held reply must not time out
	relayB := newRelay(t, cfgB)
	tB := time.Now()
	stopB := run(t, relayB.Run)

	x.waitHeld(t)
	leader := p.h.Leader()
	if leader == nil {
		t.Fatal("no leader")
	}
	tf := time.Now()
	p.Unserve(leader)
	p.h.Kill(leader)
	p.h.WaitLeader(20 * time.Second)
	t.Logf("leader %s killed; new leader %s elected in %v", leader.ID, p.h.Leader().ID, time.Since(tf).Round(time.Millisecond))
	x.releaseHeld()

	x.waitHeld(t)
	tf = time.Now()
	pg.restart()
	t.Logf("PostgreSQL restarted in %v (relay B's connections cut while it waited on the cluster)", time.Since(tf).Round(time.Millisecond))
	x.releaseHeld()

	x.waitHeld(t)
	tf = time.Now()
	p.h.Restart(leader)
	p.Serve(leader)
	t.Logf("node %s restarted in %v", leader.ID, time.Since(tf).Round(time.Millisecond))
	x.releaseHeld()

	clustertest.CheckFor(t, 60*time.Second, 20*time.Millisecond, func() error {
		var left int
		if err := d.pool.QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&left); err != nil {
			return err
		}
		if left != 0 {
			return fmt.Errorf("%d rows unsent", left)
		}
		return nil
	}, "the backlog to drain")
	t.Logf("relay B drained the backlog in %v (relay_active=%v, errors: db=%v lock=%v issue=%v revoke=%v)",
		time.Since(tB).Round(time.Millisecond), metric(t, cfgB, "admit_sync_relay_active", ""),
		metric(t, cfgB, "admit_sync_errors_total", "db"), metric(t, cfgB, "admit_sync_errors_total", "lock"),
		metric(t, cfgB, "admit_sync_errors_total", "issue"), metric(t, cfgB, "admit_sync_errors_total", "revoke"))
	// The gauge is set at the end of each pass: wait for the pass that saw 0.
	waitFor(t, "the backlog metric to reach 0", func() error {
		if got := metric(t, cfgB, "admit_sync_outbox_backlog", ""); got != 0 {
			return fmt.Errorf("backlog metric = %v", got)
		}
		return nil
	})
	stopB()
	var notes int
	if err := d.pool.QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE note IS NOT NULL`).Scan(&notes); err != nil || notes != 0 {
		t.Fatalf("%d rows given up or refused (%v)", notes, err)
	}

	// Every node, the restarted one too, has every ticket at its newest
	// version, status and code.
	check := func(when string) {
		t.Helper()
		tc := time.Now()
		target := p.h.Leader().Node().AppliedIndex()
		p.h.WaitApplied(target, 20*time.Second)
		for _, base := range p.ServedURLs() {
			for i, w := range tickets {
				v, found, err := p.ticketAt(base, w.v1.ID)
				if err != nil || !found {
					t.Fatalf("%s: ticket %d (%s) at %s: found %v, %v", when, i, w.v1.ID, base, found, err)
				}
				dg, err := code.DigestOf(w.newest.Code)
				if err != nil {
					t.Fatal(err)
				}
				if v.Ticket.Version != w.version || v.Ticket.Status != w.status || v.Ticket.Digest != hex.EncodeToString(dg[:]) {
					t.Fatalf("%s: ticket %d at %s: version %d status %s digest %s; want version %d status %s digest of v%d",
						when, i, base, v.Ticket.Version, v.Ticket.Status, v.Ticket.Digest, w.version, w.status, w.newest.Version)
				}
			}
		}
		t.Logf("%s: %d tickets checked on %d nodes in %v", when, n, len(p.ServedURLs()), time.Since(tc).Round(time.Millisecond))
	}
	check("after recovery")

	// Resends are harmless: every row sent once more changes nothing.
	if _, err := d.pool.Exec(t.Context(), `UPDATE outbox SET sent_at = NULL`); err != nil {
		t.Fatal(err)
	}
	relayC := newRelay(t, testConfig(t, d.pool, p.ClusterURLs()))
	if sent, err := relayC.SendPending(t.Context()); err != nil || sent != rows {
		t.Fatalf("resend all: %d of %d, %v", sent, rows, err)
	}
	check("after resending every row")

	// The codes decide as the versions say: the newest admits, an older
	// print is replaced, a revoked ticket is refused.
	gateToken := p.addGate("north-1", "main", "in")
	for i := 0; i < 24; i++ {
		w := tickets[i]
		res := p.scan("north-1", gateToken, w.newest.Code)
		switch {
		case w.status == "revoked":
			if res.Result != "deny" || res.Reason != "revoked" {
				t.Errorf("ticket %d (revoked): newest code %+v", i, res)
			}
		default:
			if res.Result != "admit" {
				t.Errorf("ticket %d (v%d): newest code %+v", i, w.version, res)
			}
		}
		if w.version > 1 {
			if res := p.scan("north-1", gateToken, w.v1.Code); res.Result != "deny" || res.Reason != "replaced" {
				t.Errorf("ticket %d: old code %+v, want replaced", i, res)
			}
		}
	}
	t.Logf("total %v", time.Since(t0).Round(time.Millisecond))
}

// pgxRows calls fn with the ticket id and version of every unsent row.
func pgxRows(d *db, fn func(id string, version uint64) error) error {
	rows, err := d.pool.Query(d.t.Context(), `SELECT replace(ticket_id::text, '-', ''), version FROM outbox WHERE sent_at IS NULL ORDER BY seq`)
	if err != nil {
		return err
	}
	type row struct {
		id string
		v  int64
	}
	var list []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.v); err != nil {
			rows.Close()
			return err
		}
		list = append(list, r)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var errs []error
	for _, r := range list {
		errs = append(errs, fn(r.id, uint64(r.v)))
	}
	return errors.Join(errs...)
}
