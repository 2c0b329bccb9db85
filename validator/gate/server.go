package gate

import (
	"context"
	"net/http"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
	"github.com/valyala/fasthttp"

	"github.com/admitpark/admit/cluster/httpapi"
	"github.com/admitpark/admit/validator/gateapi"
)

// Node is what the gate API needs of a cluster node.
type Node interface {
	Applier
	View(fn func(txn *badger.Txn) error) error
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
	loc     atomic.Pointer[cachedLocation]
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
	return &Server{cfg: cfg, node: node, m: m, batcher: NewBatcher(node, cfg, m), tokens: newTokenCache()}, nil
}

// Close stops the batcher and unregisters metrics.
func (s *Server) Close() {
	s.batcher.Close()
	s.m.unregister()
}

// Register adds the gate API's routes to r.
func (s *Server) Register(r *httpapi.Router) {
	admin := func(h fasthttp.RequestHandler) fasthttp.RequestHandler {
		return httpapi.RequireToken(s.cfg.AdminToken, h)
	}
	gateToken := func(h fasthttp.RequestHandler) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) {
			if httpapi.BearerToken(ctx) == "" { // before reading the body
				ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="admit"`)
				httpapi.Error(ctx, http.StatusUnauthorized, "missing gate token: send Authorization: Bearer <token>")
				return
			}
			h(ctx)
		}
	}
	r.Handle(http.MethodPost, gateapi.PathScan, gateToken(s.handleScan))
	r.Handle(http.MethodPost, gateapi.PathScans, gateToken(s.handleScans))
	r.Handle(http.MethodPost, gateapi.PathIssue, admin(s.handleIssue))
	r.HandlePrefix(http.MethodGet, gateapi.PathTickets, admin(s.handleTicket))
	r.HandlePrefix(http.MethodPost, gateapi.PathTickets, admin(s.handleTicketChange))
	r.Handle(http.MethodGet, gateapi.PathGates, admin(s.handleGateList))
	r.Handle(http.MethodPost, gateapi.PathGates, admin(s.handleGateAdd))
	r.HandlePrefix(http.MethodDelete, gateapi.PathGates+"/", admin(s.handleGateDelete))
	r.Handle(http.MethodGet, gateapi.PathZones, admin(s.handleZoneList))
	r.Handle(http.MethodPost, gateapi.PathZones, admin(s.handleZoneSet))
	r.HandlePrefix(http.MethodDelete, gateapi.PathZones+"/", admin(s.handleZoneDelete))
	r.Handle(http.MethodGet, gateapi.PathPark, admin(s.handleParkGet))
	r.Handle(http.MethodPut, gateapi.PathPark, admin(s.handleParkSet))
	r.Handle(http.MethodPost, gateapi.PathExitAll, admin(s.handleExitAll))
	r.Handle(http.MethodGet, gateapi.PathEvents, admin(s.handleEvents))
}
