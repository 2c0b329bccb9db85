package logstore

import (
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
)

// The benchmarks compare the two candidate backends directly, each with its
// default (fsync on every StoreLogs) settings, so the numbers in doc.go can be
// reproduced with:
//
//	go test -run xxx -bench . -benchtime=2s ./cluster/logstore/

// payloadSize is what one batch of scans encodes to.
const payloadSize = 256

type benchStore interface {
	raft.LogStore
	io.Closer
}

type backend struct {
	name string
	open func(dir string) (benchStore, error)
}

var backends = []backend{
	{"wal", func(dir string) (benchStore, error) {
		return wal.Open(dir, wal.WithLogger(hclog.NewNullLogger()))
	}},
	{"bolt", func(dir string) (benchStore, error) {
		// NoSync false is the default: bbolt fdatasyncs on every commit.
		return raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
	}},
	// What the cluster gets: wal plus this package's lock and GetLog check.
	{"logstore", func(dir string) (benchStore, error) {
		return Open(DefaultConfig(dir))
	}},
}

func openBench(b *testing.B, be backend) benchStore {
	b.Helper()
	s, err := be.open(b.TempDir())
	if err != nil {
		b.Fatalf("open %s: %v", be.name, err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Errorf("close %s: %v", be.name, err)
		}
	})
	return s
}

// makeBatch builds n consecutive entries starting at first. The payload is
// shared: stores encode it and never keep the slice.
func makeBatch(first uint64, n int, payload []byte) []*raft.Log {
	now := time.Now()
	logs := make([]*raft.Log, n)
	for i := range logs {
		logs[i] = &raft.Log{
			Index:      first + uint64(i),
			Term:       1,
			Type:       raft.LogCommand,
			Data:       payload,
			AppendedAt: now,
		}
	}
	return logs
}

// fill appends entries [first, first+n) in large batches, untimed.
func fill(b *testing.B, s benchStore, first uint64, n int, payload []byte) {
	b.Helper()
	const chunk = 1024
	for done := 0; done < n; done += chunk {
		k := min(chunk, n-done)
		if err := s.StoreLogs(makeBatch(first+uint64(done), k, payload)); err != nil {
			b.Fatalf("fill: %v", err)
		}
	}
}

func reportEntries(b *testing.B, perOp int) {
	b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkStoreLogs is the hot path: the leader appends one batch per call
// and each call must be durable before raft acknowledges it.
func BenchmarkStoreLogs(b *testing.B) {
	payload := make([]byte, payloadSize)
	for _, be := range backends {
		for _, batch := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/batch=%d", be.name, batch), func(b *testing.B) {
				s := openBench(b, be)
				// Pre-build the batches so only the store is timed; indexes
				// are rewritten per call.
				logs := makeBatch(1, batch, payload)
				next := uint64(1)
				for b.Loop() {
					for i, l := range logs {
						l.Index = next + uint64(i)
					}
					if err := s.StoreLogs(logs); err != nil {
						b.Fatal(err)
					}
					next += uint64(batch)
				}
				reportEntries(b, batch)
			})
		}
	}
}

// BenchmarkGetLog reads recent entries, as a follower catch-up or the FSM
// apply loop does.
func BenchmarkGetLog(b *testing.B) {
	payload := make([]byte, payloadSize)
	const n = 10_000
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := openBench(b, be)
			fill(b, s, 1, n, payload)
			var l raft.Log
			i := uint64(0)
			for b.Loop() {
				idx := n - i%256
				if err := s.GetLog(idx, &l); err != nil {
					b.Fatal(err)
				}
				i++
			}
			reportEntries(b, 1)
		})
	}
}

// BenchmarkDeleteRange measures head truncation after a snapshot. The log
// holds a sliding window: untimed, append chunk entries at the tail; timed,
// drop the oldest chunk entries.
func BenchmarkDeleteRange(b *testing.B) {
	payload := make([]byte, payloadSize)
	const (
		window = 8192
		chunk  = 1024
	)
	for _, be := range backends {
		b.Run(fmt.Sprintf("%s/entries=%d", be.name, chunk), func(b *testing.B) {
			s := openBench(b, be)
			fill(b, s, 1, window, payload)
			first, next := uint64(1), uint64(window+1)
			for b.Loop() {
				b.StopTimer()
				fill(b, s, next, chunk, payload)
				next += chunk
				b.StartTimer()
				if err := s.DeleteRange(first, first+chunk-1); err != nil {
					b.Fatal(err)
				}
				first += chunk
			}
			b.StopTimer()
			if got, err := s.FirstIndex(); err != nil || got != first {
				b.Fatalf("FirstIndex = %d, %v; want %d", got, err, first)
			}
			reportEntries(b, chunk)
		})
	}
}
