package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/admitpark/admit/cluster"
)

// Admin routes for cluster operations, health and metrics. Every admin
// route takes the operator token (AdminToken) only: never the sales
// service's scoped token (validator/gate Config.SalesToken), so a leaked
// sales token cannot add or remove a member, move leadership or profile.
type Admin struct {
	Node       *cluster.Node
	AdminToken string
	Gatherer   prometheus.Gatherer
	// Ops, when set, is the router of a separate operations address
	// (`admit node --ops-addr`): /metrics and /debug/pprof/ are served
	// there and not on the router passed to Register; /healthz is served on
	// both. Nil: everything on the one router.
	Ops *Router
	// Timeout bounds one admin call; default 10s.
	Timeout time.Duration
}

// Paths of the admin API.
const (
	PathHealth     = "/healthz"
	PathReady      = "/readyz"
	PathMetrics    = "/metrics"
	PathStatus     = "/v1/cluster/status"
	PathJoin       = "/v1/cluster/join"
	PathRemove     = "/v1/cluster/remove"
	PathTransfer   = "/v1/cluster/transfer-leadership"
	PathSnapshot   = "/v1/cluster/snapshot"
	PathLocalState = "/v1/cluster/self"
)

// Register adds the admin routes to r (metrics and pprof to Ops when set).
// Health, readiness and metrics are open (probes and Prometheus scrape
// them); the rest need the admin (operator) token.
func (a *Admin) Register(r *Router) {
	health := func(ctx *fasthttp.RequestCtx) {
		JSON(ctx, http.StatusOK, map[string]string{"status": "ok", "node": a.Node.ID()})
	}
	r.Handle(http.MethodGet, PathHealth, health)
	r.Handle(http.MethodGet, PathReady, a.ready)
	ops := r
	if a.Ops != nil && a.Ops != r {
		ops = a.Ops
		ops.Handle(http.MethodGet, PathHealth, health)
	}
	if a.Gatherer != nil {
		ops.Handle(http.MethodGet, PathMetrics, fasthttpadaptor.NewFastHTTPHandler(
			promhttp.HandlerFor(a.Gatherer, promhttp.HandlerOpts{})))
	}
	auth := func(h fasthttp.RequestHandler) fasthttp.RequestHandler { return RequireToken(a.AdminToken, h) }
	r.Handle(http.MethodGet, PathStatus, auth(a.status))
	r.Handle(http.MethodGet, PathLocalState, auth(func(ctx *fasthttp.RequestCtx) {
		JSON(ctx, http.StatusOK, a.Node.LocalStatus())
	}))
	r.Handle(http.MethodPost, PathJoin, auth(a.join))
	r.Handle(http.MethodPost, PathRemove, auth(a.remove))
	r.Handle(http.MethodPost, PathTransfer, auth(a.transfer))
	r.Handle(http.MethodPost, PathSnapshot, auth(a.snapshot))
	a.registerPprof(ops)
}

func (a *Admin) ctx() (context.Context, context.CancelFunc) {
	t := a.Timeout
	if t <= 0 {
		t = 10 * time.Second
	}
	return context.WithTimeout(context.Background(), t)
}

func (a *Admin) ready(ctx *fasthttp.RequestCtx) {
	if err := a.Node.Ready(); err != nil {
		Error(ctx, http.StatusServiceUnavailable, "not ready: %v", err)
		return
	}
	leader, _ := a.Node.Leader()
	JSON(ctx, http.StatusOK, map[string]string{"status": "ready", "node": a.Node.ID(), "leader": leader})
}

func (a *Admin) status(ctx *fasthttp.RequestCtx) {
	c, cancel := a.ctx()
	defer cancel()
	st, err := a.Node.Status(c)
	if err != nil {
		ClusterError(ctx, err)
		return
	}
	JSON(ctx, http.StatusOK, st)
}

// JoinRequest is the body of POST /v1/cluster/join.
type JoinRequest struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	Nonvoter bool   `json:"nonvoter,omitempty"`
}

// NodeRequest names a node (remove, transfer-leadership, snapshot).
type NodeRequest struct {
	ID string `json:"id,omitempty"`
}

