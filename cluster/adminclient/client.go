// Package adminclient is the typed client of a node's admin API
// (cluster/httpapi's admin routes): cluster status, a node's own view,
// join, remove, leadership transfer, snapshots, readiness and the fault
// switch of drills. Nothing else builds those paths by hand.
//
// # Failover
//
// Admin calls are not all idempotent (a leadership transfer asked twice
// moves leadership twice), so a node's answer stands whatever its status:
// a 2xx is the result, any error reply is returned as *Error at once.
// Only a node that gives no answer (cannot be reached, times out) is
// passed over for the next URL; when no node answered, the error wraps
// ErrNoAnswer. Calls meant for one node (Self, SetFaults) go through At.
package adminclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/httpapi"
	"github.com/admitpark/admit/internal/httpclient"
)

// ErrNoAnswer is wrapped by the error of a call no node answered.
var ErrNoAnswer = errors.New("no node answered")

// Error is a node's error reply: its status and the message of its
// {"error": …} body.
type Error = httpclient.Error

// StatusOf returns the HTTP status of an *Error in err's chain, 0 if none.
func StatusOf(err error) int { return httpclient.StatusOf(err) }

// ParseURLs parses a comma-separated list of node URLs; a URL without a
// scheme gets http://.
func ParseURLs(s string) ([]string, error) { return httpclient.ParseURLs(s) }

// Config says where the nodes are and which token to send.
type Config struct {
	// URLs of the nodes' HTTP APIs ("http://127.0.0.1:7101"), tried in order.
	URLs []string
	// AdminToken is the cluster's admin token, sent as a bearer token.
	AdminToken string
	// Timeout bounds each request to one node. Default 15 s.
	Timeout time.Duration
	// TLS, when set, verifies https:// nodes (internal/httpclient.
	// TLSConfigFromCAFile makes one from --cacert); nil: the system's roots.
	TLS *tls.Config
}

// DefaultConfig returns a Config for the nodes at urls with a 15-second
// timeout per request.
func DefaultConfig(urls []string, adminToken string) Config {
	return Config{URLs: urls, AdminToken: adminToken, Timeout: 15 * time.Second}
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	switch {
	case len(c.URLs) == 0:
		return httpclient.ErrNoURL
	case c.Timeout < 0:
		return fmt.Errorf("adminclient: timeout %v is negative", c.Timeout)
	}
	return nil
}

// Client calls the admin API of a cluster's nodes. It is safe for
// concurrent use.
type Client struct {
	hc *httpclient.Client
}

// New returns a client for cfg (a zero Timeout means 15 s).
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 15 * time.Second
	}
	return &Client{hc: &httpclient.Client{URLs: append([]string(nil), cfg.URLs...), BearerToken: cfg.AdminToken,
		HTTP: &http.Client{Timeout: cfg.Timeout, Transport: httpclient.NewTransport(cfg.TLS)}}}, nil
}

// URLs returns the node URLs in the order they are tried.
func (c *Client) URLs() []string { return append([]string(nil), c.hc.URLs...) }

// At returns a client that calls only the node at base, with the same
// token and timeout.
func (c *Client) At(base string) *Client {
	hc := *c.hc
	hc.URLs = []string{base}
	return &Client{hc: &hc}
}

// WithTimeout returns a client with another timeout per request.
func (c *Client) WithTimeout(d time.Duration) *Client {
	hc := *c.hc
	hc.HTTP = &http.Client{Timeout: d, Transport: c.hc.HTTP.Transport}
	return &Client{hc: &hc}
}

// do sends a request by the package's failover policy.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var errs []error
	for _, base := range c.hc.URLs {
		err := c.hc.DoAt(ctx, base, method, path, body, out)
		if err == nil {
			return nil
		}
		if StatusOf(err) != 0 {
			return err // the node answered: its answer stands
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("%w: %w", ErrNoAnswer, errors.Join(errs...))
}

// Status returns the cluster as the first node that answers sees it, with
// every member's own view.
func (c *Client) Status(ctx context.Context) (cluster.Status, error) {
	var st cluster.Status
	return st, c.do(ctx, http.MethodGet, httpapi.PathStatus, nil, &st)
}

// Self returns the own view of the first node that answers (use At for
// one node's): its state, term and the leader it knows, without asking
// its peers.
func (c *Client) Self(ctx context.Context) (cluster.MemberStatus, error) {
	var ms cluster.MemberStatus
	return ms, c.do(ctx, http.MethodGet, httpapi.PathLocalState, nil, &ms)
}

// Ready returns nil when the node that answers has a leader and has
// caught up (GET /readyz).
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, httpapi.PathReady, nil, nil)
}

