package httpapi

import (
	"net/http"

	"github.com/valyala/fasthttp/pprofhandler"
)

// PathPprof is where Go's profiler answers (/debug/pprof/profile,
// /debug/pprof/heap, /debug/pprof/goroutine, ...), behind the admin token:
// fetch with curl -H "Authorization: Bearer $TOKEN" and open the file with
// go tool pprof.
const PathPprof = "/debug/pprof/"

func (a *Admin) registerPprof(r *Router) {
	h := RequireToken(a.AdminToken, pprofhandler.PprofHandler)
	r.HandlePrefix(http.MethodGet, PathPprof, h)
}
