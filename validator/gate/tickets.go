package gate

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/admitpark/admit/cluster/httpapi"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/fsm"
	"github.com/admitpark/admit/validator/ticket"
)

// TicketJSON is a ticket in the API. Times are RFC 3339; a ticket is sent
// with its current code (the node keeps only the code's digest) or digest.
type TicketJSON struct {
	ID         string    `json:"id"`
	Version    uint64    `json:"version"`
	Product    string    `json:"product"`
	Kind       string    `json:"kind"`
	Entries    uint16    `json:"entries,omitempty"`
	Zones      []string  `json:"zones,omitempty"`
	ValidFrom  time.Time `json:"valid_from,omitzero"`
	ValidUntil time.Time `json:"valid_until,omitzero"`
	SlotStart  time.Time `json:"slot_start,omitzero"`
	SlotEnd    time.Time `json:"slot_end,omitzero"`
	Status     string    `json:"status,omitempty"`
	Code       string    `json:"code,omitempty"`
	Digest     string    `json:"digest,omitempty"`
	Holder     string    `json:"holder,omitempty"`
}

func unixMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromUnixMs(ms int64, loc *time.Location) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).In(loc)
}

// Ticket converts and validates.
func (j *TicketJSON) Ticket() (ticket.Ticket, error) {
	var t ticket.Ticket
	var err error
	if t.ID, err = ticket.ParseID(j.ID); err != nil {
		return t, fmt.Errorf(`"id": %v`, err)
	}
	if j.Version == 0 {
		return t, errors.New(`"version" must be at least 1`)
	}
	if t.Kind, err = ticket.ParseKind(j.Kind); err != nil {
		return t, fmt.Errorf(`"kind": %v`, err)
	}
	t.Status = ticket.Active
	if j.Status != "" {
		if t.Status, err = ticket.ParseStatus(j.Status); err != nil {
			return t, fmt.Errorf(`"status": %v`, err)
		}
	}
	switch {
	case j.Code != "" && j.Digest != "":
		return t, errors.New(`send "code" or "digest", not both`)
	case j.Code != "":
		c, err := code.Parse(j.Code)
		if err != nil {
			return t, fmt.Errorf(`"code": %v`, err)
		}
		if c.TicketID() != t.ID || uint64(c.TicketVersion()) != j.Version {
			return t, errors.New(`"code" was made for another ticket id or version`)
		}
		t.Digest = c.Digest()
	case j.Digest != "":
		b, err := hex.DecodeString(j.Digest)
		if err != nil || len(b) != len(t.Digest) {
			return t, errors.New(`"digest" must be 32 hex digits`)
		}
		copy(t.Digest[:], b)
	default:
		return t, errors.New(`"code" or "digest" is required`)
	}
	t.Version, t.Product, t.Entries, t.Zones, t.Holder = j.Version, j.Product, j.Entries, j.Zones, j.Holder
	t.ValidFrom, t.ValidUntil = unixMs(j.ValidFrom), unixMs(j.ValidUntil)
	t.SlotStart, t.SlotEnd = unixMs(j.SlotStart), unixMs(j.SlotEnd)
	if !ticket.ValidName(t.Product) {
		return t, fmt.Errorf(`"product" must be 1-%d bytes`, ticket.MaxNameLen)
	}
	if err := t.Validate(); err != nil {
		return t, err
	}
	return t, nil
}

// IssueRequest is the body of POST /v1/tickets/issue.
type IssueRequest struct {
	Tickets []TicketJSON `json:"tickets"`
}

// IssueResponse says, per ticket in request order, "applied" or "stale"
// (the cluster already has this version or a newer one).
type IssueResponse struct {
	Outcomes []string `json:"outcomes"`
	Applied  int      `json:"applied"`
	Stale    int      `json:"stale"`
}

