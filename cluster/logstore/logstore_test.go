package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func openT(t *testing.T, dir string) Store {
	t.Helper()
	s, err := Open(DefaultConfig(dir))
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	// Close is idempotent, so tests that close early can still register this.
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func closeT(t *testing.T, s Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func testLog(i uint64, at time.Time) *raft.Log {
	return &raft.Log{
		Index:      i,
		Term:       1 + i/50,
		Type:       raft.LogCommand,
		Data:       fmt.Appendf(nil, "scan-batch-%d", i),
		Extensions: []byte{byte(i)},
		AppendedAt: at,
	}
}

// storeRange appends [first, last] in batches of 7 so batch edges are covered.
func storeRange(t *testing.T, s Store, first, last uint64, at time.Time) {
	t.Helper()
	var batch []*raft.Log
	for i := first; i <= last; i++ {
		batch = append(batch, testLog(i, at))
		if len(batch) == 7 || i == last {
			if err := s.StoreLogs(batch); err != nil {
				t.Fatalf("StoreLogs ending %d: %v", i, err)
			}
			batch = nil
		}
	}
}

func wantBounds(t *testing.T, s Store, first, last uint64) {
	t.Helper()
	f, err := s.FirstIndex()
	if err != nil || f != first {
		t.Fatalf("FirstIndex = %d, %v; want %d", f, err, first)
	}
	l, err := s.LastIndex()
	if err != nil || l != last {
		t.Fatalf("LastIndex = %d, %v; want %d", l, err, last)
	}
}

func wantLog(t *testing.T, s Store, i uint64, at time.Time) {
	t.Helper()
	var got raft.Log
	if err := s.GetLog(i, &got); err != nil {
		t.Fatalf("GetLog(%d): %v", i, err)
	}
	want := testLog(i, at)
	if got.Index != want.Index || got.Term != want.Term || got.Type != want.Type ||
		!bytes.Equal(got.Data, want.Data) || !bytes.Equal(got.Extensions, want.Extensions) ||
		!got.AppendedAt.Equal(want.AppendedAt) {
		t.Fatalf("GetLog(%d) = %+v; want %+v", i, got, *want)
	}
}

// wantNotFound checks identity, not errors.Is: raft's replication compares
// with ==, and a wrapped error would stall follower catch-up.
func wantNotFound(t *testing.T, s Store, i uint64) {
	t.Helper()
	var l raft.Log
	if err := s.GetLog(i, &l); err != raft.ErrLogNotFound {
		t.Fatalf("GetLog(%d) err = %v; want raft.ErrLogNotFound itself", i, err)
	}
}

func TestLogsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	at := time.Unix(1_700_000_000, 123).UTC()

	s := openT(t, dir)
	wantBounds(t, s, 0, 0)
	storeRange(t, s, 1, 100, at)
	wantBounds(t, s, 1, 100)
	closeT(t, s)

	s = openT(t, dir)
	wantBounds(t, s, 1, 100)
	for i := uint64(1); i <= 100; i++ {
		wantLog(t, s, i, at)
	}
	wantNotFound(t, s, 101)

	// Appends continue where the previous process stopped.
	storeRange(t, s, 101, 110, at)
	closeT(t, s)
	s = openT(t, dir)
	wantBounds(t, s, 1, 110)
	wantLog(t, s, 110, at)
}

func TestStableStoreSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)

	// raft reads these keys before ever writing them and only tolerates a
	// zero value or an error whose text is "not found".
	if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v != 0 {
		t.Fatalf("GetUint64(unset) = %d, %v; want 0, nil", v, err)
	}
	if v, err := s.Get([]byte("LastVoteCand")); err != nil || len(v) != 0 {
		t.Fatalf("Get(unset) = %q, %v; want empty, nil", v, err)
	}

	if err := s.Set([]byte("LastVoteCand"), []byte("node-2")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 42); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 43); err != nil {
		t.Fatal(err)
	}
	closeT(t, s)

	s = openT(t, dir)
	if v, err := s.Get([]byte("LastVoteCand")); err != nil || string(v) != "node-2" {
		t.Fatalf("Get = %q, %v; want node-2", v, err)
	}
	if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v != 43 {
		t.Fatalf("GetUint64 = %d, %v; want 43", v, err)
	}
}

