package salesclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/admitpark/admit/sales/member"
)

// Paths of the members API.
const (
	PathMembers = "/v1/members"
	PathCards   = "/v1/cards/"
)

// raw sends body as is and returns the reply (an *Error for a non-2xx).
func (c *Client) raw(ctx context.Context, method, path, contentType string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.hc.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.hc.BearerToken)
	}
	resp, err := c.hc.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var eb struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(b))
		}
		return nil, &Error{URL: c.base, Status: resp.StatusCode, Message: eb.Error}
	}
	return resp, nil
}

// ImportMembers uploads a CSV or XLSX file of members (POST
// /v1/members/import); park names the park of the cards rows open.
func (c *Client) ImportMembers(ctx context.Context, data []byte, park string) (member.ImportResult, error) {
	var res member.ImportResult
	q := url.Values{}
	if park != "" {
		q.Set("park", park)
	}
	ct := "text/csv"
	if member.SniffFormat(data) == member.FormatXLSX {
		ct = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	}
	resp, err := c.raw(ctx, http.MethodPost, PathMembers+"/import?"+q.Encode(), ct, data)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return res, fmt.Errorf("import reply: %w", err)
	}
	return res, nil
}

// ExportMembers writes every member as format (csv or xlsx) to w.
func (c *Client) ExportMembers(ctx context.Context, format string, w io.Writer) error {
	resp, err := c.raw(ctx, http.MethodGet, PathMembers+"/export?format="+url.QueryEscape(format), "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	return err
}

// ReportCardLost freezes a card (POST /v1/cards/{number}/lost).
func (c *Client) ReportCardLost(ctx context.Context, number string) (member.LostResult, error) {
	var res member.LostResult
	return res, c.do(ctx, http.MethodPost, PathCards+url.PathEscape(number)+"/lost", nil, &res)
}
