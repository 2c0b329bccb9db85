package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/admitpark/admit/cluster"
)

// Client calls a cluster's HTTP API. It tries the node URLs in order and
// moves on when one cannot be reached, so any live node answers.
type Client struct {
	URLs       []string
	AdminToken string
	HTTP       *http.Client
}

// NewClient parses a comma-separated URL list ("http://h1:7101,h2:7102");
// a URL without a scheme gets http://.
func NewClient(urls, adminToken string) (*Client, error) {
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
		return nil, errors.New("no cluster URL given: use --cluster http://host:port[,...]")
	}
	return &Client{URLs: list, AdminToken: adminToken, HTTP: &http.Client{Timeout: 15 * time.Second}}, nil
}

// APIError is an error reply from a node.
type APIError struct {
	URL     string
	Status  int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s: %d %s: %s", e.URL, e.Status, http.StatusText(e.Status), e.Message)
}

// Do sends a request with a JSON body (nil for none) to the first node
// that answers, and decodes a JSON reply into out (nil to skip).
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	var errs []error
	for _, base := range c.URLs {
		err := c.doOne(ctx, base, method, path, payload, out)
		if err == nil {
			return nil
		}
		var apiErr *APIError
		if errors.As(err, &apiErr) {
			return err // the node answered: its answer stands
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("no node answered: %w", errors.Join(errs...))
}

func (c *Client) doOne(ctx context.Context, base, method, path string, payload []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.AdminToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.AdminToken)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var eb ErrorBody
		if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(b))
		}
		return &APIError{URL: base, Status: resp.StatusCode, Message: eb.Error}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s%s: decode reply: %w", base, path, err)
		}
	}
	return nil
}

// Status returns the cluster status as the first reachable node sees it.
func (c *Client) Status(ctx context.Context) (cluster.Status, error) {
	var st cluster.Status
	return st, c.Do(ctx, http.MethodGet, PathStatus, nil, &st)
}
