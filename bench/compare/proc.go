package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// proc is one server process this program started: it logs to a file,
// runs in its own process group (a Ctrl-C at the terminal reaches this
// program, which stops it in order) and dies with this program
// (Pdeathsig).
type proc struct {
	name, log string
	cmd       *exec.Cmd
	exited    chan struct{}
}

func startProc(name, logPath string, env []string, bin string, args ...string) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	c := exec.Command(bin, args...)
	c.Env = env
	c.Stdout, c.Stderr = logf, logf
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := c.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, log: logPath, cmd: c, exited: make(chan struct{})}
	go func() {
		c.Wait()
		logf.Close()
		close(p.exited)
	}()
	return p, nil
}

// stop sends SIGTERM and waits for the process to end, with SIGKILL after
// 15 s.
func (p *proc) stop() {
	if p == nil {
		return
	}
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// dead returns an error with the log's last lines when the process has
// exited.
func (p *proc) dead() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited: %s", p.name, tail(p.log, 5))
	default:
		return nil
	}
}

func tail(path string, lines int) string {
	b, _ := os.ReadFile(path)
	ls := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(ls[max(0, len(ls)-lines):], "\n")
}

// freeAddr returns a free 127.0.0.1 port's address.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// findBinary returns the first of the candidates that is an executable
// file: a path with a slash as it is, a bare name looked up next to this
// program and then in PATH.
func findBinary(candidates ...string) (string, error) {
	self, _ := os.Executable()
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if strings.Contains(c, "/") {
			if isExec(c) {
				return filepath.Abs(c)
			}
			continue
		}
		if self != "" {
			if p := filepath.Join(filepath.Dir(self), c); isExec(p) {
				return p, nil
			}
		}
		if p, err := exec.LookPath(c); err == nil {
			return filepath.Abs(p)
		}
	}
	return "", errors.New("not found")
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
