// Package faults proves, under injected faults, the promise the whole
// validator rests on: a ticket never gets into the park twice, and every
// gate decision is one a single, fault-free check-and-mark could have given.
//
// It has no code of its own, only tests. Each test starts a real 3-node
// park in the test process (validator/gate/gatetest: real Raft over TCP,
// real raft-wal and Badger in a temporary dir, the gate API over HTTP on
// every node) and drives scan traffic through the gate HTTP API from
// several simulated gates. The gates scan one shared set of single-entry
// tickets, several gates racing for each ticket, each gate starting at its
// own node and retrying a failed attempt (503, timeout, connection error)
// with the same scan_id on the next node, as a turnstile does. While the
// traffic runs, a test injects one kind of fault:
//
//   - TestLeaderKilled: the leader is killed, a new one takes over, the old
//     one restarts;
//   - TestFollowerKilled: the same with a follower;
//   - TestMinorityPartition: a follower is cut off, then the leader alone;
//     the isolated node may only answer with errors;
//   - TestMajorityLost: every node is cut off from the others; no scan is
//     decided, every one gets 503, and traffic resumes after the heal;
//   - TestRestartFromDataDir: nodes are killed and at once restarted from
//     their data dirs and must still know what they knew;
//   - TestSnapshotInstall: a follower is cut off while the others snapshot
//     and drop the log it lacks; after the heal it catches up by
//     InstallSnapshot and answers from the restored state.
//
// Every scan attempt is recorded with its call and return time (an attempt
// without an answer as of unknown outcome) and the history is checked by
// bench/linearize: linearizable against the single-entry ticket model, and
// no ticket admitted to two different scans. The tests also require real
// traffic (admits and already_used denies, so they cannot pass on an idle
// cluster), decisions on every node after each heal, and, at the end, the
// same usage state for every scanned ticket on every node, consistent with
// the recorded decisions.
//
// Plain `go test` (and `make test`) runs each scenario once, a few seconds
// of traffic each; the tests run in parallel (two at a time with go test's
// default -parallel on two cores). ADMIT_SOAK (a Go duration) turns each scenario into a
// soak: its fault and heal cycle repeats until that much time has passed,
// with more tickets:
//
//	ADMIT_SOAK=10m go test -race -run . -timeout 2h ./validator/faults/
//
// (`make soak`). Run with -artifacts to keep porcupine's visualization of a
// history that failed the check; the failure message names the file.
package faults
