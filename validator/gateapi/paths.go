package gateapi

// Paths of the gate API.
const (
	PathScan         = "/v1/scan"
	PathScans        = "/v1/scans"
	PathTickets      = "/v1/tickets/"
	PathIssue        = "/v1/tickets/issue"
	PathGates        = "/v1/gates"
	PathZones        = "/v1/zones"
	PathPark         = "/v1/park"
	PathExitAll      = "/v1/park/exit-all"
	PathEvents       = "/v1/events"
	PathConflicts    = "/v1/conflicts"
	PathTicketRevoke = "/revoke"
	PathTicketUpdate = "/update"
)

// HeaderLeader, on a follower's answer to a scan, is the leader's base URL
// as the leader advertises it. A client that was given that URL among its
// own sends its next scans there, saving the follower's forwarding hop
// (two node-to-node messages a scan); a client never follows it to a URL
// it was not given. Any node still answers any scan.
const HeaderLeader = "Admit-Leader"
