//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package logstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFile is ignored by raft-wal, which only reads *.wal and its meta file.
const lockFile = "LOCK"

// lockDir takes a non-blocking flock on Dir/LOCK. The kernel drops it when
// the process dies, so a crash never leaves a stale lock behind.
func lockDir(dir string) (unlock func() error, err error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("logstore: open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, fmt.Errorf("logstore: lock %s: %w", dir, err)
	}
	// Closing the only descriptor releases the flock.
	return f.Close, nil
}
