package drill

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster/adminclient"
)

var admitBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "admit-drill-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	admitBin = filepath.Join(dir, "admit")
	build := exec.Command("go", "build", "-o", admitBin, "../../cmd/admit")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build admit for the drill test:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestFailoverDrill kills the leader of a real 3-process cluster twice
// under scan traffic: no ticket gets in twice, and the whole history of
// scans (unknown outcomes included) is linearizable.
func TestFailoverDrill(t *testing.T) {
	checkReport(t, runLocal(t, "kill", 3000), 2)
}

// runLocal runs a 2-round drill of mode on its own 3-node cluster.
func runLocal(t *testing.T, mode string, tickets int) *Report {
	t.Helper()
	o := DefaultOptions()
	o.Binary = admitBin
	o.Nodes, o.Mode, o.Rounds, o.RoundTime = 3, mode, 2, 2*time.Second
	o.Gates, o.Tickets = 8, tickets
	o.DataDir = t.TempDir()
	o.HTMLPath = filepath.Join(t.TempDir(), "linearize.html")
	o.Progress = func(s string) { t.Log(s) }
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// checkReport: every round changed the leader, no ticket got in twice, the
// whole history is linearizable, and there was real traffic.
func checkReport(t *testing.T, rep *Report, rounds int) {
	t.Helper()
	if len(rep.Rounds) != rounds {
		t.Fatalf("%d rounds, want %d", len(rep.Rounds), rounds)
	}
	for _, rd := range rep.Rounds {
		t.Logf("round %d: %s -> %s, %.0f ms without a leader, settled in %.0f ms, error run %d (%.0f ms), %d failed",
			rd.Round, rd.OldLeader, rd.NewLeader, rd.LeaderlessMs, rd.SettleMs, rd.MaxErrorRun, rd.MaxErrorMs, rd.Failed)
		if rd.Error != "" {
			t.Errorf("round %d: %s", rd.Round, rd.Error)
		}
		if rd.NewLeader == "" || rd.LeaderlessMs <= 0 || rd.SettleMs <= 0 {
			t.Errorf("round %d: no leader change measured: %+v", rd.Round, rd)
		}
		if rd.NewLeader == rd.OldLeader {
			t.Errorf("round %d: %s lost leadership and still leads", rd.Round, rd.OldLeader)
		}
	}
	if rep.DoubleEntries != 0 {
		t.Fatalf("double_entries = %d: %v", rep.DoubleEntries, rep.DoubleExample)
	}
	if !rep.Linearizable {
		t.Fatalf("linearizable = false: %+v", rep.Check)
	}
	if rep.Total.Admitted == 0 || rep.Total.Denied == 0 {
		t.Fatalf("no real traffic: %+v", rep.Total)
	}
}

// TestFailoverDrillExistingCluster runs the drill against a cluster it did
// not start (--cluster): leadership transfers through the admin API.
func TestFailoverDrillExistingCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	token := randomToken()
	lc, err := startLocal(ctx, admitBin, 3, t.TempDir(), token, false)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.stop(false)
	// Started without --fault-injection: no node serves the fault switch.
	for _, n := range lc.Nodes() {
		err := setBlocked(ctx, n, token, []string{lc.Nodes()[0].RaftAddr})
		var apiErr *adminclient.Error
		if !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
			t.Fatalf("%s: fault switch without --fault-injection: %v, want 404", n.ID, err)
		}
	}

	o := DefaultOptions()
	o.Cluster, o.AdminToken = lc.URLs(), token
	o.Mode, o.Rounds, o.RoundTime = "transfer", 2, time.Second
	o.Gates, o.Tickets = 8, 2000
	o.HTMLPath = filepath.Join(t.TempDir(), "linearize.html")
	o.Progress = func(s string) { t.Log(s) }
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, rep, 2)
	if rep.Nodes != 3 || rep.DataDir != "" {
		t.Fatalf("report of an existing cluster: nodes %d, data dir %q", rep.Nodes, rep.DataDir)
	}
	// The drill leaves the cluster it borrowed running and whole.
	if err := waitSelfSettled(ctx, lc.URLs(), token, 30*time.Second); err != nil {
		t.Fatalf("cluster after the drill: %v", err)
	}
}

// TestFailoverDrillPartition cuts the leader of a real 3-process cluster
// off from its peers twice under scan traffic: the majority elects a new
// leader, gates talking to the old one get errors but no wrong answer
// (linearizable, no double entry), and after the heal everyone follows one
// leader.
func TestFailoverDrillPartition(t *testing.T) {
	rep := runLocal(t, "partition", 2000)
	checkReport(t, rep, 2)
	for _, rd := range rep.Rounds {
		if rd.PartitionMs <= 0 || rd.StepDownMs <= 0 {
			t.Errorf("round %d: partition or step-down time not measured: %+v", rd.Round, rd)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := DefaultOptions()
	ok.Binary = "admit"
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Options)
		ok   bool
	}{
		{"partition locally", func(o *Options) { o.Mode = "partition" }, true},
		{"transfer on a cluster", func(o *Options) { o.Cluster, o.AdminToken, o.Mode = []string{"http://h:1"}, "t", "transfer" }, true},
		{"partition on a cluster", func(o *Options) { o.Cluster, o.AdminToken, o.Mode = []string{"http://h:1"}, "t", "partition" }, false},
		{"kill on a cluster", func(o *Options) { o.Cluster, o.AdminToken, o.Mode = []string{"http://h:1"}, "t", "kill" }, false},
		{"cluster without token", func(o *Options) { o.Cluster, o.Mode = []string{"http://h:1"}, "transfer" }, false},
		{"unknown mode", func(o *Options) { o.Mode = "flood" }, false},
	} {
		o := ok
		tc.edit(&o)
		if err := o.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v", tc.name, err)
		}
	}
}
