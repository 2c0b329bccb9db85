package gateapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// PathKeys serves what an offline-capable gate agent caches from the
// cluster: the park's signing public keys, its time zone and the calling
// gate's own registration. Public keys are public; the route still wants a
// token (admin, sales, or the gate's own with ?gate=) so that the gate part
// does not tell strangers which gates exist.
const PathKeys = "/v1/keys"

// KeysResponse answers GET /v1/keys.
type KeysResponse struct {
	Park     string    `json:"park,omitempty"`
	TimeZone string    `json:"time_zone"`
	Keys     []KeyJSON `json:"keys"`
	// Gate is the caller's gate (token never included), when asked with
	// ?gate=ID.
	Gate *GateJSON `json:"gate,omitempty"`
}

// Keys reads the park's public keys and, with gate set, that gate's
// registration, authenticated with the gate token when the client has one.
func (c *Client) Keys(ctx context.Context, gate string) (KeysResponse, error) {
	path := PathKeys
	if gate != "" {
		path += "?gate=" + url.QueryEscape(gate)
	}
	var resp KeysResponse
	return resp, c.gate.Do(ctx, http.MethodGet, path, nil, &resp)
}

// PathRevocations lists the tickets the cluster revoked, in log order
// (GET ?after=CURSOR&limit=N, with ?gate=ID for a gate token): an
// offline-capable agent follows it while online to deny them offline. A
// record goes once its ticket's validity ended (before the scan
// retention's cutoff), so a cursor never goes stale.
const PathRevocations = "/v1/revocations"

// RevocationJSON is one revoked ticket.
type RevocationJSON struct {
	Cursor     string    `json:"cursor"` // pass as ?after= to read on
	TicketID   string    `json:"ticket_id"`
	Version    uint64    `json:"version"`              // the revoked version
	ValidUntil time.Time `json:"valid_until,omitzero"` // end of the ticket's validity; absent: open
	At         time.Time `json:"at"`                   // log time of the revoke
}

// RevocationsResponse answers GET /v1/revocations.
type RevocationsResponse struct {
	Revocations []RevocationJSON `json:"revocations"`
	Next        string           `json:"next"` // the cursor to read on from (the request's when nothing is new)
}

// GateRevocations reads revocations after a cursor, authenticated with the
// gate token.
func (c *Client) GateRevocations(ctx context.Context, gate, after string, limit int) (RevocationsResponse, error) {
	var resp RevocationsResponse
	return resp, c.gate.Do(ctx, http.MethodGet, gatePage(PathRevocations, gate, after, limit), nil, &resp)
}

// GateEvents reads the changefeed as Events does, authenticated with the
// gate token (a gate may read the feed to keep an offline deny list).
func (c *Client) GateEvents(ctx context.Context, gate, after string, limit int) (EventsResponse, error) {
	var resp EventsResponse
	return resp, c.gate.Do(ctx, http.MethodGet, gatePage(PathEvents, gate, after, limit), nil, &resp)
}

// gatePage is path?gate=…&after=…&limit=… of a feed a gate reads.
func gatePage(path, gate, after string, limit int) string {
	q := url.Values{}
	q.Set("gate", gate)
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return path + "?" + q.Encode()
}
