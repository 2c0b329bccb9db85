// Package agent is the offline-capable gate: `admit gate agent`. It serves
// devices the node's scan API (POST /v1/scan, /v1/scans, gateapi types) and
// forwards each scan to the cluster (gateapi.Client, failover) with a
// device time; when the cluster does not answer within Config.Budget it
// decides the scan itself and keeps it for upload.
//
// What it owns, by file:
//
//   - config.go: Config and the offline Policy (deny, allow-once-per-device,
//     allow).
//   - decide.go: the offline decision: validator/rules.Decide on a ticket
//     built from the code's signed claims (kind, entries, one window, zone
//     mask) and a state built from what the agent knows.
//   - decisionlog.go: the offline decisions not yet uploaded, an
//     append-only log of CRC32C-checked frames in preallocated segments:
//     one fdatasync per group of decisions; a torn tail is dropped at open.
//   - store.go, record.go: the durable state: the log, and one bbolt file
//     for the rest (the uploaded cursor, the scan-id index of uploaded
//     scans, the zone usage from the changefeed, the deny list and the
//     cached keys); the record encodings (versioned, fuzzed).
//   - upload.go: the backlog upload, in order, and the way back online.
//   - denylist.go: following the changefeed while online; the key refresh.
//   - keys.go: the keys, time zone and gate configuration (GET /v1/keys).
//   - http.go, metrics.go: the devices' API; Prometheus metrics.
//
// Invariants:
//
//   - An offline decision is in the log (fdatasync) before its answer: a
//     gate never opens for a decision a power loss could forget. A decision that
//     cannot be stored is an error (503): the gate stays shut.
//   - The backlog is uploaded in decision order, each scan with its own
//     scan id, device time and the decision the gate acted on; a scan is
//     removed only after the cluster answered for it, so a crash at any
//     point sends it again, and the cluster's scan-id dedup makes it count
//     once. Decisions reach the log in the order they were made (the
//     committer gets them under the decision lock).
//   - While the backlog is not empty the agent decides every scan locally:
//     the agent's scans reach the cluster in the order it decided them.
//   - When the cluster answers an upload with another decision than the
//     gate's (a live attempt given up on and applied late), the gate's
//     decision is uploaded beside it under "<scan id>~o": a double use is
//     never hidden behind a live deny.
//   - Every goroutine is started by Run and stopped when its context ends.
package agent
