package gateapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/admitpark/admit/internal/httpclient"
)

// Errors of a Client; see the package doc for when each is returned.
var (
	ErrUnavailable    = httpclient.ErrUnavailable
	ErrOutcomeUnknown = httpclient.ErrOutcomeUnknown
)

// Error is a node's error reply (status, and the message of its
// {"error": …} body). A 4xx is final; a 5xx is returned only when every
// node answered one.
type Error = httpclient.Error

// StatusOf returns the HTTP status of an *Error in err's chain, 0 if none.
func StatusOf(err error) int { return httpclient.StatusOf(err) }

// ParseURLs parses a comma-separated list of node URLs; a URL without a
// scheme gets http://.
func ParseURLs(s string) ([]string, error) { return httpclient.ParseURLs(s) }

// Config says where the nodes are and which credentials to send.
type Config struct {
	// URLs of the nodes, tried in order.
	URLs []string
	// AdminToken is the cluster admin token: issue, revoke, update,
	// configuration, events, ticket views.
	AdminToken string
	// GateToken, when set, is sent with scans instead of AdminToken, as a
	// turnstile would.
	GateToken string
	// Timeout bounds each request to one node. Default 15 s.
	Timeout time.Duration
	// Transport, when set, carries the requests (connection pools shared
	// with other clients, TLS); default http.DefaultTransport.
	Transport http.RoundTripper
}

// Client calls the gate API of a park's cluster; see the package doc for
// its failover policy. It is safe for concurrent use.
type Client struct {
	admin *httpclient.Client
	gate  *httpclient.Client
}

