package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/rules"
	"github.com/admitpark/admit/validator/ticket"
)

// Agent is an offline-capable gate: it forwards scans to the cluster and,
// when the cluster does not answer within the budget, decides them itself
// and keeps them for upload. Create with New, start with Run, and serve
// Handler to the devices.
type Agent struct {
	cfg    Config
	log    *slog.Logger
	store  *Store
	client *gateapi.Client
	m      *metrics
	view   atomic.Pointer[view]
	online atomic.Bool

	feedMu  sync.Mutex // one changefeed reader at a time
	mu      sync.Mutex // serialises offline decisions and what they read
	seq     uint64     // last backlog sequence given
	pending map[[16]byte][]delta
	byScan  map[string][16]byte // scan id -> ticket, for pending deltas

	commits chan *commit
	wake    chan struct{} // the uploader: an offline decision or a failure
	stopped chan struct{} // closed when the committer has stopped
}

type commit struct {
	rec  *Record
	done chan error
}

// New opens the store in cfg.DataDir and loads what it holds. It does not
// call the cluster (Run does), so an agent starts while the cluster is down.
func New(cfg Config) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client, err := gateapi.NewClient(gateapi.Config{URLs: cfg.ClusterURLs, GateToken: cfg.GateToken,
		Timeout: cfg.RequestTimeout, Transport: cfg.Transport})
	if err != nil {
		return nil, err
	}
	st, err := OpenStore(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if n := st.Dropped(); n > 0 {
		log.Warn("gate agent: a torn decision at the end of the log was dropped (a crash before it was answered: that gate stayed shut)", "segments", n)
	}
	a := &Agent{cfg: cfg, log: log, store: st, client: client, pending: map[[16]byte][]delta{},
		byScan: map[string][16]byte{}, commits: make(chan *commit, 1024), wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	if err := a.load(); err != nil {
		st.Close()
		return nil, err
	}
	if a.m, err = newMetrics(cfg.Registerer, a); err != nil {
		st.Close()
		return nil, err
	}
	return a, nil
}

// load reads the cached keys, the last sequence and the offline admits
// the changefeed has not shown yet.
func (a *Agent) load() error {
	k, found, err := a.store.LoadKeys()
	if err != nil {
		return err
	}
	if found {
		v, err := newView(k, a.cfg.Gate)
		if err != nil {
			return fmt.Errorf("cached keys: %w", err)
		}
		a.view.Store(v)
	}
	if a.seq, err = a.store.LastSeq(); err != nil {
		return err
	}
	return a.store.Scans(func(r Record) error {
		if r.Admit {
			a.addPending(r.TicketID, delta{scanID: r.ScanID, out: r.Direction == gateapi.DirectionOut,
				persons: r.Persons, at: r.DeviceTime, gate: a.cfg.Gate})
		}
		return nil
	})
}

func (a *Agent) addPending(id [16]byte, d delta) {
	a.pending[id] = append(a.pending[id], d)
	a.byScan[d.scanID] = id
}

// dropPending forgets the delta of a scan the changefeed now shows.
func (a *Agent) dropPending(scanID string) bool {
	id, ok := a.byScan[scanID]
	if !ok {
		return false
	}
	delete(a.byScan, scanID)
	ds := a.pending[id]
	for i := range ds {
		if ds[i].scanID == scanID {
			ds = append(ds[:i], ds[i+1:]...)
			break
		}
	}
	if len(ds) == 0 {
		delete(a.pending, id)
	} else {
		a.pending[id] = ds
	}
	return true
}

// Run works until ctx ends: the committer, the uploader (which also finds
// out when the cluster is back), the changefeed follower and the key
// refresher. It closes the store when they have stopped.
func (a *Agent) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, f := range []func(context.Context){a.runCommitter, a.runUploader, a.runFeed, a.runKeys} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(ctx)
		}()
	}
	wg.Wait()
	a.m.unregister()
	return a.store.Close()
}

// Online reports whether scans go to the cluster now.
func (a *Agent) Online() bool { return a.online.Load() }

// Ready reports whether the agent can decide offline (it has keys).
func (a *Agent) Ready() bool { return a.view.Load() != nil }

// Backlog returns how many offline scans wait for upload.
func (a *Agent) Backlog() (int, error) { return a.store.BacklogLen() }

// RefreshKeys reads the keys and gate configuration from the cluster now.
func (a *Agent) RefreshKeys(ctx context.Context) error { return a.refreshKeys(ctx) }

func (a *Agent) goOffline(err error) {
	if a.online.Swap(false) {
		a.log.Warn("gate agent: the cluster did not answer in time; deciding offline", "err", err, "budget", a.cfg.Budget)
	}
	a.poke()
}

func (a *Agent) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// ErrBadRequest wraps what is wrong with a device's scan (a 400).
var ErrBadRequest = errors.New("bad scan request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadRequest}, args...)...)
}

