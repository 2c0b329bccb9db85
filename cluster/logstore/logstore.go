package logstore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

var (
	// ErrInvalidConfig is returned by Config.Validate and Open for a Config
	// that cannot be used.
	ErrInvalidConfig = errors.New("logstore: invalid config")
	// ErrLocked means another Store, in this process or another, has the
	// directory open. Two writers on one log would corrupt it.
	ErrLocked = errors.New("logstore: directory is in use by another store")
	// ErrCorrupt means the on-disk log failed its checks. The directory holds
	// acknowledged Raft entries: inspect it before deleting anything.
	ErrCorrupt = wal.ErrCorrupt
	// ErrClosed is returned by every method but Close once Close was called.
	ErrClosed = wal.ErrClosed
)

// Store is a durable Raft log store and stable store.
//
// The value returned by Open also implements raft.MonotonicLogStore, so raft
// knows the log can have no gaps and clears it after a snapshot restore.
type Store interface {
	raft.LogStore
	raft.StableStore
	io.Closer
}

// Config says where and how to open a Store.
//
// There is no NoSync switch: raft-wal fsyncs every StoreLogs and offers no
// way to turn that off, which also means tests exercise the real write path.
type Config struct {
	// Dir is the folder for segment files, the meta database and the lock
	// file. It is created (mode 0700) if missing and must not be shared.
	Dir string
	// Logger receives the backend's background errors (failed segment
	// rotation or deletion), which are otherwise invisible. Nil discards them.
	Logger hclog.Logger
}

// DefaultConfig returns the Config for a store in dir.
func DefaultConfig(dir string) Config {
	return Config{Dir: dir}
}

// Validate checks c without touching the disk.
func (c Config) Validate() error {
	if c.Dir == "" {
		return fmt.Errorf("%w: Dir is empty", ErrInvalidConfig)
	}
	return nil
}

// Open opens, or creates, the store in cfg.Dir and recovers any entries a
// previous process left there. The caller must Close it.
func Open(cfg Config) (Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("logstore: create dir: %w", err)
	}
	// Lock before the backend opens its bbolt meta file: bbolt would wait
	// forever for a lock held elsewhere instead of failing.
	unlock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	// We own the meta store because WAL.Close does not close it (raft-wal
	// v0.4.0): its bbolt file and lock would outlive the WAL and a reopen in
	// the same process would hang.
	meta := &metadb.BoltMetaDB{}
	w, err := wal.Open(cfg.Dir, wal.WithMetaStore(meta), wal.WithLogger(logger))
	if err != nil {
		err = errors.Join(err, meta.Close(), unlock())
		return nil, fmt.Errorf("logstore: open %s: %w", cfg.Dir, err)
	}
	return &store{WAL: w, meta: meta, unlock: unlock}, nil
}

// store embeds *wal.WAL so every method, IsMonotonic included, reaches raft
// unchanged. Errors are never wrapped: raft compares GetLog errors with
// == raft.ErrLogNotFound.
type store struct {
	*wal.WAL
	meta   *metadb.BoltMetaDB
	unlock func() error

	closeOnce sync.Once
	closeErr  error
}

var _ raft.MonotonicLogStore = (*store)(nil)

// GetLog hides entries below FirstIndex. raft-wal v0.4.0 keeps serving
// head-truncated entries from the open tail segment until it rotates, which
// would let a leader replay compacted entries where raft expects to fall back
// to sending a snapshot.
func (s *store) GetLog(index uint64, log *raft.Log) error {
	first, err := s.WAL.FirstIndex()
	if err != nil {
		return err
	}
	if index < first {
		return raft.ErrLogNotFound
	}
	return s.WAL.GetLog(index, log)
}

// Close closes the log, then its meta store, then drops the directory lock,
// so the next Open never sees a half-closed store. Calls after the first
// return the first result. It must not race with other methods; raft
// guarantees that once Shutdown has returned.
func (s *store) Close() error {
	s.closeOnce.Do(func() {
		if err := errors.Join(s.WAL.Close(), s.meta.Close(), s.unlock()); err != nil {
			s.closeErr = fmt.Errorf("logstore: close: %w", err)
		}
	})
	return s.closeErr
}
