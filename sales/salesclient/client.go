// Package salesclient is a small typed client of the sales service's HTTP
// API, with the request and reply types of the sales packages themselves
// (sales/auth, sales/orders), so client and server cannot drift apart. It
// covers what tools need (admit dev's demo, readiness); it is not a
// complete SDK.
package salesclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/admitpark/admit/internal/httpclient"
	"github.com/admitpark/admit/sales/auth"
	"github.com/admitpark/admit/sales/orders"
)

// Paths of the sales API this client calls.
const (
	PathReady  = "/readyz"
	PathLogin  = "/v1/login"
	PathOrders = "/v1/orders"
	pathPay    = "/pay"
)

// Error is an error reply of the service (status and message).
type Error = httpclient.Error

// StatusOf returns the HTTP status of an *Error in err's chain, 0 if none.
func StatusOf(err error) int { return httpclient.StatusOf(err) }

// Config says where the service is and which credential to send.
type Config struct {
	// URL is the service's base URL ("http://127.0.0.1:7401").
	URL string
	// Token is a session token (from Login) or an API key; empty for
	// Login and Ready.
	Token string
	// Timeout bounds each request. Default 15 s.
	Timeout time.Duration
}

// DefaultConfig returns a Config for the service at url, without a token.
func DefaultConfig(url string) Config { return Config{URL: url, Timeout: 15 * time.Second} }

// Validate reports the first problem with c.
func (c Config) Validate() error {
	switch {
	case c.URL == "":
		return errors.New("salesclient: no URL")
	case c.Timeout < 0:
		return fmt.Errorf("salesclient: timeout %v is negative", c.Timeout)
	}
	return nil
}

// Client calls one sales service. It is safe for concurrent use. Calls go
// to the one URL only: creating an order is not idempotent without an
// idempotency key, so nothing is sent again elsewhere.
type Client struct {
	hc   *httpclient.Client
	base string
}

// New returns a client for cfg (a zero Timeout means 15 s).
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	urls, err := httpclient.ParseURLs(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 15 * time.Second
	}
	return &Client{base: urls[0], hc: &httpclient.Client{URLs: urls[:1], BearerToken: cfg.Token,
		HTTP: &http.Client{Timeout: cfg.Timeout}}}, nil
}

// WithToken returns a client that sends token (a session or an API key).
func (c *Client) WithToken(token string) *Client {
	hc := *c.hc
	hc.BearerToken = token
	return &Client{hc: &hc, base: c.base}
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	return c.hc.DoAt(ctx, c.base, method, path, body, out)
}

// Ready returns nil when the service is up and reaches its database.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, PathReady, nil, nil)
}

// WaitReady polls Ready every interval until it succeeds or ctx ends, and
// then returns Ready's last error.
func (c *Client) WaitReady(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := c.Ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-t.C:
		}
	}
}

// Login opens a session; use the result's Token with WithToken.
func (c *Client) Login(ctx context.Context, username, password string) (auth.LoginResult, error) {
	var res auth.LoginResult
	return res, c.do(ctx, http.MethodPost, PathLogin, auth.LoginRequest{Username: username, Password: password}, &res)
}

// CreateOrder creates a pending order.
func (c *Client) CreateOrder(ctx context.Context, req orders.CreateRequest) (orders.Order, error) {
	var o orders.Order
	return o, c.do(ctx, http.MethodPost, PathOrders, req, &o)
}

// Pay pays the order ref (id or number): cash at a window issues its
// tickets at once.
func (c *Client) Pay(ctx context.Context, ref string, req orders.PayRequest) (orders.PayResult, error) {
	var res orders.PayResult
	return res, c.do(ctx, http.MethodPost, PathOrders+"/"+url.PathEscape(ref)+pathPay, req, &res)
}
