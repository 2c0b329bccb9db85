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
