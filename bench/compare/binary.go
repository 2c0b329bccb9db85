package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/admitpark/admit/cluster/localproc"
)

// startServer starts one server process of a system under comparison (an
// etcd member) with localproc: it logs to logPath, runs in its own
// process group (a Ctrl-C at the terminal reaches this program, which
// stops it in order), dies with this program, and gets SIGKILL when a
// SIGTERM has not stopped it in 15 s.
func startServer(name, logPath, bin string, args ...string) (*localproc.Process, error) {
	return localproc.Start(localproc.Config{Name: name, Bin: bin, Args: args, Env: os.Environ(), LogPath: logPath,
		ParentDeathSignal: syscall.SIGKILL, StopTimeout: 15 * time.Second})
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
