// Package httpapi is the HTTP surface every node serves over fasthttp: a
// small router, JSON replies and errors, the cluster admin API, health and
// metrics. The gate API registers its routes on the same router.
package httpapi

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/valyala/fasthttp"
)

// Router dispatches by exact path and method, or by path prefix. Unknown
// paths get 404 and wrong methods 405, both as JSON.
type Router struct {
	exact    map[string]map[string]fasthttp.RequestHandler
	prefixes []prefixRoute
}

type prefixRoute struct {
	prefix string
	method string
	h      fasthttp.RequestHandler
}

// NewRouter returns an empty router.
func NewRouter() *Router {
	return &Router{exact: map[string]map[string]fasthttp.RequestHandler{}}
}

// Handle routes method and exact path to h.
func (r *Router) Handle(method, path string, h fasthttp.RequestHandler) {
	if r.exact[path] == nil {
		r.exact[path] = map[string]fasthttp.RequestHandler{}
	}
	r.exact[path][method] = h
}

// HandlePrefix routes method and any path under prefix to h; the longest
// matching prefix wins.
func (r *Router) HandlePrefix(method, prefix string, h fasthttp.RequestHandler) {
	r.prefixes = append(r.prefixes, prefixRoute{prefix: prefix, method: method, h: h})
	sort.SliceStable(r.prefixes, func(i, j int) bool { return len(r.prefixes[i].prefix) > len(r.prefixes[j].prefix) })
}

// Serve is the fasthttp handler.
func (r *Router) Serve(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	method := string(ctx.Method())
	if methods, ok := r.exact[path]; ok {
		if h, ok := methods[method]; ok {
			h(ctx)
			return
		}
		methodNotAllowed(ctx, methods)
		return
	}
	var allowed []string
	for _, p := range r.prefixes {
		if strings.HasPrefix(path, p.prefix) && len(path) > len(p.prefix) {
			if p.method == method {
				p.h(ctx)
				return
			}
			allowed = append(allowed, p.method)
		}
	}
	if len(allowed) > 0 {
		ctx.Response.Header.Set("Allow", strings.Join(allowed, ", "))
		Error(ctx, http.StatusMethodNotAllowed, "method %s not allowed on %s", method, path)
		return
	}
	Error(ctx, http.StatusNotFound, "no such endpoint: %s %s", method, path)
}

func methodNotAllowed(ctx *fasthttp.RequestCtx, methods map[string]fasthttp.RequestHandler) {
	var allowed []string
	for m := range methods {
		allowed = append(allowed, m)
	}
	sort.Strings(allowed)
	ctx.Response.Header.Set("Allow", strings.Join(allowed, ", "))
	Error(ctx, http.StatusMethodNotAllowed, "method %s not allowed on %s", ctx.Method(), ctx.Path())
}

// JSON writes v as the JSON reply with status.
func JSON(ctx *fasthttp.RequestCtx, status int, v any) {
	ctx.SetContentType("application/json")
	ctx.SetStatusCode(status)
	enc := json.NewEncoder(ctx)
	if err := enc.Encode(v); err != nil {
		ctx.ResetBody()
		ctx.SetStatusCode(http.StatusInternalServerError)
		fmt.Fprintf(ctx, `{"error":%q}`+"\n", "encode reply: "+err.Error())
	}
}

// ErrorBody is every error reply.
type ErrorBody struct {
	Error string `json:"error"`
}

// Error writes {"error": "..."} with status.
func Error(ctx *fasthttp.RequestCtx, status int, format string, args ...any) {
	JSON(ctx, status, ErrorBody{Error: fmt.Sprintf(format, args...)})
}

// DecodeJSON decodes the request body into v strictly: one JSON value, no
// unknown fields. An empty body decodes as {} when allowEmpty.
func DecodeJSON(ctx *fasthttp.RequestCtx, v any, allowEmpty bool) error {
	return DecodeJSONBytes(ctx.PostBody(), v, allowEmpty)
}

// DecodeJSONBytes is DecodeJSON over a body already read (decoders that are
// fuzzed without a request use it).
func DecodeJSONBytes(body []byte, v any, allowEmpty bool) error {
	if len(bytes.TrimSpace(body)) == 0 {
		if allowEmpty {
			return nil
		}
		return fmt.Errorf("request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid JSON body: %v", err)
	}
	if dec.More() {
		return fmt.Errorf("invalid JSON body: more than one value")
	}
	return nil
}

// BearerToken returns the token of an "Authorization: Bearer" header.
func BearerToken(ctx *fasthttp.RequestCtx) string {
	h := string(ctx.Request.Header.Peek("Authorization"))
	const p = "Bearer "
	if len(h) > len(p) && strings.EqualFold(h[:len(p)], p) {
		return strings.TrimSpace(h[len(p):])
	}
	return ""
}

// RequireToken wraps h so that it runs only with the given bearer token.
func RequireToken(token string, h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return RequireAnyToken(h, token)
}

// RequireAnyToken wraps h so that it runs only with one of tokens (empty
// ones never match). Every token is compared, in constant time, whichever
// matches, and a wrong token gets one answer whatever it is: 403 "wrong
// admin token" (a token scoped to other calls included).
func RequireAnyToken(h fasthttp.RequestHandler, tokens ...string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		got := BearerToken(ctx)
		if got == "" {
			ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="admit"`)
			Error(ctx, http.StatusUnauthorized, "missing admin token: send Authorization: Bearer <token>")
			return
		}
		if !TokenIn(got, tokens...) {
			Error(ctx, http.StatusForbidden, "wrong admin token")
			return
		}
		h(ctx)
	}
}

// TokenIn reports whether got equals one of tokens (empty ones never
// match), comparing every one in constant time.
func TokenIn(got string, tokens ...string) bool {
	ok := 0
	for _, t := range tokens {
		if t != "" {
			ok |= subtle.ConstantTimeCompare([]byte(got), []byte(t))
		}
	}
	return ok == 1
}
