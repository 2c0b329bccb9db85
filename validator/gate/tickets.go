package gate

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/admitpark/admit/cluster/httpapi"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/fsm"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

func (s *Server) handleIssue(ctx *fasthttp.RequestCtx) {
	issues, err := decodeIssue(ctx.PostBody(), s.cfg.MaxTicketsPerRequest)
	if err != nil {
		httpapi.Error(ctx, http.StatusBadRequest, "%v", err)
		return
	}
	cmd, err := fsm.EncodeIssues(issues)
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
	out := gateapi.IssueResponse{Outcomes: make([]string, len(outcomes))}
	for i, o := range outcomes {
		out.Outcomes[i] = o.String()
		switch o {
		case fsm.OutcomeApplied:
			out.Applied++
		case fsm.OutcomeStale:
			out.Stale++
		default:
			if o.Refused() {
				out.Refused++
			}
		}
	}
	httpapi.JSON(ctx, http.StatusOK, out)
}

func (s *Server) apply(cmd []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.node.Apply(ctx, cmd)
}

func (s *Server) handleTicket(ctx *fasthttp.RequestCtx) {
	// Codes may hold '/', escaped as %2F: read the path as sent.
	arg, err := url.PathUnescape(strings.TrimPrefix(string(ctx.URI().PathOriginal()), gateapi.PathTickets))
	if err != nil {
		httpapi.Error(ctx, http.StatusBadRequest, "bad escape in path: %v", err)
		return
	}
	var view gateapi.TicketView
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

func (s *Server) fillTicket(ctx *fasthttp.RequestCtx, view *gateapi.TicketView, id [16]byte, check func(*ticket.Ticket)) {
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
	view.Ticket = gateapi.TicketJSON{
		ID: ticket.FormatID(t.ID), Version: t.Version, Product: t.Product, Kind: t.Kind.String(),
		Entries: t.Entries, Zones: t.Zones, Status: t.Status.String(), Holder: t.Holder,
		ValidFrom: fromUnixMs(t.ValidFrom, loc), ValidUntil: fromUnixMs(t.ValidUntil, loc),
		SlotStart: fromUnixMs(t.SlotStart, loc), SlotEnd: fromUnixMs(t.SlotEnd, loc),
		Digest: hex.EncodeToString(t.Digest[:]),
	}
	creds, err := fsm.Credentials(s.node, id)
	if err != nil {
		httpapi.Error(ctx, http.StatusInternalServerError, "%v", err)
		return
	}
	for _, c := range creds {
		view.Ticket.Credentials = append(view.Ticket.Credentials, gateapi.CredentialJSON{Kind: c.Kind.String(), Value: c.Value})
	}
	view.Zones = []gateapi.ZoneUseJSON{}
	for _, z := range st.Zones {
		view.Used = view.Used || z.Used > 0
		view.Zones = append(view.Zones, gateapi.ZoneUseJSON{
			Zone: z.Zone, Used: z.Used, Inside: z.Inside,
			FirstEntryAt: fromUnixMs(z.FirstAt, loc), FirstEntryGate: z.FirstGate,
			LastEntryAt: fromUnixMs(z.LastAt, loc), LastEntryGate: z.LastGate,
		})
	}
	httpapi.JSON(ctx, http.StatusOK, view)
}

func (s *Server) handleTicketChange(ctx *fasthttp.RequestCtx) {
	rest := strings.TrimPrefix(string(ctx.Path()), gateapi.PathTickets)
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
	cmd, err := decodeChange(action, id, ctx.PostBody())
	if err != nil {
		httpapi.Error(ctx, http.StatusBadRequest, "%v", err)
		return
	}
	res, err := s.apply(cmd)
	if err != nil {
		httpapi.ClusterError(ctx, err)
		return
	}
	var out gateapi.ChangeResponse
	if action == "revoke" {
		rr, err := fsm.DecodeRevokeResult(res)
		if err != nil {
			httpapi.Error(ctx, http.StatusInternalServerError, "%v", err)
			return
		}
		out = gateapi.ChangeResponse{Outcome: rr.Outcome.String(), FirstEntryGate: rr.FirstGate, Zone: rr.Zone}
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
func fromUnixMs(ms int64, loc *time.Location) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).In(loc)
}

func unixMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