// Join adds a running node to the cluster.
func (c *Client) Join(ctx context.Context, req httpapi.JoinRequest) error {
	return c.do(ctx, http.MethodPost, httpapi.PathJoin, req, nil)
}

// Remove removes a node from the cluster.
func (c *Client) Remove(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, httpapi.PathRemove, httpapi.NodeRequest{ID: id}, nil)
}

// TransferReply answers a leadership transfer.
type TransferReply struct {
	Leader string  `json:"leader"`  // the leader afterwards, as the answering node knows it
	TookMs float64 `json:"took_ms"` // how long the transfer took, in milliseconds
}

// TransferLeadership hands leadership to the node to, or ("") to the most
// up-to-date follower.
func (c *Client) TransferLeadership(ctx context.Context, to string) (TransferReply, error) {
	var out TransferReply
	return out, c.do(ctx, http.MethodPost, httpapi.PathTransfer, httpapi.NodeRequest{ID: to}, &out)
}

// SnapshotReply answers a snapshot request: the snapshots taken, and the
// members that failed (by id).
type SnapshotReply struct {
	Snapshots []cluster.SnapshotInfo `json:"snapshots"`
	Errors    map[string]string      `json:"errors"`
}

// Snapshot takes a snapshot on the member node, or ("") on every member.
// When a member failed, the error is a 502 *Error whose message is the
// node's reply, listing what succeeded and what failed.
func (c *Client) Snapshot(ctx context.Context, node string) (SnapshotReply, error) {
	var out SnapshotReply
	return out, c.do(ctx, http.MethodPost, httpapi.PathSnapshot, httpapi.NodeRequest{ID: node}, &out)
}

// SetFaults tells the node that answers (use At: a fall-over to another
// node would cut the wrong links) to block the peers given by node id or
// Raft address; none heals every link. Nodes serve it only when started
// with --fault-injection (404 otherwise).
func (c *Client) SetFaults(ctx context.Context, block []string) (httpapi.FaultsReply, error) {
	if block == nil {
		block = []string{}
	}
	var out httpapi.FaultsReply
	return out, c.do(ctx, http.MethodPost, httpapi.PathFaults, httpapi.FaultsRequest{Block: block}, &out)
}

// Faults returns the peers the node that answers blocks.
func (c *Client) Faults(ctx context.Context) (httpapi.FaultsReply, error) {
	var out httpapi.FaultsReply
	return out, c.do(ctx, http.MethodGet, httpapi.PathFaults, nil, &out)
}

// Leader asks every node for its own view, in parallel, and returns the
// node that says it leads in the highest term (its id, URL and term), or
// "" when none does. A node that just restarted knows no leader yet, which
// says nothing of the cluster; so every node is asked, not the first.
func (c *Client) Leader(ctx context.Context) (id, url string, term uint64) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, u := range c.hc.URLs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ms, err := c.At(u).Self(ctx)
			if err != nil || ms.State != "leader" {
				return
			}
			mu.Lock()
			if ms.Term > term || id == "" {
				id, url, term = ms.ID, u, ms.Term
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return id, url, term
}

// Settled returns nil when the status shows at least voters voting members
// that lead or follow, and a leader; else an error that says what is
// missing.
func Settled(st cluster.Status, voters int) error {
	up := 0
	for _, m := range st.Members {
		if m.Suffrage == "voter" && (m.State == "leader" || m.State == "follower") {
			up++
		}
	}
	if up >= voters && st.Leader != "" {
		return nil
	}
	return fmt.Errorf("%w: %d of %d voters up, leader %q", ErrNotSettled, up, voters, st.Leader)
}

// ErrNotSettled is wrapped by the errors of Settled and SelfSettled.
var ErrNotSettled = errors.New("cluster not settled")

// SelfSettled asks every node for its own view (no fan-out to peers) and
// returns nil when each leads or follows and all name the same leader.
func (c *Client) SelfSettled(ctx context.Context) error {
	leaders := map[string]bool{}
	for _, u := range c.hc.URLs {
		ms, err := c.At(u).Self(ctx)
		switch {
		case err != nil:
			return err
		case ms.State != "leader" && ms.State != "follower":
			return fmt.Errorf("%w: %s is %s", ErrNotSettled, ms.ID, ms.State)
		case ms.Leader == "":
			return fmt.Errorf("%w: %s knows no leader", ErrNotSettled, ms.ID)
		}
		leaders[ms.Leader] = true
	}
	if len(leaders) != 1 {
		return fmt.Errorf("%w: nodes name different leaders: %v", ErrNotSettled, leaders)
	}
	return nil
}

// Poll calls check every interval until it returns nil or ctx ends; then
// it returns check's last error.
func Poll(ctx context.Context, interval time.Duration, check func(context.Context) error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	var last error
	for {
		if last = check(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return last
		case <-t.C:
		}
	}
}
