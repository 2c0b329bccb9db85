// Package drill runs failover drills: steady scan traffic from many
// simulated gates through every node while the leader is killed (SIGKILL),
// asked to hand over, or cut off from its peers by a network partition,
// with every scan recorded and the whole history checked for double entries
// and linearizability (bench/linearize).
package drill

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/admitpark/admit/bench/linearize"
	"github.com/admitpark/admit/bench/load"
	"github.com/admitpark/admit/cluster/adminclient"
	"github.com/admitpark/admit/cluster/localproc"
	"github.com/admitpark/admit/validator/gateapi"
)

// Options of a failover drill.
type Options struct {
	// Binary is the admit executable for local nodes.
	Binary string
	// Nodes in the local cluster (3 or 5); DataDir for their data (empty: a
	// temporary dir, removed afterwards).
	Nodes   int
	DataDir string
	// Cluster: node URLs of an existing cluster (then only Mode "transfer"),
	// with its AdminToken. Empty: the drill starts its own cluster.
	Cluster    []string
	AdminToken string
	// Mode: "kill" (SIGKILL the leader, restart it), "transfer" (leadership
	// transfer through the admin API) or "partition" (cut the leader off
	// from every peer, both ways, for half a round, then heal; the local
	// nodes run with --fault-injection).
	Mode      string
	Rounds    int
	RoundTime time.Duration
	// Gates simulated, each scanning every Interval; Tickets loaded.
	Gates    int
	Interval time.Duration
	Tickets  int
	// ScansPerTicket: consecutive scans (from different gates, at about the
	// same time) of one ticket, so gates race for it.
	ScansPerTicket int
	// Timeout of one scan attempt; CheckTimeout bounds the check.
	Timeout      time.Duration
	CheckTimeout time.Duration
	// HTMLPath: where porcupine's visualization goes when the check fails.
	HTMLPath string
	// Progress, when set, gets a line now and then.
	Progress func(string)
}

// DefaultOptions for a local 3-node kill drill.
func DefaultOptions() Options {
	return Options{
		Nodes: 3, Mode: "kill", Rounds: 3, RoundTime: 5 * time.Second, Gates: 16,
		Interval: 20 * time.Millisecond, Tickets: 20000, ScansPerTicket: 3,
		Timeout: 2 * time.Second, CheckTimeout: 60 * time.Second, HTMLPath: "drill-linearize.html",
	}
}

// Validate reports the first problem with o.
func (o Options) Validate() error {
	switch {
	case o.Mode != "kill" && o.Mode != "transfer" && o.Mode != "partition":
		return fmt.Errorf("mode %q: use kill, transfer or partition", o.Mode)
	case len(o.Cluster) > 0 && o.Mode != "transfer":
		return errors.New("against an existing cluster only --mode transfer is possible")
	case len(o.Cluster) > 0 && o.AdminToken == "":
		return errors.New("an existing cluster needs its admin token")
	case len(o.Cluster) == 0 && (o.Nodes < 3 || o.Nodes > 9):
		return fmt.Errorf("nodes %d: use 3 to 9 (3 or 5 make sense)", o.Nodes)
	case len(o.Cluster) == 0 && o.Binary == "":
		return errors.New("no admit binary to run nodes with")
	case o.Rounds < 1 || o.Rounds > 100:
		return errors.New("rounds must be 1-100")
	case o.RoundTime < 500*time.Millisecond || o.RoundTime > 10*time.Minute:
		return errors.New("round time must be 500ms-10m")
	case o.Gates < 1 || o.Gates > 1000:
		return errors.New("gates must be 1-1000")
	case o.Interval <= 0:
		return errors.New("interval must be positive")
	case o.Tickets < 1 || o.ScansPerTicket < 1:
		return errors.New("tickets and scans per ticket must be at least 1")
	case o.Timeout <= 0:
		return errors.New("timeout must be positive")
	}
	return nil
}

// Counts of scans (logical scans, each with its own scan_id).
type Counts struct {
	Admitted int64 `json:"admitted"`
	Denied   int64 `json:"denied"`
	Failed   int64 `json:"failed"`   // no decision after every retry
	Attempts int64 `json:"attempts"` // HTTP requests, retries included
	Retries  int64 `json:"retries"`  // attempts after a failed one
	Rescans  int64 `json:"rescans"`  // decisions that came back with rescan: the original decision
}

// Round is one leader change.
type Round struct {
	Round     int    `json:"round"`
	Mode      string `json:"mode"`
	OldLeader string `json:"old_leader"`
	NewLeader string `json:"new_leader"`
	// LeaderlessMs: from the kill, transfer or cut until a new leader (a
	// later term) is seen; in partition mode, a new leader on the majority
	// side that a quorum of it names.
	LeaderlessMs float64 `json:"leaderless_ms"`
	// SettleMs: from the kill or transfer (partition mode: from the heal)
	// until every node follows one leader again.
	SettleMs float64 `json:"settle_ms"`
	// PartitionMs: how long the old leader was cut off, and StepDownMs
	// until it stopped calling itself leader (partition mode).
	PartitionMs float64 `json:"partition_ms,omitempty"`
	StepDownMs  float64 `json:"step_down_ms,omitempty"`
	MaxErrorRun int     `json:"max_error_run"` // longest run of failed attempts any gate saw
	MaxErrorMs  float64 `json:"max_error_run_ms"`
	Counts
	Error string `json:"error,omitempty"`
}

