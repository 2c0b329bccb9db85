package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/cluster/localproc"
)

// runCLI runs the admit binary and returns its stdout; it fails the test
// when the exit status differs from wantOK.
func runCLI(t *testing.T, wantOK bool, args ...string) string {
	t.Helper()
	cmd := exec.Command(admitBin, args...)
	cmd.Env = append(os.Environ(), "ADMIT_ADMIN_TOKEN="+testToken)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if (err == nil) != wantOK {
		t.Fatalf("admit %s: err=%v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out) + stderr.String()
}

func TestClusterCLI(t *testing.T) {
	lc := startProcessCluster(t, 3, "tickets")
	procs := lc.Nodes()
	urls := strings.Join(lc.URLs(), ",")

	out := runCLI(t, true, "cluster", "status", "--cluster", urls)
	for _, want := range []string{"leader: ", "3 members, 3 voters (quorum 2)", "Leader", "Follower", "LAST CONTACT"} {
		if !strings.Contains(out, want) {
			t.Fatalf("status output lacks %q:\n%s", want, out)
		}
	}
	var st cluster.Status
	if err := json.Unmarshal([]byte(runCLI(t, true, "cluster", "status", "--json", "--cluster", urls)), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Members) != 3 || st.Leader == "" {
		t.Fatalf("status --json: %+v", st)
	}

	// Transfer to a named follower, through a URL list whose first node is dead-ended.
	var target string
	for _, m := range st.Members {
		if m.State == "follower" {
			target = m.ID
		}
	}
	out = runCLI(t, true, "cluster", "transfer-leadership", "--to", target, "--cluster", "http://127.0.0.1:1,"+urls)
	if !strings.Contains(out, "the leader is now "+target) {
		t.Fatalf("transfer output: %s", out)
	}

	out = runCLI(t, true, "cluster", "snapshot", "--cluster", urls)
	if strings.Count(out, "\nn") < 3 {
		t.Fatalf("snapshot should list all three members:\n%s", out)
	}

	// Wrong token: a clear refusal.
	out = runCLI(t, false, "cluster", "status", "--admin-token", "wrong", "--cluster", urls)
	if !strings.Contains(out, "wrong admin token") {
		t.Fatalf("wrong token output: %s", out)
	}

	// Remove a follower, then lose quorum: status says so plainly.
	var removed *localproc.Node
	for _, p := range procs {
		if p.ID != target && removed == nil {
			if ms, err := self(t.Context(), lc, p); err == nil && ms.State == "follower" {
				removed = p
			}
		}
	}
	runCLI(t, true, "cluster", "remove", removed.ID, "--cluster", urls)
	clustertest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		var st cluster.Status
		if err := json.Unmarshal([]byte(runCLI(t, true, "cluster", "status", "--json", "--cluster", urls)), &st); err != nil {
			return err
		}
		if len(st.Members) != 2 {
			return errNotYet("members", len(st.Members))
		}
		return nil
	}, "2 members after remove")
	removed.Stop()
	lc.Node(target).Kill()
	clustertest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		out := runCLI(t, true, "cluster", "status", "--cluster", urls)
		if !strings.Contains(out, "NO LEADER") {
			return errNotYet("output", out)
		}
		return nil
	}, "status to say there is no leader")
}

type notYet struct {
	what string
	v    any
}

func (e notYet) Error() string { return e.what + " is still " + strings.TrimSpace(toString(e.v)) }

func errNotYet(what string, v any) error { return notYet{what, v} }

func toString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
