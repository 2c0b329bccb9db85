package cluster

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// pointSM is kvSM with keys under "p/" declared point keys, and two more
// commands: "del K" deletes K; "list P" lists the keys under P in order.
type pointSM struct{ kvSM }

func (*pointSM) PointPrefixes() []string { return []string{"p/"} }

func (s *pointSM) Apply(txn Txn, e Entry) ([]byte, error) {
	f := strings.Fields(string(e.Data))
	switch {
	case len(f) == 2 && f[0] == "del":
		return nil, txn.Delete([]byte(f[1]))
	case len(f) == 2 && f[0] == "list":
		var keys []string
		err := txn.Iterate([]byte(f[1]), nil, func(k, _ []byte) error {
			keys = append(keys, string(k))
			return nil
		})
		return []byte(strings.Join(keys, ",")), err
	}
	return s.kvSM.Apply(txn, e)
}

// Point keys are read, written and deleted like any other key, survive a
// restart from Badger, count in the keys, and cannot be iterated: a state
// machine that tried would see ErrNotOrdered instead of a silently partial
// walk.
func TestPointKeysLiveInTheHashMap(t *testing.T) {
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	db := openTestDB(t, stateDir, 8<<20)
	sm := &pointSM{}
	f := fsmOver(t, db, sm, dir)
	res := f.ApplyBatch([]*raft.Log{
		cmdLog(1, "set p/a 1"), cmdLog(2, "set p/b 2"), cmdLog(3, "set o/a 3"), cmdLog(4, "set o/b 4"),
		cmdLog(5, "add p/a 10"), cmdLog(6, "del p/b"), cmdLog(7, "list o/"),
	})
	okResult(t, 4, res[4], "11")
	okResult(t, 6, res[6], "o/a,o/b")
	var all []string
	if err := f.state.iterate(nil, []byte("o/b"), func(k, _ []byte) error { all = append(all, string(k)); return nil }); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(all, ","); got != "o/b,p/a" { // every key from o/b on, point keys in order too
		t.Fatalf("walk of every key from o/b: %s", got)
	}
	for i, prefix := range []string{"p/", "p"} {
		r := f.ApplyBatch([]*raft.Log{cmdLog(uint64(8+i), "list "+prefix)})
		rejected(t, 0, r[0], ErrNotOrdered)
	}
	if _, ok := f.state.points.get([]byte("p/a")); !ok || f.state.tree.Has(item{k: "p/a"}) {
		t.Fatalf("p/a is not (only) in the hash map")
	}
	if f.state.keys != 3 {
		t.Fatalf("state counts %d keys, want 3 (p/a, o/a, o/b)", f.state.keys)
	}

	closeFSM(t, f)
	db = openTestDB(t, stateDir, 8<<20)
	defer db.Close()
	f = fsmOver(t, db, &pointSM{}, dir)
	for k, want := range map[string]string{"p/a": "11", "o/a": "3", "o/b": "4"} {
		v, err := f.state.get([]byte(k))
		if err != nil || string(v) != want {
			t.Fatalf("after reopen %s = %q, %v; want %q", k, v, err, want)
		}
	}
	if _, err := f.state.get([]byte("p/b")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted point key p/b reads %v after reopen", err)
	}
	if f.state.keys != 3 {
		t.Fatalf("reopened state counts %d keys, want 3", f.state.keys)
	}
}

// The layout decides by prefix, both ways: a walk over a prefix that a
// point prefix extends is refused too.
func TestLayoutOrdered(t *testing.T) {
	l := layout{points: []string{"t/", "x/"}}
	for prefix, want := range map[string]bool{"": false, "t": false, "t/": false, "t/abc": false, "e/": true, "x": false, "z/": true} {
		if got := l.ordered([]byte(prefix)); got != want {
			t.Errorf("ordered(%q) = %v, want %v", prefix, got, want)
		}
	}
	for k, want := range map[string]bool{"t/1": true, "x/g/1": true, "t": false, "e/1": false} {
		if got := l.isPoint(k); got != want {
			t.Errorf("isPoint(%q) = %v, want %v", k, got, want)
		}
	}
}

// derivedSM keeps "d/K" in memory only and writes, per entry, a source
// record "s/<index>" = "K=V" that Rebuild reads back. Commands:
// "rec K V" and "drop K INDEX" (deletes d/K and the source of INDEX).
type derivedSM struct{}

