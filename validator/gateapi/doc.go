// Package gateapi is the contract of the gate API that every cluster node
// serves: request and response types, paths, the names of results, reasons
// and outcomes, and a typed Client over several node URLs.
//
// The server (validator/gate) encodes and decodes these same types, so a
// client and the server cannot drift apart. This package is light on
// purpose: it imports neither fasthttp, Raft nor Badger, so sales, sync and
// the benchmarks can talk to a park without linking the node into them.
//
// # Failover
//
// A Client holds the URLs of every node; any node answers any call (a
// follower forwards writes to the leader). Every call the cluster applies is
// idempotent: scans by scan_id, issues, revokes and updates by ticket
// version, configuration by value. So the one policy for every call is:
//
//   - a node that answers 2xx or 4xx has given the answer: the call returns
//     it (a 4xx as *Error, final; sending it again elsewhere would not
//     change it);
//   - a node that cannot be reached, or answers 5xx, is passed over and the
//     next node is tried, in order;
//   - when no node gave an answer, the error wraps ErrUnavailable if every
//     node failed before the request could have been applied (connection
//     refused, or 503 "no quorum"), and ErrOutcomeUnknown otherwise (a
//     timeout or reset after sending, or a 503 "no answer in time"): the
//     command may or may not have been applied, and the caller must send
//     it again, unchanged (same scan_id, same version), before it may
//     assume either.
package gateapi
