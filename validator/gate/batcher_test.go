package gate

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/validator/fsm"
)

// recordingApplier decides every scan as an admit and records the scans of
// each command; while hold is set, Apply waits for it to be closed.
type recordingApplier struct {
	mu      sync.Mutex
	batches [][]string // scan IDs per applied command
	hold    chan struct{}
	entered chan struct{} // gets a value when an Apply starts
}

func (a *recordingApplier) IsLeader() bool { return true }

func (a *recordingApplier) Apply(ctx context.Context, cmd []byte) ([]byte, error) {
	c, err := fsm.DecodeCommand(cmd)
	if err != nil {
		return nil, err
	}
	select {
	case a.entered <- struct{}{}:
	default:
	}
	a.mu.Lock()
	hold := a.hold
	a.mu.Unlock()
	if hold != nil {
		<-hold
	}
	ids := make([]string, len(c.Scans))
	res := make([]fsm.ScanResult, len(c.Scans))
	for i, s := range c.Scans {
		ids[i] = s.ScanID
		res[i] = fsm.ScanResult{Result: 1, TicketID: s.TicketID, Pos: uint32(i)}
	}
	a.mu.Lock()
	a.batches = append(a.batches, ids)
	a.mu.Unlock()
	return fsm.AppendScanResults(nil, res), nil
}

func testScan(id string) fsm.Scan {
	return fsm.Scan{ScanID: id, Gate: "g1", TicketID: [16]byte{15: byte(len(id))}}
}

// TestBatcherGroupsScansWhileBusy: scans that arrive while a batch is in
// flight go out together in the next log entry, each caller gets its own
// result, and once the node is busy a batch waits for scans arriving just
// after it (the window) instead of leaving at once.
func TestBatcherGroupsScansWhileBusy(t *testing.T) {
	m, err := newMetrics(prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig("test-admin-token")
	cfg.Workers, cfg.MaxBatch, cfg.BatchWindow = 1, 3, time.Minute
	a := &recordingApplier{hold: make(chan struct{}), entered: make(chan struct{}, 1)}
	b := NewBatcher(a, cfg, m)
	defer b.Close()

	var started chan struct{} // closed when the next scan's goroutine runs
	scan := func(ids ...string) <-chan error {
		done := make(chan error, 1)
		s := started
		go func() {
			if s != nil {
				close(s)
			}
			scans := make([]fsm.Scan, len(ids))
			for i, id := range ids {
				scans[i] = testScan(id)
			}
			res, err := b.Scan(context.Background(), scans)
			if err == nil && len(res) != len(ids) {
				err = fmt.Errorf("%d results for %d scans", len(res), len(ids))
			}
			for i := range res {
				if err == nil && res[i].TicketID != scans[i].TicketID {
					err = fmt.Errorf("result %d is for another scan", i)
				}
			}
			done <- err
		}()
		return done
	}
	first := scan("a")
	<-a.entered // "a" is in flight and held
	waiting := []<-chan error{scan("bb"), scan("ccc"), scan("dddd")}
	// All three are queued behind the held batch: release it.
	clustertest.CheckFor(t, 10*time.Second, time.Millisecond, func() error {
		if n := len(b.queue); n < 3 {
			return fmt.Errorf("%d queued", n)
		}
		return nil
	}, "three scans queued behind the batch in flight")
	a.mu.Lock()
	close(a.hold)
	a.hold = nil
	a.mu.Unlock()
	for _, c := range append(waiting, first) {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	if got := a.snapshot(); len(got) != 2 || len(got[1]) != 3 {
		t.Fatalf("batches %v: want [a] then the three that queued, together", got)
	}
	// The worker is busy now (its last batch held 3 scans): a lone scan
	// waits in the window, and scans sent after the worker took it join
	// the same entry.
	started = make(chan struct{})
	lone := scan("e")
	<-started
	started = nil
	clustertest.CheckFor(t, 10*time.Second, time.Millisecond, func() error {
		if n := len(b.queue); n > 0 {
			return fmt.Errorf("%d queued", n)
		}
		return nil
	}, "the worker took the lone scan")
	more := []<-chan error{lone, scan("ff"), scan("ggg")}
	for _, c := range more {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	if got := a.snapshot(); len(got) != 3 || len(got[2]) != 3 {
		t.Fatalf("batches %v: the lone scan should have waited for the two after it", got)
	}
}

func (a *recordingApplier) snapshot() [][]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([][]string(nil), a.batches...)
}