func (s *Server) handleIssue(ctx *fasthttp.RequestCtx) {
	var req IssueRequest
	if err := httpapi.DecodeJSON(ctx, &req, false); err != nil {
		httpapi.Error(ctx, http.StatusBadRequest, "%v", err)
		return
	}
	if len(req.Tickets) == 0 || len(req.Tickets) > s.cfg.MaxTicketsPerRequest {
		httpapi.Error(ctx, http.StatusBadRequest, `"tickets" must hold 1-%d tickets`, s.cfg.MaxTicketsPerRequest)
		return
	}
	tickets := make([]ticket.Ticket, len(req.Tickets))
	for i := range req.Tickets {
		t, err := req.Tickets[i].Ticket()
		if err != nil {
			httpapi.Error(ctx, http.StatusBadRequest, "tickets[%d]: %v", i, err)
			return
		}
		tickets[i] = t
	}
	cmd, err := fsm.EncodeIssueBatch(tickets)
	if err != nil {
		httpapi.Error(ctx, http.StatusBadRequest, "%v", err)
		return
	}
	res, err := s.apply(cmd)
	if err != nil {
		httpapi.ClusterError(ctx, err)
		return
	}
	outcomes, err := fsm.DecodeIssueResult(res)
	if err != nil {
		httpapi.Error(ctx, http.StatusInternalServerError, "%v", err)
		return
	}
	out := IssueResponse{Outcomes: make([]string, len(outcomes))}
	for i, o := range outcomes {
		out.Outcomes[i] = o.String()
		switch o {
		case fsm.OutcomeApplied:
			out.Applied++
		case fsm.OutcomeStale:
			out.Stale++
		}
	}
	httpapi.JSON(ctx, http.StatusOK, out)
}

func (s *Server) apply(cmd []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.node.Apply(ctx, cmd)
}

// ZoneUseJSON is a ticket's use of one zone.
type ZoneUseJSON struct {
	Zone           string    `json:"zone"`
	Used           uint16    `json:"used"`
	Inside         uint16    `json:"inside"`
	FirstEntryAt   time.Time `json:"first_entry_at,omitzero"`
	FirstEntryGate string    `json:"first_entry_gate,omitempty"`
	LastEntryAt    time.Time `json:"last_entry_at,omitzero"`
	LastEntryGate  string    `json:"last_entry_gate,omitempty"`
}

// TicketView answers GET /v1/tickets/{id or code}.
type TicketView struct {
	Ticket       TicketJSON    `json:"ticket"`
	Zones        []ZoneUseJSON `json:"zones"`
	Used         bool          `json:"used"`
	CodeCurrent  *bool         `json:"code_current,omitempty"` // asked by code: is it the ticket's current one?
	AppliedIndex uint64        `json:"applied_index"`          // the node's state is as of this log index
}

func (s *Server) handleTicket(ctx *fasthttp.RequestCtx) {
	// Codes may hold '/', escaped as %2F: read the path as sent.
	arg, err := url.PathUnescape(strings.TrimPrefix(string(ctx.URI().PathOriginal()), PathTickets))
	if err != nil {
		httpapi.Error(ctx, http.StatusBadRequest, "bad escape in path: %v", err)
		return
	}
	var view TicketView
	id, err := ticket.ParseID(arg)
	if err != nil { // not an id: maybe a code
		c, cerr := code.Parse(arg)
		if cerr != nil {
			httpapi.Error(ctx, http.StatusBadRequest, "%q is neither a ticket id (32 hex digits) nor a ticket code", arg)
			return
		}
		view.CodeCurrent = new(bool)
		s.fillTicket(ctx, &view, c.TicketID(), func(t *ticket.Ticket) { *view.CodeCurrent = t.Digest == c.Digest() })
		return
	}
	s.fillTicket(ctx, &view, id, nil)
}

func (s *Server) fillTicket(ctx *fasthttp.RequestCtx, view *TicketView, id [16]byte, check func(*ticket.Ticket)) {
	t, st, found, err := fsm.Ticket(s.node, id)
	if err == nil && !found { // maybe issued a moment ago: catch up and look again
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		if s.node.CatchUp(ctx) == nil {
			t, st, found, err = fsm.Ticket(s.node, id)
		}
		cancel()
	}
	view.AppliedIndex = s.node.AppliedIndex()
	if err != nil {
		httpapi.Error(ctx, http.StatusInternalServerError, "%v", err)
		return
	}
	if !found {
		httpapi.Error(ctx, http.StatusNotFound, "ticket %s is not in the cluster", ticket.FormatID(id))
		return
	}
	if check != nil {
		check(&t)
	}
	loc, err := fsm.Location(s.node)
	if err != nil || loc == nil {
		loc = time.UTC
	}
	view.Ticket = TicketJSON{
		ID: ticket.FormatID(t.ID), Version: t.Version, Product: t.Product, Kind: t.Kind.String(),
		Entries: t.Entries, Zones: t.Zones, Status: t.Status.String(), Holder: t.Holder,
		ValidFrom: fromUnixMs(t.ValidFrom, loc), ValidUntil: fromUnixMs(t.ValidUntil, loc),
		SlotStart: fromUnixMs(t.SlotStart, loc), SlotEnd: fromUnixMs(t.SlotEnd, loc),
		Digest: hex.EncodeToString(t.Digest[:]),
	}
	view.Zones = []ZoneUseJSON{}
	for _, z := range st.Zones {
		view.Used = view.Used || z.Used > 0
		view.Zones = append(view.Zones, ZoneUseJSON{
			Zone: z.Zone, Used: z.Used, Inside: z.Inside,
			FirstEntryAt: fromUnixMs(z.FirstAt, loc), FirstEntryGate: z.FirstGate,
			LastEntryAt: fromUnixMs(z.LastAt, loc), LastEntryGate: z.LastGate,
		})
	}
	httpapi.JSON(ctx, http.StatusOK, view)
}

