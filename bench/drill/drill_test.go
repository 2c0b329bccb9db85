package drill

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
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
	o := DefaultOptions()
	o.Binary = admitBin
	o.Nodes, o.Mode, o.Rounds, o.RoundTime = 3, "kill", 2, 2*time.Second
	o.Gates, o.Tickets = 8, 3000
	o.DataDir = t.TempDir()
	o.HTMLPath = filepath.Join(t.TempDir(), "linearize.html")
	o.Progress = func(s string) { t.Log(s) }
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rounds) != 2 {
		t.Fatalf("%d rounds", len(rep.Rounds))
	}
	for _, rd := range rep.Rounds {
		t.Logf("round %d: %s -> %s, %.0f ms without a leader, error run %d", rd.Round, rd.OldLeader, rd.NewLeader, rd.LeaderlessMs, rd.MaxErrorRun)
		if rd.Error != "" {
			t.Errorf("round %d: %s", rd.Round, rd.Error)
		}
		if rd.NewLeader == "" || rd.LeaderlessMs <= 0 {
			t.Errorf("round %d: no leader change measured: %+v", rd.Round, rd)
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
