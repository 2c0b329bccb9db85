package gatetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

var httpClient = &http.Client{Timeout: 10 * time.Second}

// Call sends one request to the node at base and returns the reply's
// status. body is nil for none, a []byte sent as it is, or a value sent as
// JSON; token is sent as the bearer token unless "". The reply is decoded
// into out (when not nil and the reply not empty) whatever its status, so
// an error reply decodes into a gateapi.ErrorBody. err is only for a
// request that got no reply or a reply that does not decode: a 4xx or 5xx
// is no error, check the status. Tests that want typed calls with
// failover use gateapi.Client; this is for the tests of the HTTP surface
// itself (status codes, headers, malformed bodies).
func Call(base, method, path, token string, body, out any) (int, error) {
	status, _, err := CallHeader(base, method, path, token, body, out)
	return status, err
}

// CallHeader is Call that also returns the reply's headers.
func CallHeader(base, method, path, token string, body, out any) (int, http.Header, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, resp.Header, err
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, resp.Header, fmt.Errorf("%s %s: %d: decode %q: %w", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode, resp.Header, nil
}

// CallOK is Call for tests that want success: a reply of 300 or more is an
// error that carries the reply, and out is decoded from a 2xx only.
func CallOK(base, method, path, token string, body, out any) (int, error) {
	var raw json.RawMessage
	status, err := Call(base, method, path, token, body, &raw)
	switch {
	case err != nil:
		return status, err
	case status >= 300:
		return status, fmt.Errorf("%s %s: %d %s", method, path, status, raw)
	case out != nil && len(raw) > 0:
		if err := json.Unmarshal(raw, out); err != nil {
			return status, fmt.Errorf("%s %s: decode %q: %w", method, path, raw, err)
		}
	}
	return status, nil
}
