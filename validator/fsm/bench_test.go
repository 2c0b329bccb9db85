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
// distinct tickets to the in-memory state, one entry per batch, as a node
// applies them (Badger is written behind apply, not measured here). 64
// batches cover 16384 multi-entry tickets round robin, and every scan ID
// is new.
func BenchmarkApplyScanBatch256(b *testing.B) { benchApply(b, false) }

// BenchmarkApplyCredentialScanBatch256 is BenchmarkApplyScanBatch256 with
// every ticket presented by a card bound to it (a ScanBatch2): one more
// read per scan (the binding), a larger scan-ID record (it keeps the
// card) and version 2 events.
func BenchmarkApplyCredentialScanBatch256(b *testing.B) { benchApply(b, true) }

func benchApply(b *testing.B, cards bool) {
	e := &env{t: b, st: cluster.NewMemStateFor(NewMachine()), m: NewMachine(), now: t0 + 2*hour}
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
		issues := make([]Issue, benchBatch)
		for i, s := range scans {
			issues[i].Ticket = ticket.Ticket{ID: s.TicketID, Version: 1, Kind: ticket.Multi, Entries: 65535, Product: "multi", Digest: s.Digest}
			if cards {
				c := Credential{Kind: CredCard, Value: fmt.Sprintf("C%08X", r*benchBatch+i)}
				issues[i].Credentials = []Credential{c}
				scans[i] = Scan{ScanID: s.ScanID, Gate: s.Gate, Persons: s.Persons, Credential: c}
			}
		}
		if _, err := DecodeIssueResult(e.mustApply(EncodeIssues(issues))); err != nil {
			b.Fatal(err)
		}
		cmd, err := EncodeScanBatch(scans)
		if err != nil {
			b.Fatal(err)
		}
		templates[r] = cmd
		for _, s := range scans {
			idOffsets[r] = append(idOffsets[r], bytes.Index(cmd, []byte(s.ScanID)))
		}
	}

	var seq uint64
	at := time.UnixMilli(t0 + 2*hour)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for b.Loop() {
		r := int(seq / benchBatch % rounds)
		cmd := templates[r]
		for _, off := range idOffsets[r] { // a fresh scan ID for every scan
			seq++
			strconv.AppendUint(cmd[off:off], seq+1e15, 10)
		}
		e.idx++
		res, err := e.st.Apply(e.m, cluster.Entry{Index: e.idx, Term: 1, Time: at, Data: cmd})
		if err != nil {
			b.Fatal(err)
		}
		if res[0] != ResultVersion {
			b.Fatal("bad result")
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "scans/s")
	// CPU per scan: steadier than wall time on a shared machine.
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*benchBatch), "cpu-ns/scan")
	}
	b.StopTimer()

	// Every scan above was admitted: the last batch again is all rescans.
	rs, err := DecodeScanResults(e.mustApply(templates[(seq/benchBatch-1)%rounds], nil))
	if err != nil || !rs[0].Rescan || rs[0].Result != 1 {
		b.Fatalf("last batch: %+v %v", rs[0], err)
	}
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
