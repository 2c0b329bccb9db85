package httpapi

import (
	"fmt"
	"net"
	"net/http"

	"github.com/valyala/fasthttp"

	"github.com/admitpark/admit/cluster"
)

// PathFaults is the fault injection endpoint, served only by nodes started
// with fault injection on (admit node --fault-injection).
const PathFaults = "/v1/debug/faults"

// Limits of a faults request.
const (
	maxFaultsBody  = 64 << 10
	maxFaultsPeers = 64
)

// FaultsRequest is the body of POST /v1/debug/faults: the whole set of
// peers this node stops talking to, by node id or Raft address. An empty
// list heals every link.
type FaultsRequest struct {
	Block []string `json:"block"`
}

// FaultsReply is the answer of GET and POST /v1/debug/faults.
type FaultsReply struct {
	Node    string   `json:"node"`
	Blocked []string `json:"blocked"` // raft addresses
	Closed  int      `json:"closed"`  // connections closed by this call
}

// FaultsAPI serves the runtime fault switch of a node for failover drills.
// It cuts only connections this node dials; to cut a link between two
// nodes, tell both (see cluster.Faults).
type FaultsAPI struct {
	Node       *cluster.Node
	Faults     *cluster.Faults
	AdminToken string
}

// Register adds GET and POST /v1/debug/faults to r, both behind the admin
// token. Call it only when fault injection is on.
func (a *FaultsAPI) Register(r *Router) {
	r.Handle(http.MethodGet, PathFaults, RequireToken(a.AdminToken, a.get))
	r.Handle(http.MethodPost, PathFaults, RequireToken(a.AdminToken, a.set))
}

func (a *FaultsAPI) get(ctx *fasthttp.RequestCtx) {
	JSON(ctx, http.StatusOK, FaultsReply{Node: a.Node.ID(), Blocked: a.Faults.Blocked()})
}

func (a *FaultsAPI) set(ctx *fasthttp.RequestCtx) {
	if len(ctx.PostBody()) > maxFaultsBody {
		Error(ctx, http.StatusRequestEntityTooLarge, "request body too large: limit is %d bytes", maxFaultsBody)
		return
	}
	var req FaultsRequest
	if err := DecodeJSON(ctx, &req, false); err != nil {
		Error(ctx, http.StatusBadRequest, "%v", err)
		return
	}
	if len(req.Block) > maxFaultsPeers {
		Error(ctx, http.StatusBadRequest, "block lists %d peers; at most %d", len(req.Block), maxFaultsPeers)
		return
	}
	addrs, err := a.resolve(req.Block)
	if err != nil {
		Error(ctx, http.StatusBadRequest, "%v", err)
		return
	}
	closed := a.Faults.SetBlocked(addrs)
	JSON(ctx, http.StatusOK, FaultsReply{Node: a.Node.ID(), Blocked: a.Faults.Blocked(), Closed: closed})
}

// resolve turns node ids and Raft addresses into Raft addresses. A member
// id maps to its address in the configuration; anything else must be
// host:port (a peer not in the configuration may be blocked too, say one
// about to join).
func (a *FaultsAPI) resolve(peers []string) ([]string, error) {
	byID := map[string]string{}
	if members, err := a.Node.Members(); err == nil {
		for _, m := range members {
			byID[string(m.ID)] = string(m.Address)
		}
	}
	self := a.Node.RaftAddr()
	out := make([]string, 0, len(peers))
	for _, p := range peers {
		addr, ok := byID[p]
		if !ok {
			if _, port, err := net.SplitHostPort(p); err != nil || port == "" {
				return nil, fmt.Errorf("block %q: not a member id nor a host:port raft address", p)
			}
			addr = p
		}
		if p == a.Node.ID() || addr == self {
			return nil, fmt.Errorf("block %q: that is this node itself", p)
		}
		out = append(out, addr)
	}
	return out, nil
}
