package gate

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/admitpark/admit/cluster/httpapi"
	"github.com/admitpark/admit/validator/code"
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

// decodeIssue reads the body of POST /v1/tickets/issue into issues: each
// ticket with its park and, when sent with its code, the code's binary
// form, so that the state machine can verify it (the edge does not know
// the park's keys; apply decides).
func decodeIssue(body []byte, max int) ([]fsm.Issue, error) {
	var req gateapi.IssueRequest
	if err := httpapi.DecodeJSONBytes(body, &req, false); err != nil {
		return nil, err
	}
	if len(req.Tickets) == 0 || len(req.Tickets) > max {
		return nil, fmt.Errorf(`"tickets" must hold 1-%d tickets`, max)
	}
	issues := make([]fsm.Issue, len(req.Tickets))
	for i := range req.Tickets {
		j := &req.Tickets[i]
		t, err := j.Ticket()
		if err != nil {
			return nil, fmt.Errorf("tickets[%d]: %w", i, err)
		}
		issues[i] = fsm.Issue{Ticket: t, Park: j.Park}
		if j.Park != "" {
			if err := checkName("park", j.Park); err != nil {
				return nil, fmt.Errorf("tickets[%d]: %w", i, err)
			}
		}
		if j.Code != "" { // Ticket parsed it already
			c, err := code.Parse(j.Code)
			if err != nil {
				return nil, fmt.Errorf("tickets[%d]: %w", i, err)
			}
			issues[i].Code = c.Binary()
		}
		if issues[i].Credentials, err = bindings(j.Credentials); err != nil {
			return nil, fmt.Errorf("tickets[%d]: %w", i, err)
		}
	}
	return issues, nil
}

// bindings converts a ticket's credentials to the normal form scans are
// looked up in: card values as gateapi.NormalizeCardValue makes them,
// ID-card hashes as lower-case hex, ticket numbers without spaces and with
// a right check digit.
func bindings(list []gateapi.CredentialJSON) ([]fsm.Credential, error) {
	if len(list) > fsm.MaxCredentials {
		return nil, fmt.Errorf(`"credentials" holds at most %d`, fsm.MaxCredentials)
	}
	var out []fsm.Credential
	for k, j := range list {
		kind, err := fsm.ParseCredentialKind(j.Kind)
		if err != nil {
			return nil, fmt.Errorf(`"credentials[%d].kind" must be %q, %q or %q`, k, gateapi.CredentialCard, gateapi.CredentialIDCard, gateapi.CredentialTicketNumber)
		}
		c := fsm.Credential{Kind: kind}
		switch kind {
		case fsm.CredCard:
			c.Value = gateapi.NormalizeCardValue(j.Value)
		case fsm.CredIDCard:
			c.Value = strings.ToLower(j.Value)
		case fsm.CredTicketNumber:
			n, ok := gateapi.NormalizeTicketNumber(j.Value)
			if !ok {
				return nil, fmt.Errorf(`"credentials[%d].value" is not a ticket number with a right check digit`, k)
			}
			c.Value = n
		}
		if !fsm.ValidCredential(c) {
			return nil, fmt.Errorf(`"credentials[%d].value" is not a valid %s (an id_card is its keyed hash: 64 hex digits)`, k, kind)
		}
		if slices.Contains(out, c) {
			return nil, fmt.Errorf(`"credentials[%d]" is listed twice`, k)
		}
		out = append(out, c)
	}
	return out, nil
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
	if req.ZoneBit != nil {
		return req, 0, errors.New(`"zone_bit" is the zone's: set it with the zone (POST /v1/zones "bit")`)
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
	if req.Bit != nil && (*req.Bit < 0 || *req.Bit >= ticket.MaxMaskBit) {
		return req, fmt.Errorf(`"bit" must be 0-%d (the zone's bit in codes' zone masks)`, ticket.MaxMaskBit-1)
	}
	return req, nil
}

// decodePark reads the body of PUT /v1/park into the Configure to apply.
// Each field is optional ("" or no keys: unchanged); at least one is set.
func decodePark(body []byte) (gateapi.ParkJSON, fsm.Configure, error) {
	var req gateapi.ParkJSON
	var c fsm.Configure
	if err := httpapi.DecodeJSONBytes(body, &req, false); err != nil {
		return req, c, err
	}
	if req.TimeZone == "" && req.ID == "" && len(req.Keys) == 0 && req.IDCardKey == "" {
		return req, c, errors.New(`set "time_zone", "id", "keys" or "id_card_key"`)
	}
	if req.IDCardKeySet {
		return req, c, errors.New(`"id_card_key_set" is read only: send "id_card_key"`)
	}
	if req.IDCardKey != "" {
		b, err := base64.StdEncoding.Strict().DecodeString(req.IDCardKey)
		if err != nil || len(b) != fsm.IDCardKeyLen {
			return req, c, fmt.Errorf(`"id_card_key" must be %d bytes in standard base64`, fsm.IDCardKeyLen)
		}
		c.IDCardKey = b
	}
	if req.TimeZone != "" {
		if !ticket.CleanText(req.TimeZone) {
			return req, c, errNotText("time_zone")
		}
		if _, err := time.LoadLocation(req.TimeZone); err != nil || req.TimeZone == "Local" {
			return req, c, errors.New(`"time_zone" must be an IANA zone such as "Asia/Shanghai"`)
		}
	}
	if req.ID != "" {
		if err := checkName("id", req.ID); err != nil {
			return req, c, err
		}
	}
	if len(req.Keys) > fsm.MaxKeys {
		return req, c, fmt.Errorf(`"keys" holds at most %d keys`, fsm.MaxKeys)
	}
	seen := map[uint8]bool{}
	for i, k := range req.Keys {
		b, err := base64.StdEncoding.Strict().DecodeString(k.Public)
		if err != nil || len(b) != 32 {
			return req, c, fmt.Errorf(`"keys[%d].public" must be an Ed25519 public key: 32 bytes in standard base64`, i)
		}
		if seen[k.ID] {
			return req, c, fmt.Errorf(`"keys[%d].id" %d is listed twice`, i, k.ID)
		}
		seen[k.ID] = true
		key := fsm.Key{ID: k.ID}
		copy(key.Public[:], b)
		c.Keys = append(c.Keys, key)
	}
	c.TimeZone, c.Park = req.TimeZone, req.ID
	return req, c, nil
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
