package fsm

import (
	"fmt"
	"testing"

	"github.com/admitpark/admit/validator/ticket"
)

// A simulated week of gate traffic with the leader's purge every ten
// minutes (48 h retention, as validator/gate runs it): the state stops
// growing once the retention window is full, and holds what the window
// needs, no less.
func TestMemoryFlatOverASimulatedWeek(t *testing.T) {
	e := newPark(t)
	var tks []ticket.Ticket
	for i := range 200 {
		tks = append(tks, tkt(byte(i), ticket.Multi, withEntries(65000), withValidity(t0, t0+30*day)))
	}
	e.issue(tks...)
	base := e.st.Keys()

	const (
		step      = 10 * minute
		retention = 48 * hour
		perBatch  = 20 // scans every ten minutes
	)
	perWindow := int(retention / step)
	keysAt := map[int]int{}
	seq := 0
	for day := 0; day < 7; day++ {
		for s := 0; s < int(24*hour/step); s++ {
			e.now += step
			scans := make([]Scan, perBatch)
			for i := range scans {
				seq++
				scans[i] = scanOf(fmt.Sprint("s", seq), "g2", tks[seq%len(tks)])
			}
			e.scan(scans...)
			for e.purge(e.now-retention, 0).More {
			}
		}
		keysAt[day] = e.st.Keys() - base
	}
	t.Logf("keys above the tickets at the end of each day: %v", keysAt)
	// Within the window: one scan-id record a scan, one events key and one
	// scan log a batch, for the batches of the last 48 h (the one at the
	// line kept), and two counters (the event sequence and the purge mark).
	max := (perWindow+1)*(perBatch+2) + 2
	min := (perWindow-1)*(perBatch+2) + 2
	for day := 2; day < 7; day++ {
		if k := keysAt[day]; k > max || k < min {
			t.Fatalf("day %d: %d keys for the retention window, want %d to %d", day+1, k, min, max)
		}
	}
	if keysAt[6] != keysAt[2] {
		t.Fatalf("the state still grows once the window is full: %d keys on day 3, %d on day 7", keysAt[2], keysAt[6])
	}
}
