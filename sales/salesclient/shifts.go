package salesclient

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/admitpark/admit/sales/shift"
)

// Paths of the shift and report API.
const (
	PathShifts       = "/v1/shifts"
	PathCurrentShift = "/v1/shifts/current"
	PathReports      = "/v1/reports/"
)

// OpenShift opens the calling cashier's shift with an opening float.
func (c *Client) OpenShift(ctx context.Context, floatMinor int64) (shift.Shift, error) {
	var s shift.Shift
	return s, c.do(ctx, http.MethodPost, PathShifts, shift.OpenRequest{OpeningFloatMinor: floatMinor}, &s)
}

// CurrentShift returns the calling cashier's open shift (404 when none).
func (c *Client) CurrentShift(ctx context.Context) (shift.Shift, error) {
	var s shift.Shift
	return s, c.do(ctx, http.MethodGet, PathCurrentShift, nil, &s)
}

// Shift returns shift id.
func (c *Client) Shift(ctx context.Context, id int64) (shift.Shift, error) {
	var s shift.Shift
	return s, c.do(ctx, http.MethodGet, PathShifts+"/"+strconv.FormatInt(id, 10), nil, &s)
}

// CloseShift closes shift id with the money counted per method.
func (c *Client) CloseShift(ctx context.Context, id int64, req shift.CloseRequest) (shift.Shift, error) {
	var s shift.Shift
	return s, c.do(ctx, http.MethodPost, PathShifts+"/"+strconv.FormatInt(id, 10)+"/close", req, &s)
}

// ConfirmShift confirms closed shift id (finance, admin).
func (c *Client) ConfirmShift(ctx context.Context, id int64, note string) (shift.Shift, error) {
	var s shift.Shift
	return s, c.do(ctx, http.MethodPost, PathShifts+"/"+strconv.FormatInt(id, 10)+"/confirm", shift.ConfirmRequest{Note: note}, &s)
}

// Report streams report name (GET /v1/reports/{name}?query) to w as the
// service sends it (JSON, CSV or XLSX, per query's "format"). The request
// has no overall timeout beyond ctx: big exports take their time.
func (c *Client) Report(ctx context.Context, name string, query url.Values, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+PathReports+url.PathEscape(name)+"?"+query.Encode(), nil)
	if err != nil {
		return err
	}
	if c.hc.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.hc.BearerToken)
	}
	hc := *c.hc.HTTP
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var eb struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(b))
		}
		return &Error{URL: c.base, Status: resp.StatusCode, Message: eb.Error}
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("report %s: %w", name, err)
	}
	return nil
}
