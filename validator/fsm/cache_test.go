package fsm

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/validator/rules"
	"github.com/admitpark/admit/validator/ticket"
)

// TestTicketCacheMatchesBadger applies one random stream of commands to two
// replicas, one reading everything from Badger and one through a state
// cache (holding few tickets, so that it also runs full), with transactions thrown away now and then (as the cluster
// does when a later entry overflows one) and a Reload in the middle. Every
// result and, at the end, every stored key must be the same: the cache may
// only make reads cheaper.
func TestTicketCacheMatchesBadger(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, seed))
			plain := &env{t: t, db: openDB(t), m: Machine{}, now: t0 + 2*hour}
			cached := &env{t: t, db: openDB(t), m: NewMachine(8), now: t0 + 2*hour}
			both := []*env{plain, cached}
			park := Configure{TimeZone: "Asia/Shanghai", Zones: []ticket.Zone{{ID: "main"}, {ID: "coaster", Cap: 3, Warn: 2}},
				Gates: []Gate{{ID: "g1", Zone: "main", Direction: DirIn}, {ID: "x1", Zone: "main", Direction: DirOut}, {ID: "c1", Zone: "coaster", Direction: DirBoth}}}
			for _, e := range both {
				e.configure(park)
			}
			kinds := []ticket.Kind{ticket.Single, ticket.Multi, ticket.DayPass, ticket.Group}
			versions := map[byte]uint64{}
			tk := func(n byte) ticket.Ticket {
				v := versions[n]
				if v == 0 {
					v = 1
				}
				t := tkt(n, kinds[int(n)%len(kinds)])
				return reprint(t, v)
			}
			gates := []string{"g1", "x1", "c1"}
			scanSeq := 0
			admits := 0
			for step := range 600 {
				n := byte(rng.IntN(24))
				var cmd []byte
				var err error
				switch r := rng.IntN(100); {
				case r < 15:
					t := tk(n)
					if rng.IntN(3) == 0 { // a reprint
						versions[n] = t.Version + 1
						t = reprint(t, t.Version+1)
					}
					cmd, err = EncodeIssueBatch([]ticket.Ticket{t})
				case r < 20:
					cmd = EncodeRevoke(Revoke{ID: tk(n).ID, Version: tk(n).Version})
				case r < 25:
					versions[n] = tk(n).Version + 1
					cmd, err = EncodeUpdate(Update{ID: tk(n).ID, Version: versions[n], Op: UpdateOp(1 + rng.IntN(2))})
				case r < 27:
					cmd = EncodeExitAll()
				case r < 31: // the park changes: caps, a gate moved, added or removed, the time zone
					c := Configure{}
					switch rng.IntN(4) {
					case 0:
						c.Zones = []ticket.Zone{{ID: "coaster", Cap: uint32(1 + rng.IntN(4)), Warn: 1}}
					case 1:
						c.Gates = []Gate{{ID: "c1", Zone: []string{"main", "coaster"}[rng.IntN(2)], Direction: DirBoth}}
					case 2:
						c.DeleteGates = []string{"x1"}
					case 3:
						c.TimeZone = []string{"UTC", "Asia/Shanghai", "America/New_York"}[rng.IntN(3)]
						c.Gates = []Gate{{ID: "x1", Zone: "main", Direction: DirOut}}
					}
					cmd, err = EncodeConfigure(c)
				default:
					var scans []Scan
					for range 1 + rng.IntN(6) {
						scanSeq++
						id := fmt.Sprint("s", scanSeq)
						if rng.IntN(10) == 0 && scanSeq > 1 { // a retry
							id = fmt.Sprint("s", scanSeq-1)
						}
						t := tk(byte(rng.IntN(24)))
						scans = append(scans, scanOf(id, gates[rng.IntN(len(gates))], t))
					}
					cmd, err = EncodeScanBatch(scans)
				}
				if err != nil {
					t.Fatal(err)
				}
				discard := rng.IntN(8) == 0
				var results [2][]byte
				advance := int64(rng.IntN(20)) * minute
				for i, e := range both {
					e.now += advance
					if discard {
						results[i] = e.applyThenDiscard(cmd)
					} else {
						results[i], err = e.apply(cmd)
						if err != nil {
							results[i] = []byte("error: " + err.Error())
						}
					}
				}
				if !bytes.Equal(results[0], results[1]) {
					t.Fatalf("step %d: results differ:\nbadger %x\ncached %x", step, results[0], results[1])
				}
				if rs, err := DecodeScanResults(results[1]); err == nil && !discard {
					for _, r := range rs {
						if r.Result == rules.Admit && !r.Rescan {
							admits++
						}
					}
				}
				if step == 300 {
					cached.m.Reload(cached.db)
				}
			}
			a, err := dump(plain.db)
			if err != nil {
				t.Fatal(err)
			}
			b, err := dump(cached.db)
			if err != nil {
				t.Fatal(err)
			}
			if err := sameDump(a, b); err != nil {
				t.Fatalf("stored state differs: %v", err)
			}
			if admits == 0 || cached.m.CachedTickets() == 0 {
				t.Fatalf("the stream exercised nothing: %d admits, %d cached", admits, cached.m.CachedTickets())
			}
		})
	}
}

// applyThenDiscard applies cmd and throws its transaction away, as the
// cluster does with entries it re-applies in a new transaction. The state
// must be as if cmd never ran; the result is what it would have been.
func (e *env) applyThenDiscard(cmd []byte) []byte {
	e.t.Helper()
	txn := e.db.NewTransaction(true)
	res, err := e.m.Apply(txn, cluster.Entry{Index: e.idx + 1, Term: 1, Time: time.UnixMilli(e.now), Data: cmd})
	txn.Discard()
	e.m.Discarded()
	if err != nil {
		return []byte("error: " + err.Error())
	}
	return res
}

// TestTicketCacheIgnoresDiscardedWrites: a scan whose transaction was
// thrown away must not leave the ticket used in the cache.
func TestTicketCacheIgnoresDiscardedWrites(t *testing.T) {
	e := newPark(t)
	tk := tkt(1, ticket.Single)
	e.issue(tk)
	cmd, err := EncodeScanBatch([]Scan{scanOf("a", "g1", tk)})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := DecodeScanResults(e.applyThenDiscard(cmd))
	if err != nil || rs[0].Result != rules.Admit {
		t.Fatalf("discarded scan: %+v %v", rs, err)
	}
	// The discarded admit never happened: scanning again admits.
	expect(t, "after discard", e.scan1(scanOf("b", "g1", tk)), rules.Admit, rules.Reason(0))
	expect(t, "second", e.scan1(scanOf("c", "g1", tk)), rules.Deny, rules.AlreadyUsed)
}
