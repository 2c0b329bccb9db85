package loadgen

import (
	"context"
	"strconv"
	"time"
)

// Target is a system that decides scans: the gate API of an admit cluster
// (GateTarget), or a baseline such as etcd or PostgreSQL (bench/compare).
// A Runner drives every target the same way: the same schedule, the same
// codes in the same order, latency from each request's intended send time.
type Target interface {
	// Conn opens what one worker sends its requests through. A Runner
	// calls it once per worker (Gates x ConnsPerGate) when it is made,
	// with the index (0..Gates-1) of the simulated gate the worker belongs
	// to, and closes every Conn when it is closed.
	Conn(gate int) (Conn, error)
}

// Conn decides scans for one worker; one goroutine uses it at a time.
type Conn interface {
	// Do makes one attempt at deciding the scans of req and writes one
	// Result per scan into req.Results. A non-nil error means the attempt
	// decided nothing; an *AttemptError names its kind and whether a gate
	// would try again with the same scan ids. Do returns by about
	// req.Deadline, and soon after ctx ends.
	Do(ctx context.Context, req *Request) error
	// Close releases the Conn's resources.
	Close() error
}

// Request is one request of Config.Batch scans, handed to Conn.Do once per
// attempt. Its slices belong to the worker and are reused for its next
// request: a Conn must not keep them.
type Request struct {
	// Gate is the simulated gate's name, unique per run; scan ids are
	// "<Gate>:<Seq+i>" for the i-th scan (AppendScanID).
	Gate string
	Seq  int64
	// Codes are the codes to scan, one per scan.
	Codes []string
	// Attempt is 0 for the first attempt; a retry has the same scan ids.
	Attempt int
	// Deadline bounds this attempt (Config.Timeout from its start).
	Deadline time.Time
	// Results, as long as Codes, are zeroed before each attempt.
	Results []Result
}

// AppendScanID appends the scan id of the i-th scan to b.
func (r *Request) AppendScanID(b []byte, i int) []byte {
	b = append(b, r.Gate...)
	b = append(b, ':')
	return strconv.AppendInt(b, r.Seq+int64(i), 10)
}

// ScanID returns the scan id of the i-th scan.
func (r *Request) ScanID(i int) string { return string(r.AppendScanID(nil, i)) }

// Decision is what became of one scan.
type Decision uint8

// Decisions. Undecided scans count as errors (failed).
const (
	Undecided Decision = iota
	Admit
	Deny
)

// Result is the answer to one scan.
type Result struct {
	Decision Decision
	// Reason of a deny, as the gate API names it (already_used, unknown, ...).
	Reason string
	// Rescan: the original decision for a scan id seen before.
	Rescan bool
	// Err says why an Undecided scan got no decision (in a batch whose
	// other scans were decided); its error kind is "scan_"+Err.
	Err string
}

// AttemptError is a failed attempt: Kind is the error kind the report
// counts ("timeout", "http_503", ...), Msg a sample message, and Retry
// whether a gate would send the scans again with the same scan ids.
type AttemptError struct {
	Kind  string
	Msg   string
	Retry bool
}

func (e *AttemptError) Error() string { return e.Kind + ": " + e.Msg }
