package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/admitpark/admit/cluster"
)

// Admin routes for cluster operations, health and metrics.
type Admin struct {
	Node       *cluster.Node
	AdminToken string
	Gatherer   prometheus.Gatherer
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

// Register adds the admin routes to r. Health, readiness and metrics are
// open (probes and Prometheus scrape them); the rest need the admin token.
func (a *Admin) Register(r *Router) {
	r.Handle(http.MethodGet, PathHealth, func(ctx *fasthttp.RequestCtx) {
		JSON(ctx, http.StatusOK, map[string]string{"status": "ok", "node": a.Node.ID()})
	})
	r.Handle(http.MethodGet, PathReady, a.ready)
	if a.Gatherer != nil {
		r.Handle(http.MethodGet, PathMetrics, fasthttpadaptor.NewFastHTTPHandler(
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
	a.registerPprof(r)
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
