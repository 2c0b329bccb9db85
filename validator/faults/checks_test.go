package faults

// The checks at the end of every run: the history (linearizable, no
// double entry, real traffic), the error runs gates saw, and every node's
// ticket state.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/admitpark/admit/bench/linearize"
	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/validator/fsm"
	"github.com/admitpark/admit/validator/gate/gatetest"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// verify stops the traffic and checks the run: history, real traffic, and
// every node's state.
func (r *run) verify() {
	r.t.Helper()
	r.stop()
	r.verified = true
	r.checkHistory()
	r.checkState()
}

// checkHistory checks the recorded history: linearizable, no double entry,
// real traffic, no reply that no fault explains.
func (r *run) checkHistory() {
	t := r.t
	t.Helper()
	hist := r.rec.History()
	var admits, used, other, unknown, rescans int
	for _, op := range hist {
		switch {
		case op.Output.Unknown:
			unknown++
		case op.Output.Result == "admit":
			admits++
		case op.Output.Reason == "already_used":
			used++
		default:
			other++
		}
		if op.Output.Rescan {
			rescans++
		}
	}
	r.mu.Lock()
	attempts, unexpected := len(r.attempts), r.unexpected
	r.mu.Unlock()
	t.Logf("history: %d scan attempts by the gates, %d operations recorded: %d admit, %d already_used, %d other denies, %d rescans, %d without an answer",
		attempts, len(hist), admits, used, other, rescans, unknown)
	r.logErrorRuns()

	if n, ex := linearize.DoubleEntries(hist); n > 0 {
		t.Errorf("DOUBLE ENTRY: %d tickets admitted to two different scans: %s", n, strings.Join(ex, "; "))
	}
	timeout := time.Minute
	if r.soak > 0 {
		timeout = 10 * time.Minute
	}
	html := filepath.Join(t.ArtifactDir(), "linearize.html")
	ok, res := linearize.Check(hist, timeout, html)
	t.Logf("linearizability: %s, %d operations on %d tickets (%d pending) checked in %s", res.Outcome, res.Operations, res.Tickets, res.Pending, res.Took)
	if !ok {
		where := res.HTMLPath
		if where == "" {
			where = "no visualization: " + res.Error
		} else {
			where += " (kept with go test -artifacts)"
		}
		t.Errorf("history not linearizable (%s); see %s", res.Outcome, where)
	}
	if admits == 0 || used == 0 {
		t.Errorf("no real traffic: %d admits and %d already_used denies; the checks above prove nothing", admits, used)
	}
	if len(unexpected) > 0 {
		t.Errorf("%d replies that no fault explains, e.g.: %s", len(unexpected), strings.Join(unexpected[:min(5, len(unexpected))], "; "))
	}
}

// logErrorRuns logs the longest run of failed attempts a gate saw, from
// the first failed attempt until the decision that ended it.
func (r *run) logErrorRuns() {
	r.mu.Lock()
	at := slices.Clone(r.attempts)
	r.mu.Unlock()
	sort.SliceStable(at, func(i, j int) bool { return at[i].call < at[j].call })
	type run struct {
		n     int
		start int64
	}
	cur := map[int]*run{}
	var longest time.Duration
	longestN, longestGate := 0, -1
	for _, a := range at {
		c := cur[a.gate]
		if !a.decided {
			if c == nil {
				cur[a.gate] = &run{n: 1, start: a.call}
			} else {
				c.n++
			}
			continue
		}
		if c != nil {
			if d := time.Duration(a.ret - c.start); d > longest {
				longest, longestN, longestGate = d, c.n, a.gate
			}
			delete(cur, a.gate)
		}
	}
	var slow attempt
	for _, a := range at {
		if a.ret-a.call > slow.ret-slow.call {
			slow = a
		}
	}
	if slow.ret > 0 {
		what := "decided"
		if !slow.decided {
			what = slow.err
		}
		r.t.Logf("slowest attempt: gate %s on %s took %v: %s", r.gateIDs[slow.gate], r.h.Members[slow.node].ID, time.Duration(slow.ret-slow.call).Round(time.Millisecond), what)
	}
	if longestGate >= 0 {
		r.t.Logf("longest error run: gate %s, %d failed attempts over %v until a decision", r.gateIDs[longestGate], longestN, longest.Round(time.Millisecond))
	} else {
		r.t.Logf("no gate saw a failed attempt")
	}
}

