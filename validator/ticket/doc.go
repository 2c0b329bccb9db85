// Package ticket owns the validator's data model — tickets, per-ticket usage
// state and zone counters — and their compact binary encodings, which are
// what the Raft state machine stores and snapshots.
//
// Invariants:
//   - Every encoding starts with a version byte; decoders reject versions
//     they do not know, so a format change adds a version, never reinterprets
//     an old one.
//   - Encodings are canonical: a decoder accepts only what AppendBinary
//     produces (minimal varints, known enum values and flags, no trailing
//     bytes, State zones strictly sorted). Equal values therefore encode to
//     equal bytes on every node, which keeps snapshots comparable.
//   - Decoders never panic and bound every length by the Max* limits and by
//     the bytes actually present, so hostile input cannot force large
//     allocations. Decoded strings copy the input; callers may reuse it.
//   - Kind, Status and the encoding's field order are persisted: enum values
//     are never renumbered, only appended.
//   - State.Zones is sorted by Zone with no duplicates, so iteration order is
//     deterministic across nodes.
package ticket
