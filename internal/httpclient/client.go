// Package httpclient sends JSON requests to a service that runs on several
// nodes (a park's cluster, the sales service) and moves on to the next node
// by one policy. Typed clients (validator/gateapi, sales/salesclient) are
// built on it; nothing else should build paths over it by hand.
//
// The policy, for calls the server makes idempotent:
//   - 2xx: the answer; decoded into out.
//   - 4xx: the server's final word, returned as *Error; no other node is
//     asked, since it would answer the same.
//   - 5xx, or no answer: the next node is asked. When none answered, the
//     error wraps ErrUnavailable if no node could have received the request
//     (every dial failed), else ErrOutcomeUnknown: the call may or may not
//     have taken effect, and only sending it again, unchanged, settles it.
package httpclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Errors when no node gave an answer.
var (
	ErrUnavailable    = errors.New("no node could be reached")
	ErrOutcomeUnknown = errors.New("no node answered; the call may or may not have taken effect")
	ErrNoURL          = errors.New("no URL given: use --cluster http://host:port[,...]")
)

// MaxReplyBytes bounds a reply body read into memory.
const MaxReplyBytes = 64 << 20

// Client calls the nodes at URLs in order.
type Client struct {
	// URLs are the nodes' base URLs ("http://127.0.0.1:7101"), tried in order.
	URLs []string
	// BearerToken is sent as "Authorization: Bearer <token>" when set: the
	// credential the server expects for these calls (a cluster admin or
	// gate token, a sales session or API key). A typed client names it.
	BearerToken string
	// HTTP sends the requests; New sets a 15 s timeout per request.
	HTTP *http.Client
	// Hint, when set, makes calls start at the node that answered last,
	// or at the one its answer pointed to (NewHint); nil: always URLs[0]
	// first.
	Hint *Hint
}

// Hint remembers which of a client's URLs to try first: the last node
// that answered, or the node named in the reply header Header (a follower
// naming its leader) when that is one of the client's URLs.
type Hint struct {
	Header string
	first  atomic.Int32
}

// NewHint returns a Hint that follows the reply header named header.
func NewHint(header string) *Hint { return &Hint{Header: header} }

// note records that the node at URLs[i] answered with reply header h.
func (h *Hint) note(urls []string, i int, header http.Header) {
	if v := strings.TrimRight(header.Get(h.Header), "/"); v != "" {
		for j, u := range urls {
			if strings.TrimRight(u, "/") == v {
				i = j
				break
			}
		}
	}
	h.first.Store(int32(i))
}

// New returns a client with a 15-second timeout per request.
func New(urls []string, bearerToken string) *Client {
	return &Client{URLs: urls, BearerToken: bearerToken, HTTP: &http.Client{Timeout: 15 * time.Second}}
}

// ParseURLs parses a comma-separated URL list ("http://h1:7101,h2:7102");
// a URL without a scheme gets http://.
func ParseURLs(urls string) ([]string, error) {
	var list []string
	for _, u := range strings.Split(urls, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		if !strings.Contains(u, "://") {
			u = "http://" + u
		}
		list = append(list, strings.TrimRight(u, "/"))
	}
	if len(list) == 0 {
		return nil, ErrNoURL
	}
	return list, nil
}

// Error is an error reply from a node: a status of 400 or more with the
// {"error": "..."} body's message.
type Error struct {
	URL     string
	Status  int
	Message string
	// RetryAfter is the reply's Retry-After header in seconds, 0 if none.
	RetryAfter int
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %d %s: %s", e.URL, e.Status, http.StatusText(e.Status), e.Message)
}

// StatusOf returns the HTTP status of an *Error in err's chain, 0 if none.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Do sends a request with a JSON body (nil for none; a []byte or
// json.RawMessage is sent as it is) by the package's failover policy and
// decodes a 2xx JSON reply into out (nil to skip).
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	if len(c.URLs) == 0 {
		return ErrNoURL
	}
	payload, err := encode(body)
	if err != nil {
		return err
	}
	var errs []error
	unknown := false
	first := 0
	if c.Hint != nil {
		first = int(c.Hint.first.Load()) % len(c.URLs)
	}
	for k := range c.URLs {
		i := (first + k) % len(c.URLs)
		base := c.URLs[i]
		hdr, err := c.do(ctx, base, method, path, payload, out)
		if err == nil {
			if c.Hint != nil {
				c.Hint.note(c.URLs, i, hdr)
			}
			return nil
		}
		var apiErr *Error
		if errors.As(err, &apiErr) && apiErr.Status < 500 {
			return err // the node answered: its answer stands
		}
		if ctx.Err() != nil {
			return errors.Join(ErrOutcomeUnknown, err)
		}
		unknown = unknown || !notSent(err)
		errs = append(errs, err)
	}
	if unknown {
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, errors.Join(errs...))
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, errors.Join(errs...))
}

// DoAt sends one request to the node at base only; an error reply of any
// status is returned as *Error.
func (c *Client) DoAt(ctx context.Context, base, method, path string, body, out any) error {
	payload, err := encode(body)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, base, method, path, payload, out)
	return err
}

// notSent says whether err shows the request never reached a server: the
// connection could not be made.
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func encode(body any) ([]byte, error) {
	switch b := body.(type) {
	case nil:
		return nil, nil
	case []byte:
		return b, nil
	case json.RawMessage:
		return b, nil
	}
	return json.Marshal(body)
}

// do sends one request to base and returns the reply's headers.
func (c *Client) do(ctx context.Context, base, method, path string, payload []byte, out any) (http.Header, error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return nil, err
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.BearerToken)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxReplyBytes))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var eb struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(b))
		}
		e := &Error{URL: base, Status: resp.StatusCode, Message: eb.Error}
		fmt.Sscan(resp.Header.Get("Retry-After"), &e.RetryAfter)
		return nil, e
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("%s%s: decode reply: %w", base, path, err)
		}
	}
	return resp.Header, nil
}
