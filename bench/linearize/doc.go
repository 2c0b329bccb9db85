// Package linearize checks recorded scan histories for linearizability
// against a model of the ticket state machine (porcupine).
package linearize

import _ "github.com/anishathalye/porcupine" // pinned; used by the checker
