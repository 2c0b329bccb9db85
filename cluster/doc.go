// Package cluster is the replicated store at the park: a Raft group
// (hashicorp/raft over TCP) whose state is applied in memory and written
// behind to Badger. It knows nothing of tickets; the validator plugs its
// state machine in through StateMachine.
//
// A Node owns, under its data dir: the Raft log (cluster/logstore, raft-wal),
// Raft snapshots (raft.FileSnapshotStore), and the state (Badger, in state/).
// One TCP port carries Raft and node-to-node calls (forwarded commands,
// membership, status), told apart by the first byte of each connection.
// With Config.ServerTLS/ClientTLS it runs mutual TLS, and node-to-node calls
// are served only to peers whose certificate names a member (DESIGN.md,
// "Who may use the Raft port"; certificates come from cluster/pki).
//
// Invariants:
//
//   - Apply is deterministic. Each log entry carries the leader's clock in
//     its envelope (Entry.Time), so state machines never read the clock.
//   - Apply works on the state in memory; the flusher writes it to Badger
//     behind, each segment in one transaction with the applied index it
//     brings Badger to. On replay after a restart, entries at or below
//     Badger's index are skipped: no entry is applied twice, and none
//     acknowledged is lost (the Raft log, fsynced, holds everything after).
//   - A snapshot flushes and syncs Badger first, so the state on disk covers
//     at least every index the compacted log no longer holds. A node starts
//     by loading Badger into memory (NoSnapshotRestoreOnStart), not from a
//     snapshot.
//   - A restore replaces all state. A marker file makes an interrupted
//     restore visible at the next start, which then restores again.
//   - A rejected command leaves no writes; a command too large for one
//     Badger transaction is split from its batch, or rejected on its own.
//   - Errors say whether a command may have been applied: ErrNoLeader and
//     ErrNotLeader (it was not), ErrOutcomeUnknown (it may have been).
//
// See DESIGN.md beside this file for the reasoning, and cluster/logstore for
// the log store benchmarks behind the choice of raft-wal.
package cluster