func TestDeleteRange(t *testing.T) {
	dir := t.TempDir()
	at := time.Unix(1_700_000_000, 0).UTC()
	s := openT(t, dir)
	storeRange(t, s, 1, 100, at)

	// Head: compaction after a snapshot.
	if err := s.DeleteRange(1, 40); err != nil {
		t.Fatalf("DeleteRange(1, 40): %v", err)
	}
	wantBounds(t, s, 41, 100)
	wantNotFound(t, s, 40)
	wantLog(t, s, 41, at)

	// Tail: a follower dropping entries that conflict with the leader.
	if err := s.DeleteRange(91, 100); err != nil {
		t.Fatalf("DeleteRange(91, 100): %v", err)
	}
	wantBounds(t, s, 41, 90)
	wantNotFound(t, s, 91)
	storeRange(t, s, 91, 95, at)
	closeT(t, s)

	s = openT(t, dir)
	wantBounds(t, s, 41, 95)
	wantNotFound(t, s, 40)
	wantLog(t, s, 95, at)

	// Everything: what raft does after restoring a snapshot on a monotonic
	// store, before appending from the snapshot index.
	if err := s.DeleteRange(41, 95); err != nil {
		t.Fatalf("DeleteRange(41, 95): %v", err)
	}
	wantBounds(t, s, 0, 0)
	storeRange(t, s, 500, 510, at)
	wantBounds(t, s, 500, 510)
}

// raft reads from replication goroutines while the leader appends.
func TestConcurrentReadsDuringAppend(t *testing.T) {
	s := openT(t, t.TempDir())
	at := time.Unix(1_700_000_000, 0).UTC()
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var l raft.Log
			for {
				select {
				case <-done:
					return
				default:
				}
				last, err := s.LastIndex()
				if err != nil {
					t.Errorf("LastIndex: %v", err)
					return
				}
				if last == 0 {
					continue
				}
				if err := s.GetLog(last, &l); err != nil || l.Index != last {
					t.Errorf("GetLog(%d) = index %d, %v", last, l.Index, err)
					return
				}
			}
		}()
	}
	storeRange(t, s, 1, 200, at)
	close(done)
	wg.Wait()
	wantBounds(t, s, 1, 200)
}

func TestMonotonic(t *testing.T) {
	s := openT(t, t.TempDir())
	m, ok := s.(raft.MonotonicLogStore)
	if !ok || !m.IsMonotonic() {
		t.Fatalf("Store %T does not report IsMonotonic", s)
	}
	// raft still wraps the store in a LogCache; the cache must pass it on.
	c, err := raft.NewLogCache(16, s)
	if err != nil {
		t.Fatal(err)
	}
	if !c.IsMonotonic() {
		t.Fatal("LogCache hides IsMonotonic")
	}

	storeRange(t, s, 1, 5, time.Now())
	if err := s.StoreLogs([]*raft.Log{testLog(7, time.Now())}); err == nil {
		t.Fatal("StoreLogs with a gap succeeded")
	}
	wantBounds(t, s, 1, 5)
}

func TestOpenLocksDir(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)

	_, err := Open(DefaultConfig(dir))
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open err = %v; want ErrLocked", err)
	}

	closeT(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.LastIndex(); !errors.Is(err, ErrClosed) {
		t.Fatalf("LastIndex after Close err = %v; want ErrClosed", err)
	}
	if err := s.Set([]byte("k"), []byte("v")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Set after Close err = %v; want ErrClosed", err)
	}

	// Close released both our lock and the backend's bbolt lock.
	openT(t, dir)
}

func TestOpenCreatesDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "raft")
	s := openT(t, dir)
	storeRange(t, s, 1, 3, time.Now())
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Fatalf("dir mode = %v; want no group or other access", perm)
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	if err := (Config{}).Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Validate(empty) = %v; want ErrInvalidConfig", err)
	}
	if err := DefaultConfig("x").Validate(); err != nil {
		t.Fatalf("Validate(DefaultConfig) = %v", err)
	}
	if _, err := Open(Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Open(empty) err = %v; want ErrInvalidConfig", err)
	}

	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(DefaultConfig(file)); err == nil {
		_ = s.Close()
		t.Fatal("Open on a regular file succeeded")
	}
}