// check validates a device's scan as the node does and fills in the gate
// and the device time.
func (a *Agent) check(r *gateapi.ScanRequest, now time.Time) error {
	switch {
	case r.Code == "" && r.Credential == nil:
		return badRequest(`"code" is required`)
	case len(r.Code) > maxCode:
		return badRequest(`"code" is longer than %d characters`, maxCode)
	case r.Gate != "" && r.Gate != a.cfg.Gate:
		return badRequest(`"gate" is %q: this agent scans for gate %q`, r.Gate, a.cfg.Gate)
	case r.ScanID == "" || len(r.ScanID) > 64:
		return badRequest(`"scan_id" must be 1-64 bytes, unique per gate (retries reuse it)`)
	case !ticket.CleanText(r.ScanID):
		return badRequest(`"scan_id" must be text without control characters`)
	case r.Persons > 10000:
		return badRequest(`"persons" must be at most 10000`)
	case r.Direction != "" && r.Direction != gateapi.DirectionIn && r.Direction != gateapi.DirectionOut:
		return badRequest(`"direction" must be "in" or "out", not %q`, r.Direction)
	case r.Offline != "":
		return badRequest(`"offline" is set by the agent when it uploads, not by a device`)
	}
	r.Gate = a.cfg.Gate
	if r.DeviceTime.IsZero() {
		r.DeviceTime = now.UTC()
	}
	return nil
}

// Scan decides one scan: the cluster's answer when it comes within the
// budget, else a local one. A 4xx from the cluster comes back as an error
// (*gateapi.Error).
func (a *Agent) Scan(ctx context.Context, req gateapi.ScanRequest) (gateapi.ScanResponse, error) {
	if err := a.check(&req, time.Now()); err != nil {
		return gateapi.ScanResponse{}, err
	}
	if a.online.Load() {
		cctx, cancel := context.WithTimeout(ctx, a.cfg.Budget)
		resp, err := a.client.Scan(cctx, req)
		cancel()
		if err == nil {
			a.learn(&req, &resp)
			a.m.decisions.WithLabelValues("online", resp.Result).Inc()
			return resp, nil
		}
		if gateapi.StatusOf(err)/100 == 4 {
			return resp, err
		}
		a.goOffline(err)
	}
	return a.decideOffline(ctx, &req)
}

// ScanBatch decides scans in order, as POST /v1/scans on a node.
func (a *Agent) ScanBatch(ctx context.Context, reqs []gateapi.ScanRequest) ([]gateapi.ScanResponse, error) {
	now := time.Now()
	for i := range reqs {
		if err := a.check(&reqs[i], now); err != nil {
			return nil, fmt.Errorf("scans[%d]: %w", i, err)
		}
	}
	if a.online.Load() {
		cctx, cancel := context.WithTimeout(ctx, a.cfg.Budget)
		out, err := a.client.ScanBatch(cctx, reqs)
		cancel()
		if err == nil && len(out) == len(reqs) {
			for i := range out {
				a.learn(&reqs[i], &out[i])
				a.m.decisions.WithLabelValues("online", out[i].Result).Inc()
			}
			return out, nil
		}
		if err != nil && gateapi.StatusOf(err)/100 == 4 {
			return nil, err
		}
		a.goOffline(err)
	}
	out := make([]gateapi.ScanResponse, len(reqs))
	for i := range reqs {
		r, err := a.decideOffline(ctx, &reqs[i])
		if err != nil {
			r = gateapi.ScanResponse{ScanID: reqs[i].ScanID, Result: gateapi.ResultDeny, Error: err.Error()}
		}
		out[i] = r
	}
	return out, nil
}

// learn keeps what an online answer tells about the ticket: an admit
// counts until the changefeed shows it; revoked and suspended tickets go
// on the deny list.
func (a *Agent) learn(req *gateapi.ScanRequest, resp *gateapi.ScanResponse) {
	if resp.TicketID == "" || resp.Rescan {
		return
	}
	id, err := ticket.ParseID(resp.TicketID)
	if err != nil {
		return
	}
	switch {
	case resp.Result == gateapi.ResultAdmit:
		a.mu.Lock()
		if _, dup := a.byScan[req.ScanID]; !dup {
			a.addPending(id, delta{scanID: req.ScanID, out: req.Direction == gateapi.DirectionOut,
				persons: max(resp.Persons, 1), at: time.Now().UnixMilli(), gate: a.cfg.Gate})
		}
		a.mu.Unlock()
	case resp.Reason == gateapi.ReasonRevoked || resp.Reason == gateapi.ReasonSuspended:
		if err := a.store.AddDeny(id, resp.Reason); err != nil {
			a.log.Warn("gate agent: deny list", "err", err)
		}
	}
}