func (a *Admin) join(ctx *fasthttp.RequestCtx) {
	var req JoinRequest
	if err := DecodeJSON(ctx, &req, false); err != nil {
		Error(ctx, http.StatusBadRequest, "%v", err)
		return
	}
	if req.ID == "" || req.RaftAddr == "" {
		Error(ctx, http.StatusBadRequest, "join needs \"id\" and \"raft_addr\"")
		return
	}
	if f := notText(map[string]string{"id": req.ID, "raft_addr": req.RaftAddr}); f != "" {
		Error(ctx, http.StatusBadRequest, "%q must be printable UTF-8 text (no control characters, no invalid bytes)", f)
		return
	}
	c, cancel := a.ctx()
	defer cancel()
	if err := a.Node.Join(c, req.ID, req.RaftAddr, req.Nonvoter); err != nil {
		ClusterError(ctx, err)
		return
	}
	JSON(ctx, http.StatusOK, map[string]string{"joined": req.ID})
}

func (a *Admin) remove(ctx *fasthttp.RequestCtx) {
	var req NodeRequest
	if err := DecodeJSON(ctx, &req, false); err != nil {
		Error(ctx, http.StatusBadRequest, "%v", err)
		return
	}
	if req.ID == "" {
		Error(ctx, http.StatusBadRequest, "remove needs \"id\"")
		return
	}
	if f := notText(map[string]string{"id": req.ID}); f != "" {
		Error(ctx, http.StatusBadRequest, "%q must be printable UTF-8 text (no control characters, no invalid bytes)", f)
		return
	}
	c, cancel := a.ctx()
	defer cancel()
	if err := a.Node.Remove(c, req.ID); err != nil {
		ClusterError(ctx, err)
		return
	}
	JSON(ctx, http.StatusOK, map[string]string{"removed": req.ID})
}

func (a *Admin) transfer(ctx *fasthttp.RequestCtx) {
	var req NodeRequest
	if err := DecodeJSON(ctx, &req, true); err != nil {
		Error(ctx, http.StatusBadRequest, "%v", err)
		return
	}
	c, cancel := a.ctx()
	defer cancel()
	start := time.Now()
	if err := a.Node.TransferLeadership(c, req.ID); err != nil {
		ClusterError(ctx, err)
		return
	}
	leader, _ := a.Node.Leader()
	JSON(ctx, http.StatusOK, map[string]any{"leader": leader, "took_ms": float64(time.Since(start).Microseconds()) / 1000})
}

func (a *Admin) snapshot(ctx *fasthttp.RequestCtx) {
	var req NodeRequest
	if err := DecodeJSON(ctx, &req, true); err != nil {
		Error(ctx, http.StatusBadRequest, "%v", err)
		return
	}
	c, cancel := a.ctx()
	defer cancel()
	var ids []string
	if req.ID != "" {
		ids = []string{req.ID}
	} else {
		members, err := a.Node.Members()
		if err != nil {
			ClusterError(ctx, err)
			return
		}
		for _, m := range members {
			ids = append(ids, string(m.ID))
		}
	}
	out := struct {
		Snapshots []cluster.SnapshotInfo `json:"snapshots"`
		Errors    map[string]string      `json:"errors,omitempty"`
	}{}
	for _, id := range ids {
		info, err := a.Node.Snapshot(c, id)
		if err != nil {
			if req.ID != "" {
				ClusterError(ctx, err)
				return
			}
			if out.Errors == nil {
				out.Errors = map[string]string{}
			}
			out.Errors[id] = err.Error()
			continue
		}
		out.Snapshots = append(out.Snapshots, info)
	}
	status := http.StatusOK
	if len(out.Errors) > 0 {
		status = http.StatusBadGateway
	}
	JSON(ctx, status, out)
}

// notText returns the name of a field that is not clean text (a control
// character, invalid UTF-8, or U+FFFD where encoding/json replaced
// invalid bytes), or "". The same rule as validator/ticket.CleanText,
// which this package cannot import.
func notText(fields map[string]string) string {
	for name, v := range fields {
		for _, r := range v {
			if r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == utf8.RuneError {
				return name
			}
		}
	}
	return ""
}

// ClusterError answers with the status that fits a cluster error.
func ClusterError(ctx *fasthttp.RequestCtx, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, cluster.ErrBadRequest), errors.Is(err, cluster.ErrRejected):
		status = http.StatusBadRequest
	case errors.Is(err, cluster.ErrUnknownNode):
		status = http.StatusNotFound
	case errors.Is(err, cluster.ErrTooLarge):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, cluster.ErrNoLeader), errors.Is(err, cluster.ErrNotLeader), errors.Is(err, cluster.ErrShutdown):
		status = http.StatusServiceUnavailable
	case errors.Is(err, cluster.ErrOutcomeUnknown):
		status = http.StatusGatewayTimeout
	}
	Error(ctx, status, "%v", err)
}