func (derivedSM) DerivedPrefixes() []string { return []string{"d/"} }
func (derivedSM) SourcePrefixes() []string  { return []string{"s/"} }

func (derivedSM) Rebuild(txn Txn) error {
	return txn.Iterate([]byte("s/"), nil, func(_, v []byte) error {
		k, val, _ := strings.Cut(string(v), "=")
		return txn.Set([]byte("d/"+k), []byte(val))
	})
}

func (derivedSM) Apply(txn Txn, e Entry) ([]byte, error) {
	f := strings.Fields(string(e.Data))
	switch {
	case len(f) == 3 && f[0] == "rec":
		if err := txn.Set([]byte("d/"+f[1]), []byte(f[2])); err != nil {
			return nil, err
		}
		return nil, txn.Set(fmt.Appendf(nil, "s/%08d", e.Index), []byte(f[1]+"="+f[2]))
	case len(f) == 3 && f[0] == "drop":
		if err := txn.Delete([]byte("d/" + f[1])); err != nil {
			return nil, err
		}
		return nil, txn.Delete([]byte("s/" + f[2]))
	}
	return nil, fmt.Errorf("unknown command %q", e.Data)
}

// Derived keys never reach Badger and come back after a restart, rebuilt
// from the source keys, which are on disk and not in memory; a delete of
// both is persisted.
func TestDerivedKeysAreRebuiltFromSources(t *testing.T) {
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	db := openTestDB(t, stateDir, 8<<20)
	f := fsmOver(t, db, derivedSM{}, dir)
	f.ApplyBatch([]*raft.Log{cmdLog(1, "rec a 1"), cmdLog(2, "rec b 2"), cmdLog(3, "rec c 3"), cmdLog(4, "drop b 00000002")})
	if v, err := f.state.get([]byte("d/a")); err != nil || string(v) != "1" {
		t.Fatalf("d/a in memory = %q, %v", v, err)
	}
	if _, err := f.state.get([]byte("s/00000001")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a source key is held in memory: %v", err)
	}
	disk := flushed(t, f)
	wantNoKey(t, disk, "d/a")
	wantKey(t, disk, "s/00000001", "a=1")
	wantNoKey(t, disk, "s/00000002")

	closeFSM(t, f)
	db = openTestDB(t, stateDir, 8<<20)
	defer db.Close()
	f = fsmOver(t, db, derivedSM{}, dir)
	for k, want := range map[string]string{"d/a": "1", "d/c": "3"} {
		if v, err := f.state.get([]byte(k)); err != nil || string(v) != want {
			t.Fatalf("after reopen %s = %q, %v; want %q", k, v, err, want)
		}
	}
	for _, k := range []string{"d/b", "s/00000001", "s/00000003"} {
		if _, err := f.state.get([]byte(k)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("after reopen %s is in memory (%v)", k, err)
		}
	}
	if f.state.keys != 2 {
		t.Fatalf("reopened state counts %d keys, want 2 (d/a, d/c)", f.state.keys)
	}
}

// A state whose Badger holds derived keys written before they were
// derived keeps them and sends their deletions to Badger, so that they do
// not come back at the next start.
func TestLegacyDerivedKeysAreDeletedOnDisk(t *testing.T) {
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	db := openTestDB(t, stateDir, 8<<20)
	f := fsmOver(t, db, &kvSM{}, dir) // d/old is an ordinary key here
	f.ApplyBatch([]*raft.Log{cmdLog(1, "set d/old 1"), cmdLog(2, "set d/gone 2")})
	closeFSM(t, f)

	db = openTestDB(t, stateDir, 8<<20)
	f = fsmOver(t, db, derivedSM{}, dir)
	if v, err := f.state.get([]byte("d/old")); err != nil || string(v) != "1" {
		t.Fatalf("legacy d/old after the switch = %q, %v", v, err)
	}
	f.ApplyBatch([]*raft.Log{cmdLog(3, "drop gone 00000000")})
	closeFSM(t, f)

	db = openTestDB(t, stateDir, 8<<20)
	defer db.Close()
	wantKey(t, db, "d/old", "1")
	wantNoKey(t, db, "d/gone")
}