// scanned returns the indexes of the tickets the traffic reached.
func (r *run) scanned() []int {
	n := min(len(r.codes), int((r.next.Load()+scansPerTicket-1)/scansPerTicket))
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// outcomes sums up the history per ticket: the gate of the scan that was
// told admit, and whether some attempt's outcome is unknown.
func (r *run) outcomes() (admittedBy map[string]string, unknown map[string]bool) {
	admittedBy, unknown = map[string]string{}, map[string]bool{}
	for _, op := range r.rec.History() {
		switch {
		case op.Output.Unknown:
			unknown[op.Input.Ticket] = true
		case op.Output.Result == "admit":
			g, _, _ := strings.Cut(op.Input.ScanID, "-")
			admittedBy[op.Input.Ticket] = g
		}
	}
	return admittedBy, unknown
}

// checkState waits until every node has applied what the leader committed
// and then wants, for every scanned ticket, the same state on every node,
// at most one use, used exactly where a scan was told admit (or may have
// been: an attempt without answer), first used by the admitted scan's gate.
// A sample is also read through GET /v1/tickets/{id} on every node.
func (r *run) checkState() {
	t := r.t
	t.Helper()
	for _, m := range r.h.Members {
		if m.Node() == nil {
			t.Fatalf("%s is still down at the end", m.ID)
		}
	}
	r.h.WaitLeader(waitLong)
	admittedBy, unknown := r.outcomes()
	tickets := r.scanned()
	var problems []string
	clustertest.CheckFor(t, waitLong, 100*time.Millisecond, func() error {
		problems = nil
		for _, m := range r.h.Members {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := m.Node().CatchUp(ctx)
			cancel()
			if err != nil {
				return fmt.Errorf("%s catching up: %w", m.ID, err)
			}
		}
		for _, idx := range tickets {
			name := fmt.Sprintf("t%d", idx)
			var first ticket.State
			for i, m := range r.h.Members {
				_, st, found, err := fsm.Ticket(m.Node(), r.ids[idx])
				if err != nil || !found {
					return fmt.Errorf("%s: ticket %s: found %v, %v", m.ID, name, found, err)
				}
				if i == 0 {
					first = st
				} else if !slices.Equal(st.Zones, first.Zones) {
					return fmt.Errorf("%s differs: %s has %+v, %s has %+v", name, r.h.Members[0].ID, first.Zones, m.ID, st.Zones)
				}
			}
			used, firstGate := false, ""
			for _, z := range first.Zones {
				if z.Used > 1 {
					problems = append(problems, fmt.Sprintf("%s: DOUBLE ENTRY in state: used %d times in zone %s", name, z.Used, z.Zone))
				}
				if z.Used > 0 {
					used, firstGate = true, z.FirstGate
				}
			}
			g, admitted := admittedBy[name]
			switch {
			case admitted && !used:
				problems = append(problems, fmt.Sprintf("%s: admitted (gate %s) but unused on every node", name, g))
			case admitted && firstGate != g:
				problems = append(problems, fmt.Sprintf("%s: admitted by gate %s but first used by %s", name, g, firstGate))
			case !admitted && used && !unknown[name]:
				problems = append(problems, fmt.Sprintf("%s: used (gate %s) but no scan was admitted or left without an answer", name, firstGate))
			}
		}
		return nil
	}, "every node to hold the same state for %d tickets", len(tickets))
	if len(problems) > 0 {
		t.Errorf("%d tickets in a wrong state, e.g.: %s", len(problems), strings.Join(problems[:min(10, len(problems))], "; "))
	}

	// The API view of a sample of admitted tickets, node by node.
	var sample []int
	for _, idx := range tickets {
		if _, ok := admittedBy[fmt.Sprintf("t%d", idx)]; ok && len(sample) < 20 {
			sample = append(sample, idx)
		}
	}
	for _, m := range r.h.Members {
		for _, idx := range sample {
			r.wantUsedVia(m, idx)
		}
	}
	t.Logf("state: %d scanned tickets agree on %d nodes, %d admitted; %d sampled through the API", len(tickets), len(r.h.Members), len(admittedBy), len(sample))
}

// wantUsedVia reads ticket idx through member m's API (its local state)
// and wants it used.
func (r *run) wantUsedVia(m *clustertest.Member, idx int) {
	r.t.Helper()
	u := r.park.URL(m) + gateapi.PathTickets + url.PathEscape(ticket.FormatID(r.ids[idx]))
	status, raw, err := r.do(http.MethodGet, u, gatetest.AdminToken, nil)
	var view gateapi.TicketView
	switch {
	case err != nil:
		r.t.Errorf("GET t%d on %s: %v", idx, m.ID, err)
	case status != http.StatusOK:
		r.t.Errorf("GET t%d on %s: %d %s", idx, m.ID, status, raw)
	case json.Unmarshal(raw, &view) != nil:
		r.t.Errorf("GET t%d on %s: undecodable %s", idx, m.ID, raw)
	case !view.Used:
		r.t.Errorf("GET t%d on %s: admitted, but the node says unused (applied index %d)", idx, m.ID, view.AppliedIndex)
	}
}

// usedOn returns the scanned tickets member m's local state holds as used.
func (r *run) usedOn(m *clustertest.Member) []int {
	r.t.Helper()
	var out []int
	for _, idx := range r.scanned() {
		_, st, _, err := fsm.Ticket(m.Node(), r.ids[idx])
		if err != nil {
			r.t.Fatalf("read t%d on %s: %v", idx, m.ID, err)
		}
		for _, z := range st.Zones {
			if z.Used > 0 {
				out = append(out, idx)
				break
			}
		}
	}
	return out
}

// admittedBetween returns up to n tickets (the last ones) whose admit was
// sent at or after from and came back before to.
func (r *run) admittedBetween(from, to int64, n int) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for i := len(r.attempts) - 1; i >= 0 && len(out) < n; i-- {
		if a := r.attempts[i]; a.admit && a.call >= from && a.ret < to {
			out = append(out, a.ticket)
		}
	}
	return out
}