// ChangeRequest is the body of POST /v1/tickets/{id}/revoke and /update.
type ChangeRequest struct {
	Version    uint64    `json:"version"`              // the ticket's version after the change; must be newer
	Op         string    `json:"op,omitempty"`         // update: suspend, resume, extend
	ValidUntil time.Time `json:"valid_until,omitzero"` // extend
}

// ChangeResponse answers a revoke or update.
type ChangeResponse struct {
	Outcome        string    `json:"outcome"` // applied, stale, unknown, revoked, already_used, conflict
	FirstEntryAt   time.Time `json:"first_entry_at,omitzero"`
	FirstEntryGate string    `json:"first_entry_gate,omitempty"`
	Zone           string    `json:"zone,omitempty"`
}

func (s *Server) handleTicketChange(ctx *fasthttp.RequestCtx) {
	rest := strings.TrimPrefix(string(ctx.Path()), PathTickets)
	idStr, action, ok := strings.Cut(rest, "/")
	if !ok || (action != "revoke" && action != "update") {
		httpapi.Error(ctx, http.StatusNotFound, "no such endpoint: POST %s (use /v1/tickets/{id}/revoke or /update)", ctx.Path())
		return
	}
	id, err := ticket.ParseID(idStr)
	if err != nil {
		httpapi.Error(ctx, http.StatusBadRequest, "ticket id: %v", err)
		return
	}
	var req ChangeRequest
	if err := httpapi.DecodeJSON(ctx, &req, false); err != nil {
		httpapi.Error(ctx, http.StatusBadRequest, "%v", err)
		return
	}
	if req.Version == 0 {
		httpapi.Error(ctx, http.StatusBadRequest, `"version" is required: the ticket's version after the change`)
		return
	}
	var cmd []byte
	if action == "revoke" {
		if req.Op != "" || !req.ValidUntil.IsZero() {
			httpapi.Error(ctx, http.StatusBadRequest, `revoke takes only "version"`)
			return
		}
		cmd = fsm.EncodeRevoke(fsm.Revoke{ID: id, Version: req.Version})
	} else {
		op, err := fsm.ParseUpdateOp(req.Op)
		if err != nil {
			httpapi.Error(ctx, http.StatusBadRequest, `"op" must be suspend, resume or extend`)
			return
		}
		if (op == fsm.OpExtend) != !req.ValidUntil.IsZero() {
			httpapi.Error(ctx, http.StatusBadRequest, `"valid_until" goes with op "extend", and only with it`)
			return
		}
		if cmd, err = fsm.EncodeUpdate(fsm.Update{ID: id, Version: req.Version, Op: op, ValidUntil: unixMs(req.ValidUntil)}); err != nil {
			httpapi.Error(ctx, http.StatusBadRequest, "%v", err)
			return
		}
	}
	res, err := s.apply(cmd)
	if err != nil {
		httpapi.ClusterError(ctx, err)
		return
	}
	var out ChangeResponse
	if action == "revoke" {
		rr, err := fsm.DecodeRevokeResult(res)
		if err != nil {
			httpapi.Error(ctx, http.StatusInternalServerError, "%v", err)
			return
		}
		out = ChangeResponse{Outcome: rr.Outcome.String(), FirstEntryGate: rr.FirstGate, Zone: rr.Zone}
		if rr.FirstAt != 0 {
			loc, _ := fsm.Location(s.node)
			if loc == nil {
				loc = time.UTC
			}
			out.FirstEntryAt = fromUnixMs(rr.FirstAt, loc)
		}
	} else {
		o, err := fsm.DecodeUpdateResult(res)
		if err != nil {
			httpapi.Error(ctx, http.StatusInternalServerError, "%v", err)
			return
		}
		out.Outcome = o.String()
	}
	httpapi.JSON(ctx, http.StatusOK, out)
}
