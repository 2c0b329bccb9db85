package cluster

import (
	"encoding/binary"
	"hash/maphash"
)

// pointTable holds the point keys (see PointKeyed): a hash table whose
// records live in large byte slabs, not in a Go map of strings and slices.
// A million tickets in a map are two million small objects the garbage
// collector walks on every cycle (17 % of a follower's CPU under load);
// here they are a few hundred slabs it never looks inside, and a record
// costs its bytes plus an 8-byte header and a 16-byte slot, not three
// allocations.
//
// Records are append-only: a value handed out stays valid and unchanged,
// as Reader promises, because a slab is never written below its length
// and a compacted slab is dropped, not reused (readers holding its bytes
// keep it alive). A write supersedes the old record; once half of a slab
// is superseded, its live records move to the newest slab, one slab per
// call of compact so that no apply waits long.
type pointTable struct {
	seed  maphash.Seed
	slots []pointSlot // open addressing, linear probing; len a power of two
	count int
	slabs [][]byte // nil once compacted away
	dead  []int    // superseded bytes per slab
	free  []uint32 // indexes of dropped slabs, to reuse
	cur   uint32   // the slab appended to
	todo  []uint32 // slabs at least half dead, to compact

	compactions int // slabs compacted away, ever
}

// pointSlot is one key: its hash (0: empty slot) and where its record is.
type pointSlot struct{ hash, ref uint64 }

const (
	pointSlabSize   = 1 << 20
	pointRecordHead = 8 // key length, value length: uint32 each
	pointMinSlots   = 1 << 10
)

func newPointTable() *pointTable {
	t := &pointTable{seed: maphash.MakeSeed(), slots: make([]pointSlot, pointMinSlots)}
	t.slabs = [][]byte{make([]byte, 0, pointSlabSize)}
	t.dead = []int{0}
	return t
}

func (t *pointTable) hash(key string) uint64 {
	h := maphash.String(t.seed, key)
	if h == 0 {
		h = 1
	}
	return h
}

func refOf(slab uint32, off int) uint64 { return uint64(slab)<<32 | uint64(off) }

// record returns the key and value at ref; the value's capacity ends
// with it, so a caller's append cannot write into the slab.
func (t *pointTable) record(ref uint64) (key, value []byte) {
	b := t.slabs[ref>>32][uint32(ref):]
	kl := binary.LittleEndian.Uint32(b)
	vl := binary.LittleEndian.Uint32(b[4:])
	k := b[pointRecordHead : pointRecordHead+kl]
	end := pointRecordHead + kl + vl
	return k, b[pointRecordHead+kl : end : end]
}

func recordSize(klen, vlen int) int { return pointRecordHead + klen + vlen }

// find returns the slot of key, or -1 and the empty slot where it would go.
func (t *pointTable) find(key string, h uint64) (found int, empty int) {
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.hash == 0 {
			return -1, int(i)
		}
		if s.hash == h {
			if k, _ := t.record(s.ref); string(k) == key {
				return int(i), -1
			}
		}
	}
}

// get returns the value of key (find's loop, for a []byte key without
// converting it).
func (t *pointTable) get(key []byte) ([]byte, bool) {
	h := maphash.Bytes(t.seed, key)
	if h == 0 {
		h = 1
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.hash == 0 {
			return nil, false
		}
		if s.hash == h {
			if k, v := t.record(s.ref); string(k) == string(key) {
				return v, true
			}
		}
	}
}

// put writes key's value; it reports whether the key is new.
func (t *pointTable) put(key string, v []byte) bool {
	h := t.hash(key)
	i, empty := t.find(key, h)
	if i >= 0 {
		t.supersede(t.slots[i].ref)
		t.slots[i].ref = t.append(key, v)
		return false
	}
	if (t.count+1)*4 > len(t.slots)*3 {
		t.grow()
		_, empty = t.find(key, h)
	}
	t.slots[empty] = pointSlot{hash: h, ref: t.append(key, v)}
	t.count++
	return true
}

