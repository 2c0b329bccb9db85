package countersm

import (
	"context"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/httpapi"
)

// Routes exposes the counter over HTTP for process-level tests and drills
// (admit node --state-machine counter):
//
//	POST /v1/counter/add   {"op": 7, "delta": 1}  -> {"total": 42}
//	POST /v1/counter/check {"ops": [1, 2, 3]}     -> {"missing": [2]}
//	GET  /v1/counter                              -> State
func Routes(r *httpapi.Router, n *cluster.Node, adminToken string) {
	auth := func(h fasthttp.RequestHandler) fasthttp.RequestHandler { return httpapi.RequireToken(adminToken, h) }
	r.Handle(http.MethodPost, "/v1/counter/add", auth(func(ctx *fasthttp.RequestCtx) {
		var req struct {
			Op    uint64 `json:"op"`
			Delta int64  `json:"delta"`
		}
		if err := httpapi.DecodeJSON(ctx, &req, false); err != nil {
			httpapi.Error(ctx, http.StatusBadRequest, "%v", err)
			return
		}
		if req.Op == 0 {
			httpapi.Error(ctx, http.StatusBadRequest, "\"op\" must be a non-zero id")
			return
		}
		c, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		res, err := n.Apply(c, Command(req.Op, req.Delta))
		if err != nil {
			httpapi.ClusterError(ctx, err)
			return
		}
		total, err := DecodeResult(res)
		if err != nil {
			httpapi.Error(ctx, http.StatusInternalServerError, "%v", err)
			return
		}
		httpapi.JSON(ctx, http.StatusOK, map[string]int64{"total": total})
	}))
	r.Handle(http.MethodPost, "/v1/counter/check", auth(func(ctx *fasthttp.RequestCtx) {
		var req struct {
			Ops []uint64 `json:"ops"`
		}
		if err := httpapi.DecodeJSON(ctx, &req, false); err != nil {
			httpapi.Error(ctx, http.StatusBadRequest, "%v", err)
			return
		}
		missing := []uint64{}
		for _, op := range req.Ops {
			ok, err := HasOp(n, op)
			if err != nil {
				httpapi.Error(ctx, http.StatusInternalServerError, "%v", err)
				return
			}
			if !ok {
				missing = append(missing, op)
			}
		}
		httpapi.JSON(ctx, http.StatusOK, map[string][]uint64{"missing": missing})
	}))
	r.Handle(http.MethodGet, "/v1/counter", auth(func(ctx *fasthttp.RequestCtx) {
		st, err := Read(n)
		if err != nil {
			httpapi.Error(ctx, http.StatusInternalServerError, "%v", err)
			return
		}
		httpapi.JSON(ctx, http.StatusOK, st)
	}))
}
