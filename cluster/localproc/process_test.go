package localproc

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster/clustertest"
)

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not within 10 s", what)
	}
}

// waitLog waits until the log holds n "started" lines.
func waitLog(t *testing.T, p *Process, n int) {
	t.Helper()
	clustertest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if tail := p.Tail(10); strings.Count(tail, "started") < n {
			return fmt.Errorf("log has %q", tail)
		}
		return nil
	}, "%d started lines in the log", n)
}

func TestProcessStopRestartTail(t *testing.T) {
	dir := t.TempDir()
	p, err := Start(Config{Name: "sleeper", Bin: "/bin/sh", Args: []string{"-c", "echo started; exec sleep 60"},
		LogPath: filepath.Join(dir, "p.log"), ParentDeathSignal: syscall.SIGKILL})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	if p.Dead() != nil || p.HasExited() || p.ExitState() != nil {
		t.Fatal("a running process reports itself dead")
	}
	if err := p.Restart(); !errors.Is(err, ErrRunning) {
		t.Fatalf("Restart while running: %v", err)
	}
	waitLog(t, p, 1)
	first := p.Pid()
	p.Stop()
	if !p.HasExited() || p.ExitState() == nil {
		t.Fatal("Stop returned before the process ended")
	}
	if err := p.Dead(); !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "started") {
		t.Fatalf("Dead after Stop: %v, want ErrExited with the log's tail", err)
	}
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	if p.Pid() == first || p.HasExited() {
		t.Fatalf("after Restart: pid %d (was %d), exited %v", p.Pid(), first, p.HasExited())
	}
	waitLog(t, p, 2)
	p.Kill()
	if got := p.Tail(5); got != "started\nstarted" {
		t.Fatalf("Tail = %q, want both runs' lines", got)
	}
	if got := p.LastWords(); got != "started" {
		t.Fatalf("LastWords = %q", got)
	}
}

func TestSupervisorRestarts(t *testing.T) {
	dir := t.TempDir()
	p, err := Start(Config{Name: "crasher", Bin: "/bin/sh", Args: []string{"-c", "exit 3"}, LogPath: filepath.Join(dir, "c.log")})
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan Event, 10)
	s := NewSupervisor(SupervisorConfig{RestartDelay: time.Millisecond, OnEvent: func(ctx context.Context, ev Event) {
		select {
		case events <- ev:
		case <-ctx.Done():
		}
	}})
	s.Watch(p)
	next := func(want EventKind) Event {
		t.Helper()
		select {
		case ev := <-events:
			if ev.Kind != want || ev.Process != p {
				t.Fatalf("event %+v, want kind %d", ev, want)
			}
			return ev
		case <-time.After(10 * time.Second):
			t.Fatalf("no event of kind %d within 10 s", want)
			panic("unreachable")
		}
	}
	ev := next(Exited)
	if ev.State == nil || ev.State.ExitCode() != 3 {
		t.Fatalf("exit state %v, want exit status 3", ev.State)
	}
	next(Restarted)
	next(Exited)
	s.Close() // ends the watcher even while it waits to restart or to deliver
	waitClosed(t, p.Exited(), "the last run to end")
}

func TestClusterConfigValidate(t *testing.T) {
	ok := DefaultClusterConfig("admit", "token")
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*ClusterConfig){
		"no binary":   func(c *ClusterConfig) { c.Bin = "" },
		"no nodes":    func(c *ClusterConfig) { c.Nodes = 0 },
		"ten nodes":   func(c *ClusterConfig) { c.Nodes = 10 },
		"no token":    func(c *ClusterConfig) { c.AdminToken = "" },
		"neg. port":   func(c *ClusterConfig) { c.HTTPPort = -1 },
		"neg. settle": func(c *ClusterConfig) { c.SettleTimeout = -time.Second },
	} {
		c := ok
		edit(&c)
		if c.Validate() == nil {
			t.Errorf("%s: Validate() = nil", name)
		}
	}
}
