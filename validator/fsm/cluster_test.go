package fsm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/validator/rules"
	"github.com/admitpark/admit/validator/ticket"
)

// submit applies cmd through node, retrying while the outcome is unknown
// or there is no leader: commands are idempotent, so a retry is safe.
func submit(ctx context.Context, n *cluster.Node, cmd []byte) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		res, err := n.Apply(ctx, cmd)
		if err == nil || attempt == 5 || !(errors.Is(err, cluster.ErrOutcomeUnknown) || errors.Is(err, cluster.ErrNoLeader)) {
			return res, err
		}
	}
}

// Every node accepts scans; the same 200 single-entry tickets are scanned by
// 8 goroutines on each of 3 nodes at once. Each ticket is admitted exactly
// once, and a scan retried through another node gets its original decision.
func TestClusterConcurrentScans(t *testing.T) {
	h := clustertest.New(t, 3, clustertest.Options{
		StateMachine: func(string) cluster.StateMachine { return NewMachine() },
	})
	ctx := context.Background()
	nodes := []*cluster.Node{h.Members[0].Node(), h.Members[1].Node(), h.Members[2].Node()}

	cfg, err := EncodeConfigure(Configure{
		TimeZone: "Asia/Shanghai",
		Zones:    []ticket.Zone{{ID: "main"}},
		Gates:    []Gate{{ID: "g1", Zone: "main"}, {ID: "g2", Zone: "main"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := submit(ctx, nodes[1], cfg); err != nil {
		t.Fatal(err)
	}
	const nTickets = 200
	now := time.Now().UnixMilli()
	tks := make([]ticket.Ticket, nTickets)
	for i := range tks {
		tks[i] = tkt(0, ticket.Single, withValidity(now-day, now+day))
		tks[i].ID[14], tks[i].ID[15] = byte(i>>8), byte(i)
		tks[i].Digest = digest(tks[i].ID, 1)
		tks[i].Digest[14] = byte(i >> 8)
	}
	issue, err := EncodeIssueBatch(tks)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes { // issued through every node: the resends are stale
		if _, err := submit(ctx, n, issue); err != nil {
			t.Fatal(err)
		}
	}

	type decided struct {
		scan Scan
		node int
		res  ScanResult
	}
	var mu sync.Mutex
	var all []decided
	var wg sync.WaitGroup
	errc := make(chan error, 24)
	const batch = 10
	for ni, n := range nodes {
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := (ni*8 + g) * 7 % nTickets // spread the starting points
				var mine []decided
				for b := 0; b < nTickets/batch; b++ {
					scans := make([]Scan, batch)
					for k := range scans {
						i := (start + b*batch + k) % nTickets
						scans[k] = scanOf(fmt.Sprintf("n%d-g%d-%d", ni, g, i), fmt.Sprint("g", 1+g%2), tks[i])
					}
					cmd, err := EncodeScanBatch(scans)
					if err == nil {
						var res []byte
						if res, err = submit(ctx, n, cmd); err == nil {
							var rs []ScanResult
							if rs, err = DecodeScanResults(res); err == nil {
								for k := range rs {
									mine = append(mine, decided{scans[k], ni, rs[k]})
								}
							}
						}
					}
					if err != nil {
						errc <- err
						return
					}
				}
				mu.Lock()
				all = append(all, mine...)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}

	admits := map[[16]byte]decided{}
	var maxIndex uint64
	for _, d := range all {
		maxIndex = max(maxIndex, d.res.Index)
		switch {
		case d.res.Error != ScanOK:
			t.Fatalf("scan %s: error %s", d.scan.ScanID, d.res.Error)
		case d.res.Result == rules.Admit:
			if prev, ok := admits[d.scan.TicketID]; ok {
				t.Fatalf("ticket %x admitted twice: %s and %s", d.scan.TicketID, prev.scan.ScanID, d.scan.ScanID)
			}
			admits[d.scan.TicketID] = d
		case d.res.Reason != rules.AlreadyUsed:
			t.Fatalf("scan %s: %s", d.scan.ScanID, d.res.Reason)
		}
	}
	if len(all) != 24*nTickets || len(admits) != nTickets {
		t.Fatalf("%d decisions, %d tickets admitted", len(all), len(admits))
	}

	// Retry some scans through another node: the original decision, marked
	// as a rescan, and nothing changes.
	var retry []Scan
	var orig []ScanResult
	for i, d := range all {
		if i%97 == 0 {
			retry = append(retry, d.scan)
			orig = append(orig, d.res)
		}
	}
	cmd, err := EncodeScanBatch(retry)
	if err != nil {
		t.Fatal(err)
	}
	res, err := submit(ctx, nodes[2], cmd)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := DecodeScanResults(res)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rs {
		want := orig[i]
		want.Rescan = true
		if rs[i] != want {
			t.Fatalf("retry %s:\n got %+v\nwant %+v", retry[i].ScanID, rs[i], want)
		}
	}

	// Every replica holds the same state, with one event per decision.
	h.WaitApplied(maxIndex+1, 10*time.Second)
	var first map[string]string
	for i, n := range nodes {
		d, err := dump(n)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = d
		} else if err := sameDump(first, d); err != nil {
			t.Fatalf("replica %d differs from replica 0: %v", i, err)
		}
		evs, _, err := EventsAfter(n, Cursor{}, 10*nTickets*24)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 24*nTickets || evs[len(evs)-1].Seq != uint64(len(evs)) {
			t.Fatalf("replica %d: %d events", i, len(evs))
		}
		zones, err := Zones(n)
		if err != nil || zones[0].Occupancy != nTickets {
			t.Fatalf("replica %d: zones %+v %v", i, zones, err)
		}
	}
}