// Report of a drill.
type Report struct {
	Mode          string           `json:"mode"`
	Nodes         int              `json:"nodes"`
	Gates         int              `json:"gates"`
	Rounds        []Round          `json:"rounds"`
	Total         Counts           `json:"total"`
	MaxErrorRun   int              `json:"max_error_run"`
	MaxErrorMs    float64          `json:"max_error_run_ms"`
	MaxLeaderless float64          `json:"max_leaderless_ms"`
	DoubleEntries int              `json:"double_entries"`
	DoubleExample []string         `json:"double_entry_examples,omitempty"`
	Linearizable  bool             `json:"linearizable"`
	Check         linearize.Result `json:"check"`
	DurationMs    float64          `json:"duration_ms"`
	DataDir       string           `json:"data_dir,omitempty"` // kept when a local drill failed
}

// Failed says why the drill failed, or "" when it passed.
func (r *Report) Failed() string {
	var why []string
	if r.DoubleEntries > 0 {
		why = append(why, fmt.Sprintf("%d double entries", r.DoubleEntries))
	}
	if !r.Linearizable {
		s := "history not linearizable (" + r.Check.Outcome + ")"
		if r.Check.HTMLPath != "" {
			s += ", see " + r.Check.HTMLPath
		}
		why = append(why, s)
	}
	for _, rd := range r.Rounds {
		if rd.Error != "" {
			why = append(why, fmt.Sprintf("round %d: %s", rd.Round, rd.Error))
		}
	}
	return strings.Join(why, "; ")
}

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Run runs a drill and returns its report. An error means the drill could
// not run; a drill that ran and found a problem says so in Report.Failed.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	progress := o.Progress
	if progress == nil {
		progress = func(string) {}
	}
	start := time.Now()
	token, urls := o.AdminToken, o.Cluster
	var lc *localCluster
	keep := false
	if len(urls) == 0 {
		if token == "" {
			token = randomToken()
		}
		progress(fmt.Sprintf("starting %d admit node processes", o.Nodes))
		var err error
		if lc, err = startLocal(ctx, o.Binary, o.Nodes, o.DataDir, token, o.Mode == "partition"); err != nil {
			return nil, err
		}
		defer func() { lc.stop(keep) }()
		urls = lc.URLs()
	}
	admin := adminAt(urls, token, 15*time.Second)
	gates, err := gateapi.NewClient(gateapi.Config{URLs: urls, AdminToken: token, Timeout: 15 * time.Second})
	if err != nil {
		return nil, err
	}

	// Gates and tickets.
	runID := randomToken()[:6]
	gateIDs := make([]string, o.Gates)
	for i := range gateIDs {
		gateIDs[i] = fmt.Sprintf("drill-%s-%d", runID, i)
		if _, err := gates.AddGate(ctx, gateapi.GateJSON{ID: gateIDs[i], Zone: "main", Direction: gateapi.DirectionBoth}); err != nil {
			return nil, fmt.Errorf("register gate: %w", err)
		}
	}
	progress(fmt.Sprintf("loading %d tickets", o.Tickets))
	var buf bytes.Buffer
	if _, err := load.Run(ctx, gates, load.DefaultOptions(o.Tickets), &buf, nil); err != nil {
		return nil, fmt.Errorf("load tickets: %w", err)
	}
	codes := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") // Base45 has spaces
	if err := waitGatesEverywhere(ctx, gates, gateIDs[len(gateIDs)-1]); err != nil {
		return nil, err
	}

	rep := &Report{Mode: o.Mode, Nodes: len(urls), Gates: o.Gates}
	rec := linearize.NewRecorder()
	tr := newTraffic(o, urls, token, gateIDs, codes, rec)
	tctx, stopTraffic := context.WithCancel(ctx)
	var wg sync.WaitGroup
	tr.start(tctx, &wg)

	for r := 1; r <= o.Rounds && ctx.Err() == nil; r++ {
		tr.round.Store(int32(r))
		rd := Round{Round: r, Mode: o.Mode}
		wait(ctx, o.RoundTime/2)
		progress(fmt.Sprintf("round %d/%d: %s the leader", r, o.Rounds, map[string]string{"kill": "SIGKILL", "transfer": "transfer from", "partition": "cut off"}[o.Mode]))
		if err := tr.failover(ctx, lc, admin, &rd); err != nil {
			rd.Error = err.Error()
		}
		wait(ctx, o.RoundTime-o.RoundTime/2)
		tr.closeRound(&rd)
		progress(fmt.Sprintf("round %d/%d: %s -> %s, %.0f ms without a leader, %d admitted, %d denied, %d failed, longest error run %d",
			r, o.Rounds, rd.OldLeader, rd.NewLeader, rd.LeaderlessMs, rd.Admitted, rd.Denied, rd.Failed, rd.MaxErrorRun))
		rep.Rounds = append(rep.Rounds, rd)
		if rd.Error != "" {
			// Another leader change now would only measure a cluster
			// without a quorum: stop here and report.
			progress(fmt.Sprintf("round %d failed, stopping: %s", r, rd.Error))
			break
		}
	}
	stopTraffic()
	wg.Wait()
	last := tr.closeRound(nil) // scans that ended after the last round
	for _, rd := range rep.Rounds {
		rep.Total.add(rd.Counts)
		rep.MaxErrorRun = max(rep.MaxErrorRun, rd.MaxErrorRun)
		rep.MaxErrorMs = max(rep.MaxErrorMs, rd.MaxErrorMs)
		rep.MaxLeaderless = max(rep.MaxLeaderless, rd.LeaderlessMs)
	}
	rep.Total.add(last)

	hist := rec.History()
	rep.DoubleEntries, rep.DoubleExample = linearize.DoubleEntries(hist)
	progress(fmt.Sprintf("checking %d operations for linearizability", len(hist)))
	rep.Linearizable, rep.Check = linearize.Check(hist, o.CheckTimeout, o.HTMLPath)
	rep.DurationMs = ms(time.Since(start))
	if lc != nil && rep.Failed() != "" {
		keep = true
		rep.DataDir = lc.Dir()
		progress("node logs (last lines):\n" + lc.Tail(15))
	}
	return rep, ctx.Err()
}

