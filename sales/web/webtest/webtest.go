// Package webtest sends HTTP requests to a sales API under test and reads
// the replies: the one client the packages' HTTP tests share.
package webtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// Reply is an answer as a test reads it. Status is -1 when the request
// failed (Body then holds the error).
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode unmarshals the JSON body into v, failing the test when it cannot.
func (r Reply) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("reply %d %s: %v", r.Status, r.Body, err)
	}
}

// Send makes a request with client to base+path: body is JSON-encoded
// unless it is nil, a string or []byte; token, when set, is the bearer
// token; h adds headers.
func Send(ctx context.Context, client *http.Client, base, method, path, token string, body any, h http.Header) Reply {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			panic(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		panic(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := client.Do(req)
	if err != nil {
		return Reply{Status: -1, Body: []byte(err.Error())}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return Reply{Status: res.StatusCode, Header: res.Header, Body: b}
}
