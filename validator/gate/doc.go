// Package gate is the gate API every node serves over fasthttp: scans from
// turnstiles and handhelds, ticket look-ups, and the admin calls that
// configure gates and zones and issue tickets into the cluster.
//
// Scans are group-committed: a Batcher on each node gathers the scans that
// arrive while earlier batches are in flight into one ScanBatch log entry
// (one Raft round and one fsync for many turnstiles). On a follower the batch
// goes to the leader over the cluster's persistent node-to-node connection
// and the answers come back the same way, so a gate may talk to any node.
//
// Invariants: a scan is decided only inside the replicated state machine
// (validator/fsm), so two gates scanning one ticket at once get exactly one
// admit; a scan that times out answers 503 with "retry with the same scan_id",
// never a guess, and the retry returns the original decision (rescan); the
// handlers copy what they need out of the request and keep no reference to
// it after they return.
package gate
