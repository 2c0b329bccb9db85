package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/raft"
)

// benchDB opens Badger with the options Open uses.
func benchDB(b *testing.B, dir string) *badger.DB {
	b.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).
		WithLogger(nil).
		WithSyncWrites(false).
		WithDetectConflicts(false).
		WithNumVersionsToKeep(1))
	if err != nil {
		b.Fatal(err)
	}
	return db
}

const benchTickets = 100_000

func ticketKey(id uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte("ticket/"), id)
}

// scanSM is shaped like a ticket scan: read the ticket, write it back with
// one more scan, and record the scan.
type scanSM struct{}

var errNoTicket = errors.New("no such ticket")

func (scanSM) Apply(txn Txn, e Entry) ([]byte, error) {
	if len(e.Data) != 16 {
		return nil, errors.New("scan command is 16 bytes")
	}
	id := binary.BigEndian.Uint64(e.Data)
	key := ticketKey(id)
	v, err := txn.Get(key)
	if errors.Is(err, ErrNotFound) {
		return nil, errNoTicket
	}
	if err != nil {
		return nil, err
	}
	if len(v) < 8 {
		return nil, errors.New("short ticket")
	}
	scans := binary.BigEndian.Uint64(v)
	state := make([]byte, 16)
	binary.BigEndian.PutUint64(state, scans+1)
	binary.BigEndian.PutUint64(state[8:], e.Index)
	if err := txn.Set(key, state); err != nil {
		return nil, err
	}
	rec := make([]byte, 0, 24)
	rec = binary.BigEndian.AppendUint64(rec, id)
	rec = append(rec, e.Data[8:16]...) // gate
	rec = binary.BigEndian.AppendUint64(rec, uint64(e.Time.UnixNano()))
	if err := txn.Set(binary.BigEndian.AppendUint64([]byte("scan/"), e.Index), rec); err != nil {
		return nil, err
	}
	return state[:8], nil
}

func seedTickets(b *testing.B, db *badger.DB, n int) {
	b.Helper()
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	for id := 0; id < n; id++ {
		if err := wb.Set(ticketKey(uint64(id)), make([]byte, 16)); err != nil {
			b.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkApplyBatch(b *testing.B) {
	for _, size := range []int{1, 64, 256} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			db := benchDB(b, filepath.Join(b.TempDir(), "state"))
			defer db.Close()
			seedTickets(b, db, benchTickets)
			f := ExportNewFSM(db, scanSM{}, filepath.Join(b.TempDir(), "marker"))
			defer f.flush.close()

			logs := make([]*raft.Log, size)
			now := time.Now()
			for i := range logs {
				cmd := make([]byte, 16)
				binary.BigEndian.PutUint64(cmd[8:], uint64(i%8)) // gate
				logs[i] = &raft.Log{Type: raft.LogCommand, Term: 1, Data: encodeEnvelope(now, cmd)}
			}
			var index uint64
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for _, l := range logs {
					index++
					l.Index = index
					// A different ticket each entry, spread over the park.
					binary.BigEndian.PutUint64(l.Data[envelopeHeader:], (index*7919)%benchTickets)
				}
				res := f.ApplyBatch(logs)
				if r, ok := res[len(res)-1].(applyResult); !ok || r.err != nil {
					b.Fatalf("entry %d: %v", index, res[len(res)-1])
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// countSink is a raft.SnapshotSink that counts and drops what it is given.
type countSink struct{ n int64 }

func (s *countSink) Write(p []byte) (int, error) { s.n += int64(len(p)); return len(p), nil }
func (s *countSink) ID() string                  { return "count" }
func (s *countSink) Cancel() error               { return nil }
func (s *countSink) Close() error                { return nil }

func BenchmarkSnapshotPersist(b *testing.B) {
	const keys = 100_000
	dir := filepath.Join(b.TempDir(), "state")
	db := benchDB(b, dir)
	wb := db.NewWriteBatch()
	val := make([]byte, 48)
	for i := 0; i < keys; i++ {
		binary.BigEndian.PutUint64(val, uint64(i))
		if err := wb.Set(ticketKey(uint64(i)), val); err != nil {
			b.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		b.Fatal(err)
	}
	// Reopen so the state is in tables on disk, as on a running node.
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	db = benchDB(b, dir)
	defer db.Close()
	f := ExportNewFSM(db, scanSM{}, filepath.Join(b.TempDir(), "marker"))
	defer f.flush.close()

	persist := func() int64 {
		snap, err := f.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		defer snap.Release()
		sink := &countSink{}
		if err := snap.Persist(sink); err != nil {
			b.Fatal(err)
		}
		return sink.n
	}
	size := persist()
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if n := persist(); n != size {
			b.Fatalf("snapshot of %d bytes, first was %d", n, size)
		}
	}
	b.ReportMetric(float64(b.N*keys)/b.Elapsed().Seconds(), "keys/s")
}