// del removes key; it reports whether it was there.
func (t *pointTable) del(key string) bool {
	i, _ := t.find(key, t.hash(key))
	if i < 0 {
		return false
	}
	t.supersede(t.slots[i].ref)
	t.removeSlot(i)
	t.count--
	return true
}

// removeSlot empties slot i by shifting back the slots after it that
// probed past it (no tombstones: lookups stay short after many deletes).
func (t *pointTable) removeSlot(i int) {
	mask := len(t.slots) - 1
	for j := (i + 1) & mask; t.slots[j].hash != 0; j = (j + 1) & mask {
		home := int(t.slots[j].hash) & mask
		// Slot j may move to i unless its home lies cyclically in (i, j].
		if (i < j && i < home && home <= j) || (i > j && (home > i || home <= j)) {
			continue
		}
		t.slots[i] = t.slots[j]
		i = j
	}
	t.slots[i] = pointSlot{}
}

func (t *pointTable) grow() {
	old := t.slots
	t.slots = make([]pointSlot, len(old)*2)
	mask := uint64(len(t.slots) - 1)
	for _, s := range old {
		if s.hash == 0 {
			continue
		}
		i := s.hash & mask
		for t.slots[i].hash != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// append writes a record into the current slab (a new one when it is
// full; a record bigger than a slab gets a slab of its own).
func (t *pointTable) append(key string, v []byte) uint64 {
	n := recordSize(len(key), len(v))
	s := t.slabs[t.cur]
	if len(s)+n > cap(s) {
		if old := t.cur; t.dead[old] >= cap(s)/2 {
			t.todo = append(t.todo, old) // half dead while it was filled
		}
		t.cur = t.newSlab(max(n, pointSlabSize))
		s = t.slabs[t.cur]
	}
	off := len(s)
	s = binary.LittleEndian.AppendUint32(s, uint32(len(key)))
	s = binary.LittleEndian.AppendUint32(s, uint32(len(v)))
	s = append(append(s, key...), v...)
	t.slabs[t.cur] = s
	return refOf(t.cur, off)
}

func (t *pointTable) newSlab(size int) uint32 {
	b := make([]byte, 0, size)
	if n := len(t.free); n > 0 {
		i := t.free[n-1]
		t.free = t.free[:n-1]
		t.slabs[i], t.dead[i] = b, 0
		return i
	}
	t.slabs = append(t.slabs, b)
	t.dead = append(t.dead, 0)
	return uint32(len(t.slabs) - 1)
}

// supersede counts the record at ref as dead, and queues its slab for
// compaction when half of it is.
func (t *pointTable) supersede(ref uint64) {
	k, v := t.record(ref)
	s := uint32(ref >> 32)
	before := t.dead[s]
	t.dead[s] += recordSize(len(k), len(v))
	half := cap(t.slabs[s]) / 2
	if before < half && t.dead[s] >= half {
		t.todo = append(t.todo, s)
	}
}

// compact moves the live records of one half-dead slab to the current
// slab and drops it. The caller holds the state's write lock.
func (t *pointTable) compact() {
	for len(t.todo) > 0 {
		s := t.todo[0]
		t.todo = t.todo[1:]
		if s == t.cur || t.slabs[s] == nil {
			continue // still being filled (it is queued again later), or gone
		}
		b := t.slabs[s]
		for off := 0; off < len(b); {
			ref := refOf(s, off)
			k, v := t.record(ref)
			off += recordSize(len(k), len(v))
			key := string(k)
			if i, _ := t.find(key, t.hash(key)); i >= 0 && t.slots[i].ref == ref {
				t.slots[i].ref = t.append(key, v)
			}
		}
		t.slabs[s], t.dead[s] = nil, 0
		t.free = append(t.free, s)
		t.compactions++
		return
	}
}

// each calls fn for every key and value, in no order.
func (t *pointTable) each(fn func(k, v []byte) bool) {
	for _, s := range t.slots {
		if s.hash != 0 {
			if !fn(t.record(s.ref)) {
				return
			}
		}
	}
}
