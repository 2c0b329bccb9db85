package gate

import (
	"errors"
	"fmt"
	"time"

	"github.com/admitpark/admit/cluster/httpapi"
	"github.com/admitpark/admit/validator/fsm"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// Input hygiene: every text field the gate API accepts is checked here (or
// in validateScan and gateapi.TicketJSON.Ticket) before it can reach the
// replicated log: valid UTF-8 without control characters
// (ticket.CleanText). A NUL or an invalid byte stored in an entry event
// would otherwise travel to every consumer of the changefeed (PostgreSQL
// refuses both). Each refusal is a 400 that names the field. The decoders
// below read a body into what a handler applies, without a request, so
// they are fuzzed as they are (fuzz_test.go).

// ErrNotText: a field holds a control character or invalid UTF-8.
var ErrNotText = gateapi.ErrNotText

func errNotText(field string) error { return fmt.Errorf("%q %w", field, ErrNotText) }

// checkName checks a required ID field: 1-MaxNameLen bytes of clean text.
func checkName(field, s string) error {
	if !ticket.ValidName(s) {
		return fmt.Errorf("%q is required, 1-%d bytes", field, ticket.MaxNameLen)
	}
	if !ticket.CleanText(s) {
		return errNotText(field)
	}
	return nil
}

// decodeIssue reads the body of POST /v1/tickets/issue into tickets.
func decodeIssue(body []byte, max int) ([]ticket.Ticket, error) {
	var req gateapi.IssueRequest
	if err := httpapi.DecodeJSONBytes(body, &req, false); err != nil {
		return nil, err
	}
	if len(req.Tickets) == 0 || len(req.Tickets) > max {
		return nil, fmt.Errorf(`"tickets" must hold 1-%d tickets`, max)
	}
	tickets := make([]ticket.Ticket, len(req.Tickets))
	for i := range req.Tickets {
		t, err := req.Tickets[i].Ticket()
		if err != nil {
			return nil, fmt.Errorf("tickets[%d]: %w", i, err)
		}
		tickets[i] = t
	}
	return tickets, nil
}

// decodeGateAdd reads the body of POST /v1/gates.
func decodeGateAdd(body []byte) (gateapi.GateJSON, fsm.Direction, error) {
	var req gateapi.GateJSON
	if err := httpapi.DecodeJSONBytes(body, &req, false); err != nil {
		return req, 0, err
	}
	if err := checkName("id", req.ID); err != nil {
		return req, 0, err
	}
	if err := checkName("zone", req.Zone); err != nil {
		return req, 0, err
	}
	if req.Token != "" {
		return req, 0, errors.New(`"token" is made by the cluster, not sent`)
	}
	dir := fsm.DirBoth
	if req.Direction != "" {
		var err error
		if dir, err = fsm.ParseDirection(req.Direction); err != nil {
			return req, 0, errors.New(`"direction" must be in, out or both`)
		}
	}
	return req, dir, nil
}

// decodeZoneSet reads the body of POST /v1/zones.
func decodeZoneSet(body []byte) (gateapi.ZoneJSON, error) {
	var req gateapi.ZoneJSON
	if err := httpapi.DecodeJSONBytes(body, &req, false); err != nil {
		return req, err
	}
	if err := checkName("id", req.ID); err != nil {
		return req, err
	}
	if req.Occupancy != 0 {
		return req, errors.New(`"occupancy" is counted from scans, not set`)
	}
	if req.Cap > 0 && req.Warn > req.Cap {
		return req, errors.New(`"warn" must not exceed "cap"`)
	}
	return req, nil
}

// decodePark reads the body of PUT /v1/park.
func decodePark(body []byte) (gateapi.ParkJSON, error) {
	var req gateapi.ParkJSON
	if err := httpapi.DecodeJSONBytes(body, &req, false); err != nil {
		return req, err
	}
	if !ticket.CleanText(req.TimeZone) {
		return req, errNotText("time_zone")
	}
	if _, err := time.LoadLocation(req.TimeZone); err != nil || req.TimeZone == "" {
		return req, errors.New(`"time_zone" must be an IANA zone such as "Asia/Shanghai"`)
	}
	return req, nil
}

// decodeChange reads the body of POST /v1/tickets/{id}/revoke or /update
// (action) into the command to apply.
func decodeChange(action string, id [16]byte, body []byte) ([]byte, error) {
	var req gateapi.ChangeRequest
	if err := httpapi.DecodeJSONBytes(body, &req, false); err != nil {
		return nil, err
	}
	if req.Version == 0 {
		return nil, errors.New(`"version" is required: the ticket's version after the change`)
	}
	if action == "revoke" {
		if req.Op != "" || !req.ValidUntil.IsZero() {
			return nil, errors.New(`revoke takes only "version"`)
		}
		return fsm.EncodeRevoke(fsm.Revoke{ID: id, Version: req.Version}), nil
	}
	op, err := fsm.ParseUpdateOp(req.Op)
	if err != nil {
		return nil, errors.New(`"op" must be suspend, resume or extend`)
	}
	if (op == fsm.OpExtend) != !req.ValidUntil.IsZero() {
		return nil, errors.New(`"valid_until" goes with op "extend", and only with it`)
	}
	return fsm.EncodeUpdate(fsm.Update{ID: id, Version: req.Version, Op: op, ValidUntil: unixMs(req.ValidUntil)})
}
