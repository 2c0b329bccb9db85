package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/cluster/localproc"
	"github.com/admitpark/admit/internal/httpclient"
)

// TestNodeRefusesNonLoopbackRaftWithoutTLS: `admit node` on a Raft address
// off loopback, without TLS, exits with an error that says why and what to
// do; with --insecure it starts.
func TestNodeRefusesNonLoopbackRaftWithoutTLS(t *testing.T) {
	dir := t.TempDir()
	_, port, _ := net.SplitHostPort(freePort(t))
	httpAddr := freePort(t)
	args := []string{"node", "--id", "n1", "--data-dir", filepath.Join(dir, "n1"), "--bootstrap",
		"--raft-addr", "0.0.0.0:" + port, "--advertise-addr", "127.0.0.1:" + port, "--http-addr", httpAddr}

	cmd := exec.Command(admitBin, args...)
	cmd.Env = append(os.Environ(), "ADMIT_ADMIN_TOKEN="+testToken)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("admit node on 0.0.0.0 without TLS: err %v, want a non-zero exit\n%s", err, out)
	}
	for _, want := range []string{"refusing to run without TLS", "0.0.0.0:" + port, "--tls-cert", "admit cluster certs", "--insecure"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the error lacks %q:\n%s", want, out)
		}
	}

	p, err := localproc.Start(localproc.Config{Name: "n1", Bin: admitBin, Args: append(args, "--insecure"),
		Env: cmd.Env, LogPath: filepath.Join(dir, "n1.log"), ParentDeathSignal: syscall.SIGKILL})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	clustertest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		if err := p.Dead(); err != nil {
			return err
		}
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("healthz %d", resp.StatusCode)
		}
		return nil
	}, "the node started with --insecure to serve /healthz")
	if !strings.Contains(p.Tail(50), "INSECURE") {
		t.Errorf("no INSECURE warning in the log:\n%s", p.Tail(20))
	}
}

// TestProcessClusterWithTLS runs three real node processes with mutual TLS
// on the Raft port and HTTPS on the API, with certificates made by `admit
// cluster certs`, and uses it through the CLI with --cacert.
func TestProcessClusterWithTLS(t *testing.T) {
	base := t.TempDir()
	pkiDir := filepath.Join(base, "pki")
	runCLI(t, true, "cluster", "certs", "init", "--dir", pkiDir)
	runCLI(t, false, "cluster", "certs", "init", "--dir", pkiDir) // one CA: no overwrite
	for _, id := range []string{"n1", "n2", "n3"} {
		runCLI(t, true, "cluster", "certs", "node", "--dir", pkiDir, "--id", id, "--host", "127.0.0.1,localhost")
	}
	made := map[string]time.Time{}
	for _, f := range []string{"ca.crt", "n1.crt", "n2.crt", "n3.crt"} {
		fi, err := os.Stat(filepath.Join(pkiDir, f))
		if err != nil {
			t.Fatal(err)
		}
		made[f] = fi.ModTime()
	}

	cfg := localproc.DefaultClusterConfig(admitBin, testToken)
	cfg.DataDir, cfg.LogDir, cfg.SettleTimeout = filepath.Join(base, "data"), base, 30*time.Second
	cfg.TLS, cfg.TLSDir, cfg.HTTPTLS = true, pkiDir, true
	cfg.NodeArgs = append(cfg.NodeArgs, "--state-machine", "counter")
	lc, err := localproc.StartCluster(t.Context(), cfg)
	if err != nil {
		t.Fatalf("3 TLS node processes to form a cluster: %v", err)
	}
	t.Cleanup(func() {
		lc.Stop(true)
		if t.Failed() {
			t.Logf("node logs (last lines):\n%s", lc.Tail(25))
		}
	})
	for f, mt := range made {
		if fi, err := os.Stat(filepath.Join(pkiDir, f)); err != nil || !fi.ModTime().Equal(mt) {
			t.Fatalf("%s was replaced: the cluster must run on the certificates of 'admit cluster certs'", f)
		}
	}
	for _, n := range lc.Nodes() {
		if !strings.Contains(strings.Join(n.Args(), " "), "--tls-cert "+filepath.Join(pkiDir, n.ID+".crt")) {
			t.Fatalf("%s runs without its certificate: %v", n.ID, n.Args())
		}
	}

	urls := strings.Join(lc.URLs(), ",")
	ca := filepath.Join(pkiDir, "ca.crt")
	out := runCLI(t, true, "cluster", "status", "--cluster", urls, "--cacert", ca)
	if !strings.Contains(out, "3 members, 3 voters") || strings.Contains(out, "unreachable") {
		t.Fatalf("status over HTTPS:\n%s", out)
	}
	out = runCLI(t, false, "cluster", "status", "--cluster", urls) // no --cacert: the nodes' certificates are not trusted
	if !strings.Contains(out, "certificate") {
		t.Fatalf("status without --cacert: %s", out)
	}

	// Commands through every node: followers forward them to the leader
	// over the TLS Raft port.
	tcfg, err := httpclient.TLSConfigFromCAFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: httpclient.NewTransport(tcfg)}
	for i, n := range lc.Nodes() {
		c := &httpclient.Client{URLs: []string{n.HTTPURL}, BearerToken: testToken, HTTP: hc}
		var res map[string]int64
		if err := c.Do(context.Background(), http.MethodPost, "/v1/counter/add", map[string]any{"op": i + 1, "delta": 1}, &res); err != nil {
			t.Fatalf("add through %s: %v", n.ID, err)
		}
	}
	out = runCLI(t, true, "cluster", "transfer-leadership", "--cluster", urls, "--cacert", ca)
	if !strings.Contains(out, "the leader is now") {
		t.Fatalf("transfer: %s", out)
	}

	// The probe's first step, plain TCP to a Raft port: closed unanswered.
	conn, err := net.DialTimeout("tcp", lc.Nodes()[0].RaftAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte{'F', 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1, 6})
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	if b, err := io.ReadAll(conn); len(b) > 0 || isTimeout(err) {
		t.Fatalf("plaintext status request on the Raft port: read %q, err %v", b, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
