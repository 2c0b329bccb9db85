package gate

import (
	"crypto/subtle"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/admitpark/admit/cluster/httpapi"
	"github.com/admitpark/admit/validator/fsm"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// What an offline-capable gate agent (validator/agent) reads with its
// gate's token: GET /v1/keys (keys, time zone, its own registration with
// its zone's mask bit), GET /v1/events (the changefeed its deny list
// follows) and GET /v1/revocations (the tickets revoked). Each takes
// ?gate=ID with a gate token; the operator and sales tokens need none.

// salesOrGate accepts the operator or sales token, or the token of the
// gate named by ?gate=.
func (s *Server) salesOrGate(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		token := httpapi.BearerToken(ctx)
		for _, t := range []string{s.cfg.AdminToken, s.cfg.SalesToken} {
			if token != "" && t != "" && subtle.ConstantTimeCompare([]byte(token), []byte(t)) == 1 {
				h(ctx)
				return
			}
		}
		gate := string(ctx.QueryArgs().Peek("gate"))
		if token != "" && gate == "" {
			httpapi.Error(ctx, http.StatusForbidden, "token not accepted: a gate token needs ?gate=<its gate id>")
			return
		}
		if s.authorizeGate(ctx, gate) { // answers 401/403 itself
			h(ctx)
		}
	}
}

func (s *Server) handleKeys(ctx *fasthttp.RequestCtx) {
	p, ok := s.parkView(ctx)
	if !ok {
		return
	}
	out := gateapi.KeysResponse{Park: p.ID, TimeZone: p.TimeZone, Keys: p.Keys}
	if out.Keys == nil {
		out.Keys = []gateapi.KeyJSON{}
	}
	if gate := string(ctx.QueryArgs().Peek("gate")); gate != "" {
		g, found, err := fsm.LookupGate(s.node, gate)
		if err != nil {
			httpapi.Error(ctx, http.StatusInternalServerError, "%v", err)
			return
		}
		if !found {
			httpapi.Error(ctx, http.StatusNotFound, "no gate %q", gate)
			return
		}
		out.Gate = &gateapi.GateJSON{ID: g.ID, Zone: g.Zone, Direction: g.Direction.String()}
		z, _, err := fsm.LookupZone(s.node, g.Zone)
		if err != nil {
			httpapi.Error(ctx, http.StatusInternalServerError, "%v", err)
			return
		}
		out.Gate.ZoneBit = zoneBit(z)
	}
	httpapi.JSON(ctx, http.StatusOK, out)
}

func (s *Server) handleRevocations(ctx *fasthttp.RequestCtx) {
	after, limit, ok := pageArgs(ctx, 1000, 10000)
	if !ok {
		return
	}
	revs, next, err := fsm.Revocations(s.node, after, limit)
	if err != nil {
		httpapi.Error(ctx, http.StatusInternalServerError, "%v", err)
		return
	}
	out := gateapi.RevocationsResponse{Revocations: make([]gateapi.RevocationJSON, len(revs)), Next: formatCursor(next)}
	for i, r := range revs {
		out.Revocations[i] = gateapi.RevocationJSON{Cursor: formatCursor(r.Cursor), TicketID: ticket.FormatID(r.TicketID),
			Version: r.Version, At: time.UnixMilli(r.At).UTC()}
		if r.ValidUntil != 0 {
			out.Revocations[i].ValidUntil = time.UnixMilli(r.ValidUntil).UTC()
		}
	}
	httpapi.JSON(ctx, http.StatusOK, out)
}
