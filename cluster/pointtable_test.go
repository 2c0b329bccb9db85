package cluster

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// checkTable compares t with the model: every key, the count, and a walk.
func checkTable(t *testing.T, pt *pointTable, model map[string][]byte) {
	t.Helper()
	if pt.count != len(model) {
		t.Fatalf("table counts %d keys, model has %d", pt.count, len(model))
	}
	for k, want := range model {
		v, ok := pt.get([]byte(k))
		if !ok || !bytes.Equal(v, want) {
			t.Fatalf("get %q = %q, %v; want %q", k, v, ok, want)
		}
	}
	seen := 0
	pt.each(func(k, v []byte) bool {
		seen++
		if want, ok := model[string(k)]; !ok || !bytes.Equal(v, want) {
			t.Fatalf("walk found %q = %q; model has %q (%v)", k, v, want, ok)
		}
		return true
	})
	if seen != len(model) {
		t.Fatalf("walk saw %d keys, model has %d", seen, len(model))
	}
}

// The table behaves as a map through growth, deletes (back-shifted
// probes), overwrites, records bigger than a slab and compactions; and a
// value read earlier never changes afterwards, which Reader promises and
// snapshots and views rely on.
func TestPointTableMatchesAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pt := newPointTable()
	model := map[string][]byte{}
	type held struct {
		v    []byte
		want []byte
	}
	var kept []held
	keys := 20_000
	for op := 0; op < 300_000; op++ {
		k := fmt.Sprintf("t/%d", rng.IntN(keys))
		switch r := rng.IntN(10); {
		case r < 6:
			n := rng.IntN(200)
			if rng.IntN(5000) == 0 {
				n = pointSlabSize + rng.IntN(1000) // a record bigger than a slab
			}
			v := make([]byte, n)
			for i := range v {
				v[i] = byte(rng.IntN(256))
			}
			added := pt.put(k, v)
			if _, had := model[k]; added == had {
				t.Fatalf("put %q reported new=%v, model had it=%v", k, added, had)
			}
			model[k] = v
		case r < 9:
			_, had := model[k]
			if got := pt.del(k); got != had {
				t.Fatalf("del %q = %v, model had it = %v", k, got, had)
			}
			delete(model, k)
		default:
			if v, ok := pt.get([]byte(k)); ok && len(kept) < 5000 {
				kept = append(kept, held{v: v, want: bytes.Clone(v)})
			}
		}
		pt.compact()
		if op%50_000 == 0 {
			checkTable(t, pt, model)
		}
	}
	checkTable(t, pt, model)
	for i, h := range kept {
		if !bytes.Equal(h.v, h.want) {
			t.Fatalf("value %d read earlier changed afterwards", i)
		}
		if cap(h.v) != len(h.v) {
			t.Fatalf("value %d has room to append into the slab (len %d cap %d)", i, len(h.v), cap(h.v))
		}
	}
	inSlabs, live := 0, 0
	for _, s := range pt.slabs {
		inSlabs += len(s)
	}
	for _, v := range model {
		live += recordSize(8, len(v))
	}
	t.Logf("%d keys in %d slots, %d slabs, %d compacted; %d bytes in slabs for %d live", pt.count, len(pt.slots), len(pt.slabs), pt.compactions, inSlabs, live)
	if pt.compactions == 0 {
		t.Fatal("no slab was ever compacted: the test does not exercise compaction")
	}
}

// Deleting every key leaves an empty table that still works.
func TestPointTableEmptiesAndRefills(t *testing.T) {
	pt := newPointTable()
	model := map[string][]byte{}
	for round := 0; round < 3; round++ {
		for i := 0; i < 5000; i++ {
			k := fmt.Sprintf("x/%d/%d", round, i)
			pt.put(k, []byte(k))
			model[k] = []byte(k)
		}
		checkTable(t, pt, model)
		for k := range model {
			pt.del(k)
			delete(model, k)
			pt.compact()
		}
		checkTable(t, pt, model)
	}
}

func FuzzPointTable(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 1, 1, 2, 200, 5, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		pt := newPointTable()
		model := map[string][]byte{}
		for i := 0; i+1 < len(ops); i += 2 {
			k := fmt.Sprintf("k%d", ops[i+1]%32)
			switch ops[i] % 3 {
			case 0, 1:
				v := bytes.Repeat([]byte{ops[i+1]}, int(ops[i])*40)
				pt.put(k, v)
				model[k] = v
			case 2:
				pt.del(k)
				delete(model, k)
			}
			pt.compact()
		}
		checkTable(t, pt, model)
	})
}

func BenchmarkPointTableGet(b *testing.B) {
	pt := newPointTable()
	keys := make([][]byte, 1_000_000)
	v := make([]byte, 90)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "t/%016d", i)
		pt.put(string(keys[i]), v)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, ok := pt.get(keys[(i*7919)%len(keys)]); !ok {
			b.Fatal("missing key")
		}
	}
}