func (c *Counts) add(o Counts) {
	c.Admitted += o.Admitted
	c.Denied += o.Denied
	c.Failed += o.Failed
	c.Attempts += o.Attempts
	c.Retries += o.Retries
	c.Rescans += o.Rescans
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// waitGatesEverywhere waits until every node knows the last registered gate
// (a probe with an unparseable code is denied invalid_code without the log).
func waitGatesEverywhere(ctx context.Context, gates *gateapi.Client, gateID string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	probe := gateapi.ScanRequest{Code: "!", Gate: gateID, ScanID: "drill-probe"}
	for _, u := range gates.URLs() {
		node := gates.At(u)
		for {
			pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := node.Scan(pctx, probe)
			pcancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("node %s does not take scans for the drill's gates: %w", u, err)
			}
			wait(ctx, 50*time.Millisecond)
		}
	}
	return nil
}

// failover makes one leader change and fills in rd's timings.
func (tr *traffic) failover(ctx context.Context, lc *localCluster, admin *adminclient.Client, rd *Round) error {
	oldID, _, oldTerm := leaderOf(ctx, tr.urls, tr.token)
	if oldID == "" {
		// wait for one, bounded
		deadline := time.Now().Add(10 * time.Second)
		for oldID == "" && time.Now().Before(deadline) && ctx.Err() == nil {
			wait(ctx, 20*time.Millisecond)
			oldID, _, oldTerm = leaderOf(ctx, tr.urls, tr.token)
		}
		if oldID == "" {
			return errNoLeader
		}
	}
	rd.OldLeader = oldID
	if tr.o.Mode == "partition" {
		return tr.partition(ctx, lc, oldID, oldTerm, rd)
	}
	t0 := time.Now()
	var victim *localproc.Node
	var bg sync.WaitGroup
	defer bg.Wait()
	switch tr.o.Mode {
	case "kill":
		victim = lc.Node(oldID)
		if victim == nil {
			return fmt.Errorf("leader %s is not one of the drill's nodes", oldID)
		}
		victim.Kill()
	case "transfer":
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		bg.Add(1)
		go func() { // the leader answers when it is done; time it by polling
			defer bg.Done()
			defer cancel()
			admin.TransferLeadership(tctx, "")
		}()
	}
	// Until another node (or a later term) leads.
	deadline := t0.Add(30 * time.Second)
	for {
		id, _, term := leaderOf(ctx, tr.urls, tr.token)
		if id != "" && term > oldTerm {
			rd.NewLeader = id
			rd.LeaderlessMs = ms(time.Since(t0))
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("no new leader within 30 s of losing %s", oldID)
		}
		wait(ctx, 5*time.Millisecond)
	}
	if victim != nil {
		if err := victim.Restart(); err != nil {
			return err
		}
	}
	// Settled: every node's own view (GET /v1/cluster/self, no fan-out to
	// peers) is leader or follower, with one leader.
	if err := waitSelfSettled(ctx, tr.urls, tr.token, 30*time.Second); err != nil {
		if victim != nil && victim.HasExited() {
			return fmt.Errorf("%s exited after its restart (%s; log %s)", victim.ID, victim.LastWords(), victim.LogPath())
		}
		return fmt.Errorf("cluster did not settle: %w", err)
	}
	rd.SettleMs = ms(time.Since(t0))
	return nil
}
