package pgtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// reapOrphans stops and removes the throwaway servers (in parent) of test
// binaries that died before Run could stop theirs (killed by go test
// -timeout, Ctrl-C, a crash): their servers run in their own process
// group, so nothing else stops them. Directories whose owner still runs
// are left alone. Several binaries may reap at once.
func reapOrphans(parent string) {
	dirs, _ := filepath.Glob(filepath.Join(parent, dirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			// Another binary may be creating it this moment: only an old
			// one without an owner is an orphan.
			fi, err := os.Stat(dir)
			if err != nil || time.Since(fi.ModTime()) < time.Hour {
				continue
			}
		} else if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err != nil || alive(pid) {
			continue
		}
		if err := killServer(dir); err != nil {
			logger.Warn("pgtest: could not stop an orphaned test server", "dir", dir, "err", err)
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			logger.Warn("pgtest: could not remove an orphaned test server's directory", "dir", dir, "err", err)
			continue
		}
		logger.Warn("pgtest: removed the test server of a test binary that died", "dir", dir)
	}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// killServer shuts down (immediately: the data is thrown away) the server
// running in dir/pgdata, if any, and waits until it is gone.
func killServer(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "pgdata", "postmaster.pid"))
	if err != nil {
		return nil // not running
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil || pid <= 0 {
		return nil
	}
	// Make sure the pid still is that server, not a process that reused it.
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte(filepath.Base(dir)+"/pgdata")) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil { // immediate shutdown
		return err
	}
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !gone(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("postmaster %d still runs 15s after SIGQUIT", pid)
		}
		<-tick.C
	}
	return nil
}

// gone reports whether pid has exited (a zombie counts: it no longer runs).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return true
	}
	state := b[i+2]
	return state == 'Z' || state == 'X'
}
