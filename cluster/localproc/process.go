// Package localproc starts and supervises server processes on this
// machine: above all `admit node` processes on free loopback ports that
// form a cluster (Cluster, with mutual TLS between the nodes by default,
// certificates made on first use), for admit dev, failover drills,
// benchmarks and process-level tests; and any other server (PostgreSQL, etcd, admit
// sales) as a Process.
//
// A Process logs stdout and stderr to a file, runs in its own process
// group (a Ctrl-C at the terminal reaches only the program that started
// it, which stops it in order), and on Linux dies with that program
// (Config.ParentDeathSignal). It is stopped with a signal and waited for,
// with SIGKILL after a deadline; it can be restarted from its data dir.
// A Supervisor restarts processes that die. Every goroutine the package
// starts has an owner that ends it: a Process's waiter ends with the
// child, which Stop and Kill bring about; a Supervisor's watchers end
// with Close.
package localproc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Errors of a Process.
var (
	// ErrExited is wrapped by Dead's error: the process has ended.
	ErrExited = errors.New("process exited")
	// ErrRunning is returned by Restart while the process still runs.
	ErrRunning = errors.New("process is running")
)

// Config describes one process.
type Config struct {
	// Name identifies the process in errors ("n1", "etcd m2").
	Name string
	// Bin is the executable and Args its arguments.
	Bin  string
	Args []string
	// Env is the child's environment; nil: this program's.
	Env []string
	// LogPath is the file stdout and stderr are appended to (created 0640).
	LogPath string
	// ParentDeathSignal is sent to the child when this program dies
	// (Linux; 0: none): SIGTERM lets it shut down cleanly, SIGKILL is sure.
	ParentDeathSignal syscall.Signal
	// StopTimeout is how long Signal waits for the process to end before
	// it sends SIGKILL. Default 10 s.
	StopTimeout time.Duration
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	switch {
	case c.Bin == "":
		return errors.New("localproc: no binary")
	case c.LogPath == "":
		return fmt.Errorf("localproc: %s: no log file", c.Name)
	case c.StopTimeout < 0:
		return fmt.Errorf("localproc: %s: stop timeout %v is negative", c.Name, c.StopTimeout)
	}
	return nil
}

// Process is one child process this program started. Its methods are safe
// for concurrent use.
type Process struct {
	mu     sync.Mutex
	cfg    Config
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has ended and its log is closed
}

// Start starts the process described by cfg.
func Start(cfg Config) (*Process, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	cfg.Args = append([]string(nil), cfg.Args...)
	p := &Process{cfg: cfg}
	return p, p.start()
}

func (p *Process) start() error {
	p.mu.Lock()
	cfg := p.cfg
	p.mu.Unlock()
	logf, err := os.OpenFile(cfg.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	c := exec.Command(cfg.Bin, cfg.Args...)
	c.Env = cfg.Env
	c.Stdout, c.Stderr = logf, logf
	c.SysProcAttr = sysProcAttr(cfg.ParentDeathSignal)
	if err := c.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", cfg.Name, err)
	}
	exited := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.exited = c, exited
	p.mu.Unlock()
	go func() { // ends with the child; Signal, Stop and Kill wait for it
		c.Wait()
		logf.Close()
		close(exited)
	}()
	return nil
}

// Restart starts the process again, with the same configuration (and the
// arguments of SetArgs), once it has exited.
func (p *Process) Restart() error {
	if !p.HasExited() {
		return fmt.Errorf("restart %s: %w", p.Name(), ErrRunning)
	}
	return p.start()
}

// SetArgs replaces the arguments of the next Restart.
func (p *Process) SetArgs(args []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg.Args = append([]string(nil), args...)
}

// Args returns the arguments the process runs (or will restart) with.
func (p *Process) Args() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.cfg.Args...)
}

// Name returns Config.Name.
func (p *Process) Name() string { return p.cfg.Name }

// LogPath returns the file the process logs to.
func (p *Process) LogPath() string { return p.cfg.LogPath }

// CommandLine returns the binary and arguments, space-separated: how to
// start the process by hand.
func (p *Process) CommandLine() string {
	return p.cfg.Bin + " " + strings.Join(p.Args(), " ")
}

func (p *Process) current() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.exited
}

// Pid returns the process id of the current (or last) run.
func (p *Process) Pid() int {
	c, _ := p.current()
	return c.Process.Pid
}

// Exited returns a channel closed when the current run has ended.
func (p *Process) Exited() <-chan struct{} {
	_, exited := p.current()
	return exited
}

// HasExited reports whether the current run has ended.
func (p *Process) HasExited() bool {
	select {
	case <-p.Exited():
		return true
	default:
		return false
	}
}

// ExitState returns how the current run ended; nil while it runs.
func (p *Process) ExitState() *os.ProcessState {
	c, exited := p.current()
	select {
	case <-exited:
		return c.ProcessState
	default:
		return nil
	}
}

// Signal sends sig to the process and waits until it has ended, sending
// SIGKILL after Config.StopTimeout. It returns at once when the process
// has already ended.
func (p *Process) Signal(sig os.Signal) {
	c, exited := p.current()
	select {
	case <-exited:
		return
	default:
	}
	c.Process.Signal(sig)
	t := time.NewTimer(p.cfg.StopTimeout)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		c.Process.Kill()
		<-exited
	}
}

// Stop ends the process cleanly: SIGTERM, then SIGKILL after
// Config.StopTimeout. It is safe on a nil Process.
func (p *Process) Stop() {
	if p != nil {
		p.Signal(syscall.SIGTERM)
	}
}

// Kill ends the process with SIGKILL, as a crash would, and waits.
func (p *Process) Kill() { p.Signal(syscall.SIGKILL) }

// Dead returns nil while the process runs, and once it has ended an error
// wrapping ErrExited with its LastWords and the last lines of its log.
func (p *Process) Dead() error {
	if !p.HasExited() {
		return nil
	}
	// The first panic or fatal line says why; a panic's tail is only its
	// stack's bottom frames.
	return fmt.Errorf("%s %w: %s\n%s", p.Name(), ErrExited, p.LastWords(), p.Tail(5))
}

// Tail returns the last lines of the process's log.
func (p *Process) Tail(lines int) string { return TailFile(p.cfg.LogPath, lines) }

// LastWords returns the first panic or fatal line of the log, or else its
// last line: why a node died.
func (p *Process) LastWords() string {
	data, _ := os.ReadFile(p.cfg.LogPath)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "fatal error:") || strings.Contains(l, "level=ERROR msg=\"open") {
			return l
		}
	}
	return lines[len(lines)-1]
}

// TailFile returns the last lines of the file at path ("" when it cannot
// be read).
func TailFile(path string, lines int) string {
	b, _ := os.ReadFile(path)
	ls := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(ls[max(0, len(ls)-lines):], "\n")
}

// FreeAddr returns the address of a free 127.0.0.1 TCP port. Another
// program may take it before the caller does; on a test machine that is
// rare enough.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
