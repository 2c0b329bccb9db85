// Package gate is the gate API every node serves over fasthttp (the server
// side of validator/gateapi; SCAN.md walks one scan through it): scans from
// turnstiles and handhelds, ticket look-ups, and the admin calls that
// configure gates and zones and issue tickets into the cluster.
//
// Issue passes each ticket's code (binary) and park into the log
// (fsm.EncodeIssues); the state machine, which knows the park's signing
// keys and park ID (PUT /v1/park), decides and refuses per ticket
// (unsigned, bad_signature, wrong_park in IssueResponse.Outcomes). The
// park ID is set once: another one is a 409.
//
// Scans are group-committed: a Batcher on each node gathers the scans that
// arrive while earlier batches are in flight into one ScanBatch log entry
// (one Raft round and one fsync for many turnstiles); while the node is busy
// a batch also waits up to Config.BatchWindow for scans arriving just after
// it. On a follower the batch
// goes to the leader over the cluster's persistent node-to-node connection
// and the answers come back the same way, so a gate may talk to any node.
//
// Invariants: a scan is decided only inside the replicated state machine
// (validator/fsm), so two gates scanning one ticket at once get exactly one
// admit; a scan that times out answers 503 with "retry with the same scan_id",
// never a guess, and the retry returns the original decision (rescan); the
// handlers copy what they need out of the request and keep no reference to
// it after they return.
//
// Two caches keep reads off the hot path: a good gate token is trusted for
// a second (tokens.go; a change made through this node applies at once),
// and so is the park's time zone used to render first_entry_at. The
// single-scan JSON is hand-written (scanjson.go) for the plain form gates
// send, with encoding/json for everything else.
//
// Credentials (Server.Register has the table): a gate's own token scans for
// that gate; the OPERATOR token (Config.AdminToken) may call everything;
// the sales service's token (Config.SalesToken, `admit node --sales-token`)
// may issue, revoke, update, view tickets, read the event feed and read
// gates, zones and the park, but not change configuration, scan, or reach
// the cluster admin API (cluster/httpapi). A scan whose gate does not exist
// and one with a wrong token get the same 403 and body, so answers do not
// reveal gate ids; admit_gate_auth_failures_total{reason} tells them apart.
//
// Input hygiene (input.go): every text field accepted (gate and scan ids,
// gate and zone ids, product, holder, zones, time zone, ids in paths) must
// be clean text, ticket.CleanText: valid UTF-8 without control characters.
// Anything else is a 400 naming the field, before it can reach the log and
// the changefeed. On the scan path the check is a byte loop over the
// decoded fields: no allocation. Every body decoder is fuzzed
// (fuzz_test.go; the seeds run in every go test).
package gate
