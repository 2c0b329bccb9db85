package cluster

import (
	"errors"
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