// decideOffline decides locally, commits the decision (fsync) and only
// then answers. A scan id decided offline before gets its first answer.
func (a *Agent) decideOffline(ctx context.Context, req *gateapi.ScanRequest) (gateapi.ScanResponse, error) {
	start := time.Now()
	if req.Code == "" { // a credential: only the cluster knows whose it is
		a.m.decisions.WithLabelValues("offline", gateapi.ResultDeny).Inc()
		return gateapi.ScanResponse{ScanID: req.ScanID, Result: gateapi.ResultDeny, Reason: gateapi.ReasonUnknown, Offline: true}, nil
	}
	if old, found, err := a.store.Scan(req.ScanID); err != nil {
		return gateapi.ScanResponse{}, err
	} else if found {
		return recordResponse(&old), nil
	}
	c, perr := code.Parse(req.Code)
	a.mu.Lock()
	in := local{policy: a.cfg.Policy, zoneBit: a.cfg.ZoneBit, gate: a.cfg.Gate, v: a.view.Load()}
	if in.zoneBit < 0 && in.v != nil {
		in.zoneBit = in.v.zoneBit // the cluster's, unless the flag says
	}
	if perr == nil && in.v != nil && in.policy == AllowOncePerDevice {
		id := c.TicketID()
		var err error
		if in.use, in.found, in.denied, err = a.store.Use(id, in.v.zone); err != nil {
			a.mu.Unlock()
			return gateapi.ScanResponse{}, err
		}
		in.pending = a.pending[id]
	}
	now := time.Now()
	resp, rec := decide(req, c, perr, &in, now)
	a.seq++
	rec.Seq = a.seq
	if rec.Admit {
		a.addPending(rec.TicketID, delta{scanID: rec.ScanID, out: in.v.direction(req.Direction) == rules.Out,
			persons: max(resp.Persons, 1), at: now.UnixMilli(), gate: a.cfg.Gate})
	}
	// Handed to the committer under mu: the log gets decisions in the
	// order they were made (and numbered).
	cm := &commit{rec: rec, done: make(chan error, 1)}
	var err error
	select {
	case a.commits <- cm:
	case <-a.stopped:
		err = errStopped
	}
	a.mu.Unlock()
	if err == nil {
		select {
		case err = <-cm.done:
		case <-a.stopped:
			err = errStopped
		}
	}
	if err != nil {
		// Not durable: the gate stays shut. After a failed write the log
		// takes no more decisions until the agent restarts: say so loudly.
		a.log.Error("gate agent: offline decision not stored; gate stays shut", "scan_id", req.ScanID, "err", err)
		return gateapi.ScanResponse{}, err
	}
	a.m.decisions.WithLabelValues("offline", resp.Result).Inc()
	a.m.decideSeconds.Observe(time.Since(start).Seconds())
	a.poke()
	return resp, nil
}

func recordResponse(r *Record) gateapi.ScanResponse {
	resp := gateapi.ScanResponse{ScanID: r.ScanID, Result: gateapi.ResultDeny, Reason: r.Reason, Rescan: true,
		Offline: true, EntriesUsed: r.Used, EntriesAllowed: r.Allowed}
	if r.Admit {
		resp.Result = gateapi.ResultAdmit
	}
	if r.TicketID != ([16]byte{}) {
		resp.TicketID = ticket.FormatID(r.TicketID)
	}
	return resp
}

// runCommitter writes offline decisions in groups: one fdatasync for
// every decision waiting (group commit, as the cluster's batcher does).
func (a *Agent) runCommitter(ctx context.Context) {
	defer close(a.stopped)
	var batch []*commit
	for {
		select {
		case <-ctx.Done():
			// Decisions still queued get an error: their gates stay shut.
			for {
				select {
				case c := <-a.commits:
					c.done <- errStopped
				default:
					return
				}
			}
		case c := <-a.commits:
			batch = append(batch[:0], c)
		drain:
			for len(batch) < 1024 {
				select {
				case c := <-a.commits:
					batch = append(batch, c)
				default:
					break drain
				}
			}
			recs := make([]*Record, len(batch))
			for i, c := range batch {
				recs[i] = c.rec
			}
			err := a.store.Commit(recs)
			for _, c := range batch {
				c.done <- err
			}
			// The gates are open; now the next segment, if one is due.
			if err := a.store.Prepare(); err != nil {
				a.log.Warn("gate agent: preparing the next log segment", "err", err)
			}
		}
	}
}

// Status is what GET /v1/agent/status shows.
type Status struct {
	Gate    string `json:"gate"`
	Online  bool   `json:"online"`
	Policy  string `json:"policy"`
	Backlog int    `json:"backlog"`
	Keys    int    `json:"keys"`
	Zone    string `json:"zone,omitempty"`
	// ZoneBit is the bit offline zone checks use: the flag's, else the
	// cluster's; -1 when neither knows it (zones unchecked offline).
	ZoneBit int `json:"zone_bit"`
}

// Status reports the agent's state.
func (a *Agent) Status() (Status, error) {
	n, err := a.store.BacklogLen()
	s := Status{Gate: a.cfg.Gate, Online: a.online.Load(), Policy: a.cfg.Policy.String(), Backlog: n, ZoneBit: a.cfg.ZoneBit}
	if v := a.view.Load(); v != nil {
		s.Keys, s.Zone = v.nkey, v.zone
		if s.ZoneBit < 0 {
			s.ZoneBit = v.zoneBit
		}
	}
	return s, err
}