// NewClient returns a client; it fails only when cfg has no URL.
func NewClient(cfg Config) (*Client, error) {
	if len(cfg.URLs) == 0 {
		return nil, httpclient.ErrNoURL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	hc := &http.Client{Timeout: cfg.Timeout, Transport: cfg.Transport}
	c := &Client{
		admin: &httpclient.Client{URLs: cfg.URLs, BearerToken: cfg.AdminToken, HTTP: hc},
		gate:  &httpclient.Client{URLs: cfg.URLs, BearerToken: cfg.AdminToken, HTTP: hc, Hint: httpclient.NewHint(HeaderLeader)},
	}
	if cfg.GateToken != "" {
		c.gate.BearerToken = cfg.GateToken
	}
	return c, nil
}

// URLs returns the node URLs. Scans start at the node that answered last,
// or at the leader a follower named (HeaderLeader); other calls try them
// in this order.
func (c *Client) URLs() []string { return append([]string(nil), c.admin.URLs...) }

// At returns a client that calls only the node at base, with the same
// credentials: for drills and tests that must reach one node.
func (c *Client) At(base string) *Client {
	a, g := *c.admin, *c.gate
	a.URLs, g.URLs = []string{base}, []string{base}
	g.Hint = nil // one node: nothing to prefer
	return &Client{admin: &a, gate: &g}
}

// Scan decides one scan.
func (c *Client) Scan(ctx context.Context, req ScanRequest) (ScanResponse, error) {
	var resp ScanResponse
	return resp, c.gate.Do(ctx, http.MethodPost, PathScan, req, &resp)
}

// ScanBatch decides scans in order; results are in request order.
func (c *Client) ScanBatch(ctx context.Context, scans []ScanRequest) ([]ScanResponse, error) {
	var resp ScanBatchResponse
	err := c.gate.Do(ctx, http.MethodPost, PathScans, ScanBatchRequest{Scans: scans}, &resp)
	return resp.Results, err
}

// Issue adds or replaces tickets (a version not newer than the cluster's
// is "stale", which is no error).
func (c *Client) Issue(ctx context.Context, tickets []TicketJSON) (IssueResponse, error) {
	var resp IssueResponse
	return resp, c.admin.Do(ctx, http.MethodPost, PathIssue, IssueRequest{Tickets: tickets}, &resp)
}

// Revoke revokes a ticket unless it was used (OutcomeAlreadyUsed).
func (c *Client) Revoke(ctx context.Context, ticketID string, req ChangeRequest) (ChangeResponse, error) {
	var resp ChangeResponse
	return resp, c.admin.Do(ctx, http.MethodPost, PathTickets+url.PathEscape(ticketID)+PathTicketRevoke, req, &resp)
}

// Update suspends, resumes or extends a ticket.
func (c *Client) Update(ctx context.Context, ticketID string, req ChangeRequest) (ChangeResponse, error) {
	var resp ChangeResponse
	return resp, c.admin.Do(ctx, http.MethodPost, PathTickets+url.PathEscape(ticketID)+PathTicketUpdate, req, &resp)
}

// Ticket shows a ticket and its use, by id or by code (then CodeCurrent
// says whether the code is the ticket's current one).
func (c *Client) Ticket(ctx context.Context, idOrCode string) (TicketView, error) {
	var v TicketView
	return v, c.admin.Do(ctx, http.MethodGet, PathTickets+url.PathEscape(idOrCode), nil, &v)
}

// Gates lists the registered gates (without tokens).
func (c *Client) Gates(ctx context.Context) ([]GateJSON, error) {
	var resp GatesResponse
	return resp.Gates, c.admin.Do(ctx, http.MethodGet, PathGates, nil, &resp)
}

// AddGate registers a gate, or gives an existing one a new token; the
// reply holds the token, shown this once.
func (c *Client) AddGate(ctx context.Context, g GateJSON) (GateJSON, error) {
	var resp GateJSON
	return resp, c.admin.Do(ctx, http.MethodPost, PathGates, g, &resp)
}

// RemoveGate removes a gate.
func (c *Client) RemoveGate(ctx context.Context, id string) error {
	return c.admin.Do(ctx, http.MethodDelete, PathGates+"/"+url.PathEscape(id), nil, nil)
}

// Zones lists the zones with their occupancy.
func (c *Client) Zones(ctx context.Context) ([]ZoneJSON, error) {
	var resp ZonesResponse
	return resp.Zones, c.admin.Do(ctx, http.MethodGet, PathZones, nil, &resp)
}

// SetZone creates or changes a zone's cap and warning level.
func (c *Client) SetZone(ctx context.Context, z ZoneJSON) error {
	return c.admin.Do(ctx, http.MethodPost, PathZones, z, nil)
}

// RemoveZone removes a zone.
func (c *Client) RemoveZone(ctx context.Context, id string) error {
	return c.admin.Do(ctx, http.MethodDelete, PathZones+"/"+url.PathEscape(id), nil, nil)
}

// Park returns the park-wide configuration.
func (c *Client) Park(ctx context.Context) (ParkJSON, error) {
	var p ParkJSON
	return p, c.admin.Do(ctx, http.MethodGet, PathPark, nil, &p)
}

// SetPark sets the park-wide configuration: its time zone, the park ID
// (set once; another one later is a 409) and the signing public keys (the
// whole set; none = unchanged). Empty fields are left as they are.
func (c *Client) SetPark(ctx context.Context, p ParkJSON) error {
	return c.admin.Do(ctx, http.MethodPut, PathPark, p, nil)
}

// ExitAll records every visitor as out (the nightly reset).
func (c *Client) ExitAll(ctx context.Context) (ExitAllResponse, error) {
	var resp ExitAllResponse
	return resp, c.admin.Do(ctx, http.MethodPost, PathExitAll, nil, &resp)
}

// Events reads up to limit entry events after the cursor after ("" for
// the start; limit 0 for the server's default).
func (c *Client) Events(ctx context.Context, after string, limit int) (EventsResponse, error) {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := PathEvents
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var resp EventsResponse
	return resp, c.admin.Do(ctx, http.MethodGet, path, nil, &resp)
}

// Conflicts reads GET /v1/conflicts: offline admits that met another
// admit of the same ticket, after the cursor (empty: from the oldest
// kept), at most limit (0: the server's default).
func (c *Client) Conflicts(ctx context.Context, after string, limit int) (ConflictsResponse, error) {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := PathConflicts
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var resp ConflictsResponse
	return resp, c.admin.Do(ctx, http.MethodGet, path, nil, &resp)
}
