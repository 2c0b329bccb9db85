package gate

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/valyala/fasthttp"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/httpapi"
	"github.com/admitpark/admit/validator/gateapi"
)

// Node is what the gate API needs of a cluster node.
type Node interface {
	Applier
	View(fn func(r cluster.Reader) error) error
	AppliedIndex() uint64
	// CatchUp waits until the node has applied what the leader committed.
	CatchUp(ctx context.Context) error
}

// Server holds the gate API's handlers and its batcher.
type Server struct {
	cfg     Config
	node    Node
	batcher *Batcher
	m       *metrics
	tokens  *tokenCache
	purger  *purger
	loc     atomic.Pointer[cachedLocation]
	idKey   atomic.Pointer[cachedKey]
	log     *slog.Logger
	skewLog skewLog
}

// New validates cfg and starts the batcher; Close stops it.
func New(cfg Config, node Node) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer, node)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, node: node, m: m, batcher: NewBatcher(node, cfg, m), tokens: newTokenCache(),
		purger: newPurger(node, cfg, log), log: log}, nil
}

// Close stops the purger and the batcher and unregisters metrics.
func (s *Server) Close() {
	s.purger.close()
	s.batcher.Close()
	s.m.unregister()
}

// Register adds the gate API's routes to r. Who may call what:
//
//	scan, scans                    the gate's own token, or the operator token
//	issue, revoke, update,         the sales token or the operator token
//	ticket views, conflicts,
//	GET gates, zones, park
//	events, keys                   the sales or operator token, or a gate's
//	                               own token with ?gate= (gate agents)
//	add/remove gates and zones,    the operator token only
//	PUT park, exit-all
func (s *Server) Register(r *httpapi.Router) {
	operator := func(h fasthttp.RequestHandler) fasthttp.RequestHandler {
		return httpapi.RequireToken(s.cfg.AdminToken, h)
	}
	sales := func(h fasthttp.RequestHandler) fasthttp.RequestHandler {
		return httpapi.RequireAnyToken(h, s.cfg.AdminToken, s.cfg.SalesToken)
	}
	gateToken := func(h fasthttp.RequestHandler) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) {
			if httpapi.BearerToken(ctx) == "" { // before reading the body
				s.m.authFailures.WithLabelValues("missing_token").Inc()
				ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="admit"`)
				httpapi.Error(ctx, http.StatusUnauthorized, "missing gate token: send Authorization: Bearer <token>")
				return
			}
			h(ctx)
		}
	}
	r.Handle(http.MethodPost, gateapi.PathScan, gateToken(s.handleScan))
	r.Handle(http.MethodPost, gateapi.PathScans, gateToken(s.handleScans))
	r.Handle(http.MethodPost, gateapi.PathIssue, sales(s.handleIssue))
	r.HandlePrefix(http.MethodGet, gateapi.PathTickets, sales(s.handleTicket))
	r.HandlePrefix(http.MethodPost, gateapi.PathTickets, sales(s.handleTicketChange))
	r.Handle(http.MethodGet, gateapi.PathGates, sales(s.handleGateList))
	r.Handle(http.MethodPost, gateapi.PathGates, operator(s.handleGateAdd))
	r.HandlePrefix(http.MethodDelete, gateapi.PathGates+"/", operator(s.handleGateDelete))
	r.Handle(http.MethodGet, gateapi.PathZones, sales(s.handleZoneList))
	r.Handle(http.MethodPost, gateapi.PathZones, operator(s.handleZoneSet))
	r.HandlePrefix(http.MethodDelete, gateapi.PathZones+"/", operator(s.handleZoneDelete))
	r.Handle(http.MethodGet, gateapi.PathPark, sales(s.handleParkGet))
	r.Handle(http.MethodPut, gateapi.PathPark, operator(s.handleParkSet))
	r.Handle(http.MethodPost, gateapi.PathExitAll, operator(s.handleExitAll))
	r.Handle(http.MethodGet, gateapi.PathConflicts, sales(s.handleConflicts))
	r.Handle(http.MethodGet, gateapi.PathEvents, s.salesOrGate(s.handleEvents))
	r.Handle(http.MethodGet, gateapi.PathKeys, s.salesOrGate(s.handleKeys))
	r.Handle(http.MethodGet, gateapi.PathRevocations, s.salesOrGate(s.handleRevocations))
}
