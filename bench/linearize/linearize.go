package linearize

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Infinity is the return time of an operation whose outcome is unknown.
const Infinity = int64(math.MaxInt64)

// Input of a scan: which ticket, with which scan_id.
type Input struct {
	Ticket string `json:"ticket"`
	ScanID string `json:"scan_id"`
}

// Output of a scan: the decision, or Unknown when none came back.
type Output struct {
	Result  string `json:"result,omitempty"` // admit, deny
	Reason  string `json:"reason,omitempty"`
	Rescan  bool   `json:"rescan,omitempty"`
	Unknown bool   `json:"unknown,omitempty"` // no decision: may or may not have taken effect
}

// Operation is one recorded scan attempt. Times are nanoseconds on the
// recorder's monotonic clock; Return is Infinity when Output.Unknown.
type Operation struct {
	Client int    `json:"client"`
	Call   int64  `json:"call"`
	Return int64  `json:"return"`
	Input  Input  `json:"input"`
	Output Output `json:"output"`
}

// Recorder collects operations; safe for concurrent use.
type Recorder struct {
	start time.Time
	mu    sync.Mutex
	ops   []Operation
}

// NewRecorder starts the clock.
func NewRecorder() *Recorder { return &Recorder{start: time.Now()} }

// Now is the recorder's clock: nanoseconds since NewRecorder (monotonic).
func (r *Recorder) Now() int64 { return int64(time.Since(r.start)) }

// Record adds a finished scan: call and ret from Now.
func (r *Recorder) Record(client int, call, ret int64, in Input, out Output) {
	r.add(Operation{Client: client, Call: call, Return: ret, Input: in, Output: out})
}

// RecordUnknown adds a scan attempt that got no decision.
func (r *Recorder) RecordUnknown(client int, call int64, in Input) {
	r.add(Operation{Client: client, Call: call, Return: Infinity, Input: in, Output: Output{Unknown: true}})
}

func (r *Recorder) add(op Operation) {
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.mu.Unlock()
}

// History returns a copy of what was recorded so far.
func (r *Recorder) History() []Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Operation(nil), r.ops...)
}

// Len is the number of operations recorded.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ops)
}

// state of one single-entry ticket: which scan_id admitted it (empty: not
// used), and the scan_ids denied already_used, sorted, comma-separated.
// Comparable with ==.
type state struct {
	by     string
	denied string
}

func (s state) deniedHas(id string) bool {
	if s.denied == "" {
		return false
	}
	for _, d := range strings.Split(s.denied, ",") {
		if d == id {
			return true
		}
	}
	return false
}

func (s state) withDenied(id string) state {
	list := []string{id}
	if s.denied != "" {
		list = append(strings.Split(s.denied, ","), id)
	}
	sort.Strings(list)
	s.denied = strings.Join(list, ",")
	return s
}

// apply is the sequential specification: what a scan does to st and the
// decision it must get (result, rescan).
func apply(st state, scanID string) (next state, admit, rescan bool) {
	switch {
	case st.by == scanID:
		return st, true, true
	case st.deniedHas(scanID):
		return st, false, true
	case st.by == "":
		st.by = scanID
		return st, true, false
	default:
		return st.withDenied(scanID), false, false
	}
}

func step(s, in, out any) (bool, any) {
	st, i, o := s.(state), in.(Input), out.(Output)
	next, admit, rescan := apply(st, i.ScanID)
	if o.Unknown {
		return true, next
	}
	if admit {
		return o.Result == "admit" && o.Rescan == rescan, next
	}
	return o.Result == "deny" && o.Reason == "already_used" && o.Rescan == rescan, next
}

// Model is the porcupine model of single-entry tickets, partitioned per
// ticket.
var Model = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		idx := map[string]int{}
		var parts [][]porcupine.Operation
		for _, op := range h {
			t := op.Input.(Input).Ticket
			i, ok := idx[t]
			if !ok {
				i = len(parts)
				idx[t] = i
				parts = append(parts, nil)
			}
			parts[i] = append(parts[i], op)
		}
		return parts
	},
	Init:  func() any { return state{} },
	Step:  step,
	Equal: func(a, b any) bool { return a.(state) == b.(state) },
	DescribeOperation: func(in, out any) string {
		i, o := in.(Input), out.(Output)
		t := i.Ticket
		if len(t) > 12 {
			t = t[:12] + "…"
		}
		switch {
		case o.Unknown:
			return fmt.Sprintf("scan(%s, %s) -> ?", t, i.ScanID)
		case o.Result == "admit":
			return fmt.Sprintf("scan(%s, %s) -> admit%s", t, i.ScanID, rescanMark(o.Rescan))
		default:
			return fmt.Sprintf("scan(%s, %s) -> deny %s%s", t, i.ScanID, o.Reason, rescanMark(o.Rescan))
		}
	},
	DescribeState: func(s any) string {
		st := s.(state)
		if st.by == "" {
			return "unused"
		}
		if st.denied == "" {
			return "used by " + st.by
		}
		return fmt.Sprintf("used by %s; denied %s", st.by, st.denied)
	},
}

func rescanMark(r bool) string {
	if r {
		return " (rescan)"
	}
	return ""
}

// Result of a check.
type Result struct {
	OK         bool   `json:"ok"`
	Outcome    string `json:"outcome"` // Ok, Illegal, Unknown (timed out)
	Operations int    `json:"operations"`
	Pending    int    `json:"pending"` // operations of unknown outcome
	Tickets    int    `json:"tickets"`
	Took       string `json:"took"`
	HTMLPath   string `json:"html_path,omitempty"` // written on failure
	Error      string `json:"error,omitempty"`
}

// Check checks history against Model within timeout (0: no limit). A
// timeout counts as not ok (Outcome Unknown). When the history is not
// linearizable and htmlPath is not empty, porcupine's visualization is
// written there.
func Check(history []Operation, timeout time.Duration, htmlPath string) (ok bool, res Result) {
	start := time.Now()
	ops := make([]porcupine.Operation, len(history))
	tickets := map[string]bool{}
	for i, op := range history {
		ret := op.Return
		if op.Output.Unknown {
			ret = Infinity
			res.Pending++
		}
		ops[i] = porcupine.Operation{ClientId: op.Client, Input: op.Input, Call: op.Call, Output: op.Output, Return: ret}
		tickets[op.Input.Ticket] = true
	}
	res.Operations, res.Tickets = len(ops), len(tickets)
	cr, info := porcupine.CheckOperationsVerbose(Model, ops, timeout)
	res.Outcome = string(cr)
	res.OK = cr == porcupine.Ok
	if cr == porcupine.Illegal && htmlPath != "" {
		if err := porcupine.VisualizePath(Model, info, htmlPath); err != nil {
			res.Error = err.Error()
		} else {
			res.HTMLPath = htmlPath
		}
	}
	res.Took = time.Since(start).Round(time.Millisecond).String()
	return res.OK, res
}

// DoubleEntries counts tickets that two different scan_ids were told to
// admit: each one is a person too many in the park.
func DoubleEntries(history []Operation) (n int, examples []string) {
	by := map[string]string{}
	bad := map[string]bool{}
	for _, op := range history {
		if op.Output.Unknown || op.Output.Result != "admit" {
			continue
		}
		t := op.Input.Ticket
		if prev, ok := by[t]; ok && prev != op.Input.ScanID {
			if !bad[t] {
				bad[t] = true
				if len(examples) < 5 {
					examples = append(examples, fmt.Sprintf("%s admitted by %s and %s", t, prev, op.Input.ScanID))
				}
			}
			continue
		}
		by[t] = op.Input.ScanID
	}
	return len(bad), examples
}
