package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// ClusterConfig reaches the park's gate cluster (the sales service's
// --cluster URLs and token). The browser never talks to the nodes.
type ClusterConfig struct {
	URLs      string            // comma-separated node base URLs
	Token     string            // the cluster token sales holds
	Transport http.RoundTripper // nil: the default
	Timeout   time.Duration     // per call
}

type clusterClient struct {
	urls  []string
	token string
	http  *http.Client
}

func newClusterClient(c ClusterConfig) *clusterClient {
	var urls []string
	for _, u := range strings.Split(c.URLs, ",") {
		if u = strings.TrimRight(strings.TrimSpace(u), "/"); u != "" {
			urls = append(urls, u)
		}
	}
	return &clusterClient{urls: urls, token: c.Token, http: &http.Client{Transport: c.Transport, Timeout: c.Timeout}}
}

// call asks the nodes in turn until one answers 2xx; out gets the JSON.
func (cc *clusterClient) call(ctx context.Context, method, path string, body, out any) error {
	if len(cc.urls) == 0 {
		return fmt.Errorf("no cluster configured")
	}
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return err
		}
	}
	var last error
	for _, u := range cc.urls {
		last = cc.one(ctx, method, u+path, raw, out)
		if last == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return last
}

func (cc *clusterClient) one(ctx context.Context, method, url string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+cc.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := cc.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
