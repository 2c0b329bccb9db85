package cluster

import "errors"

// Errors returned by the cluster. Callers check them with errors.Is.
var (
	// ErrConfig: the Config is invalid.
	ErrConfig = errors.New("invalid cluster config")
	// ErrNoLeader: no leader could be reached in time. The command was not
	// submitted; it is safe to retry.
	ErrNoLeader = errors.New("no cluster leader")
	// ErrNotLeader: the node asked to act as leader is not the leader. Nothing
	// was submitted; it is safe to retry.
	ErrNotLeader = errors.New("node is not the leader")
	// ErrOutcomeUnknown: the command was submitted but its outcome was not
	// learned (leader lost, connection lost, deadline passed). It may or may
	// not be applied; retry only commands that are idempotent.
	ErrOutcomeUnknown = errors.New("command outcome unknown")
	// ErrRejected: the state machine refused the command; nothing was written.
	ErrRejected = errors.New("command rejected by state machine")
	// ErrShutdown: the node is shutting down.
	ErrShutdown = errors.New("node is shut down")
	// ErrBadRequest: a membership or admin request is malformed.
	ErrBadRequest = errors.New("bad request")
	// ErrUnknownNode: the named node is not a cluster member.
	ErrUnknownNode = errors.New("unknown node")
	// ErrTooLarge: a command exceeds the maximum command size.
	ErrTooLarge = errors.New("command too large")
	// ErrUnauthorized: a node-to-node call came from a peer whose
	// certificate does not name a cluster member; nothing was done.
	ErrUnauthorized = errors.New("peer is not an authenticated cluster member")
)
