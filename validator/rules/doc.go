// Package rules owns the gate decision: Decide turns a ticket, its usage
// state, the zone's counters and one scan into admit/deny plus the new state
// and counters. It runs inside the replicated state machine on every node,
// so it is a pure function.
//
// Invariants:
//   - Deterministic: no clock (the leader stamps Scan.At), no I/O, no
//     randomness, no map iteration. Same inputs give the same outputs on every
//     node and every replay.
//   - Inputs are never mutated. A changed State gets a fresh Zones slice;
//     an unchanged one is returned as passed in, sharing its array.
//   - Check order is fixed and documented on Decide: the first failing check
//     names the reason, so the reason a gate shows is stable.
//   - Counts never wrap: Used, Inside and Occupancy saturate on the way up
//     and stop at zero on the way down. Inside never exceeds Used.
//   - Output always encodes: Decide only adds zones with valid names, keeps
//     State sorted and within ticket.MaxZones, and clips stored gate IDs to
//     ticket.MaxNameLen.
//   - Zero values fail closed: a zero CodeMatch is Mismatch and a zero Result
//     is Deny.
package rules
