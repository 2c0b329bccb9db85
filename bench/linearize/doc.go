// Package linearize checks recorded scan histories for linearizability
// against a model of the ticket state machine (porcupine).
//
// A Recorder collects one Operation per scan attempt. An attempt that got
// no decision (timeout, 503, connection error: the outcome is unknown) is
// recorded as pending, with Return = Infinity and Output.Unknown set: the
// checker may then linearize it anywhere after its call, including after
// every other operation, which is the same as it never taking effect. That
// is porcupine's documented way to model operations of unknown outcome.
//
// The model is a single-entry ticket, partitioned per ticket: an unused
// ticket admits, a used one denies already_used, and a repeated scan_id
// gets its original decision with rescan set.
package linearize
