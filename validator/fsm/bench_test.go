package fsm

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/validator/ticket"
)

const benchBatch = 256

// benchScans returns a batch of scans of distinct tickets.
func benchScans(first int) []Scan {
	scans := make([]Scan, benchBatch)
	for i := range scans {
		id := [16]byte{0: 0xbe, 13: byte((first + i) >> 16), 14: byte((first + i) >> 8), 15: byte(first + i)}
		scans[i] = Scan{
			ScanID:   fmt.Sprintf("%016d", first+i),
			Gate:     "gate-" + strconv.Itoa(i%16),
			Persons:  1,
			TicketID: id, CodeVersion: 1, Digest: digest(id, 1),
		}
		scans[i].Digest[13], scans[i].Digest[14] = id[13], id[14]
	}
	return scans
}

// BenchmarkApplyScanBatch256 applies batches of 256 admitted scans of
// distinct tickets, one Badger transaction (apply and commit) per batch, on
// disk. 64 batches cover 16384 multi-entry tickets round robin, and every
// scan ID is new. The tickets sit in Badger's on-disk tables (the database
// is reopened after issuing them), as a park's do after a morning of sales;
// cache=off reads each from Badger, cache=on as the nodes run.
func BenchmarkApplyScanBatch256(b *testing.B) {
	for _, c := range []struct {
		name   string
		cached int
	}{{"cache=off", 0}, {"cache=on", DefaultCachedTickets}} {
		b.Run(c.name, func(b *testing.B) { benchApplyScanBatch(b, NewMachine(c.cached)) })
	}
}

func benchApplyScanBatch(b *testing.B, m Machine) {
	dir := b.TempDir()
	e := &env{t: b, db: openDBAt(b, dir), m: m, now: t0 + 2*hour}
	var gates []Gate
	for i := range 16 {
		gates = append(gates, Gate{ID: "gate-" + strconv.Itoa(i), Zone: "main"})
	}
	e.configure(Configure{TimeZone: "Asia/Shanghai", Zones: []ticket.Zone{{ID: "main"}}, Gates: gates})

	const rounds = 64
	templates := make([][]byte, rounds)
	idOffsets := make([][]int, rounds) // where each scan ID's digits sit in the command
	for r := range rounds {
		scans := benchScans(r * benchBatch)
		tks := make([]ticket.Ticket, benchBatch)
		for i, s := range scans {
			tks[i] = ticket.Ticket{ID: s.TicketID, Version: 1, Kind: ticket.Multi, Entries: 65535, Product: "multi", Digest: s.Digest}
		}
		e.issue(tks...)
		cmd, err := EncodeScanBatch(scans)
		if err != nil {
			b.Fatal(err)
		}
		templates[r] = cmd
		for _, s := range scans {
			idOffsets[r] = append(idOffsets[r], bytes.Index(cmd, []byte(s.ScanID)))
		}
	}

	// Reopen: Badger writes its memtables to on-disk tables on close.
	if err := e.db.Close(); err != nil {
		b.Fatal(err)
	}
	e.db = openDBAt(b, dir)
	m.Reload(e.db)

	var seq uint64
	at := time.UnixMilli(t0 + 2*hour)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for b.Loop() {
		r := int(seq % rounds)
		cmd := templates[r]
		for _, off := range idOffsets[r] { // a fresh scan ID for every scan
			seq++
			strconv.AppendUint(cmd[off:off], seq+1e15, 10)
		}
		e.idx++
		txn := e.db.NewTransaction(true)
		res, err := m.Apply(txn, cluster.Entry{Index: e.idx, Term: 1, Time: at, Data: cmd})
		if err != nil {
			b.Fatal(err)
		}
		if err := txn.Commit(); err != nil {
			b.Fatal(err)
		}
		m.Committed()
		if res[0] != ResultVersion {
			b.Fatal("bad result")
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "scans/s")
	// CPU per scan, Badger's background flushing included: steadier than
	// wall time on a shared machine. Two cores give 2s/cpu-ns-per-scan.
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*benchBatch), "cpu-ns/scan")
	}
	b.StopTimer()

	// Every scan above was admitted.
	rs, err := DecodeScanResults(mustApplyTxn(b, e, templates[0]))
	if err != nil || !rs[0].Rescan || rs[0].Result != 1 {
		b.Fatalf("last batch: %+v %v", rs[0], err)
	}
}

func mustApplyTxn(b *testing.B, e *env, cmd []byte) []byte {
	txn := e.db.NewTransaction(true)
	defer txn.Discard()
	defer e.m.Discarded()
	res, err := e.m.Apply(txn, cluster.Entry{Index: e.idx + 1, Time: time.UnixMilli(t0), Data: cmd})
	if err != nil {
		b.Fatal(err)
	}
	return res
}

func BenchmarkEncodeScanBatch256(b *testing.B) {
	scans := benchScans(0)
	buf := make([]byte, 0, ScanBatchSize(scans))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendScanBatch(buf[:0], scans); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeScanBatch256(b *testing.B) {
	cmd, err := EncodeScanBatch(benchScans(0))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(cmd)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeCommand(cmd); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeScanResults256(b *testing.B) {
	rs := make([]ScanResult, benchBatch)
	for i := range rs {
		rs[i] = ScanResult{Result: 1, Product: "adult-day", EntriesUsed: 1, EntriesAllowed: 1, FirstAt: t0, FirstGate: "gate-1", Index: 1 << 20, Pos: uint32(i)}
	}
	data := AppendScanResults(nil, rs)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeScanResults(data); err != nil {
			b.Fatal(err)
		}
	}
}
