// Package loadgen is the open-loop scan load generator behind
// `admit bench scan` and `admit bench compare`.
//
// One engine drives any system that decides scans (Target): the gate API
// of an admit cluster (GateTarget, what Run uses), or a baseline such as
// etcd or PostgreSQL (bench/compare). A Target opens one Conn per worker;
// Conn.Do decides the scans of one Request. Schedule, code order, retries,
// the HDR histograms, the collector and the ramp are the engine's and the
// same for every target, so numbers of different systems compare.
//
// Open loop: requests leave at fixed intervals for the target rate whether
// or not earlier ones have returned, and each one's latency is measured from
// the time it was meant to leave, not the time it actually left (corrected
// for coordinated omission). A server that stalls for 200 ms therefore shows
// up in p99 and max as the turnstile queue would feel it, instead of as one
// slow request.
//
// Many simulated gates share the load, each with ConnsPerGate workers (the
// requests it can have in flight). Against the gate API each gate keeps its
// own persistent connections (fasthttp.HostClient) to one node of the
// cluster, assigned round-robin over the given URLs; a retry after a
// connection error goes to the next node. Scan ids are "<gate>:<seq>", unique per run, and a retry
// (503, timeout, connection error) reuses the scan id, as a real gate must.
// All simulated gates scan as one registered gate (Config.Gate).
//
// Tickets are scanned Config.Repeat times each (the first scan admits, the
// others are denied as already_used), a ticket's scans RepeatGap tickets
// apart. When the codes run out they are scanned again from the start
// (Report.Wrapped), which only measures the deny path.
//
// Run either holds one rate for a duration, or ramps (Runner.Step and
// Runner.Ramp for other targets): it starts at
// StartRate, multiplies the rate by StepFactor each step and stops at the
// first step that fails (errors over 1% of scans, p99 over P99Bound, or
// achieved under 90% of the target), reporting the last rate that held.
package loadgen
