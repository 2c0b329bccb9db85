package gate

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/httpapi"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/fsm"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/rules"
	"github.com/admitpark/admit/validator/ticket"
)

const maxCodeLen = 512

// validateScan checks one request and turns it into a Scan; an
// unparseable code is no error but a deny (invalid bool). idKey gives the
// park's ID-card key, asked only for an ID-card scan. A scan refused on
// its own (a mistyped ticket number) is an *itemError.
func validateScan(r *gateapi.ScanRequest, idKey func() []byte) (s fsm.Scan, invalid bool, err error) {
	switch {
	case r.Code == "" && r.Credential == nil:
		return s, false, errors.New(`"code" or "credential" is required`)
	case r.Code != "" && r.Credential != nil:
		return s, false, errors.New(`send "code" or "credential", not both`)
	case len(r.Code) > maxCodeLen:
		return s, false, fmt.Errorf(`"code" is longer than %d characters`, maxCodeLen)
	case !ticket.ValidName(r.Gate):
		return s, false, fmt.Errorf(`"gate" must be 1-%d bytes`, ticket.MaxNameLen)
	case !ticket.CleanText(r.Gate):
		return s, false, errNotText("gate")
	case r.ScanID == "" || len(r.ScanID) > fsm.MaxScanIDLen:
		return s, false, fmt.Errorf(`"scan_id" must be 1-%d bytes, unique per gate (retries reuse it)`, fsm.MaxScanIDLen)
	case !ticket.CleanText(r.ScanID):
		return s, false, errNotText("scan_id")
	case r.Persons > 10000:
		return s, false, errors.New(`"persons" must be at most 10000`)
	}
	dir := fsm.DirBoth
	switch r.Direction {
	case "":
	case "in":
		dir = fsm.DirIn
	case "out":
		dir = fsm.DirOut
	default:
		return s, false, fmt.Errorf(`"direction" must be "in" or "out", not %q`, r.Direction)
	}
	if r.Credential != nil {
		s = fsm.Scan{ScanID: r.ScanID, Gate: r.Gate, Direction: dir, Persons: r.Persons}
		var key []byte
		if r.Credential.Kind == gateapi.CredentialIDCard {
			key = idKey()
		}
		if err := credentialScan(r.Credential, key, &s); err != nil {
			return fsm.Scan{}, false, err
		}
	} else {
		c, perr := code.Parse(r.Code)
		if perr != nil {
			return s, true, scanExtras(r, &s)
		}
		s = fsm.ScanFromCode(r.ScanID, r.Gate, dir, r.Persons, c)
	}
	if !r.DeviceTime.IsZero() || r.Offline != "" {
		if err := scanExtras(r, &s); err != nil {
			return fsm.Scan{}, false, err
		}
	}
	return s, false, nil
}

// errGateTokenRefused is the one answer to a scan whose token is not the
// gate's (or whose gate does not exist): it names neither case.
const errGateTokenRefused = "gate token not accepted: use the token printed by `admit gate add` for this gate"

// authorizeGate accepts the operator token for any gate, or the gate's own token.
func (s *Server) authorizeGate(ctx *fasthttp.RequestCtx, gate string) bool {
	token := httpapi.BearerToken(ctx)
	if token == "" {
		s.m.authFailures.WithLabelValues("missing_token").Inc()
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="admit"`)
		httpapi.Error(ctx, http.StatusUnauthorized, "missing gate token: send Authorization: Bearer <token>")
		return false
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.AdminToken)) == 1 {
		return true
	}
	now := time.Now()
	if s.tokens.ok(gate, token, now) {
		return true
	}
	_, err := fsm.CheckGateToken(s.node, gate, token)
	if err != nil {
		// A gate added (or a token changed) a moment ago may not have
		// reached this node yet: catch up with the leader and look again.
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		if s.node.CatchUp(ctx) == nil {
			_, err = fsm.CheckGateToken(s.node, gate, token)
		}
		cancel()
	}
	if err != nil {
		// An unknown gate and a wrong token get the same answer, so the
		// answers do not tell which gate ids exist; the metric keeps the
		// difference for the operator.
		reason := "wrong_token"
		if errors.Is(err, fsm.ErrUnknownGate) {
			reason = "unknown_gate"
		}
		s.m.authFailures.WithLabelValues(reason).Inc()
		httpapi.Error(ctx, http.StatusForbidden, "%s", errGateTokenRefused)
		return false
	}
	s.tokens.put(gate, token, now)
	return true
}

func (s *Server) handleScan(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	var req gateapi.ScanRequest
	if !decodeScanRequestFast(ctx.PostBody(), &req) {
		req = gateapi.ScanRequest{}
		if err := httpapi.DecodeJSON(ctx, &req, false); err != nil {
			httpapi.Error(ctx, http.StatusBadRequest, "%v", err)
			return
		}
	}
	scan, invalid, err := validateScan(&req, s.idCardKey)
	if err != nil {
		httpapi.Error(ctx, http.StatusBadRequest, "%v", err)
		return
	}
	if !s.authorizeGate(ctx, req.Gate) {
		return
	}
	if invalid {
		s.m.observeResult(fsm.ScanResult{Result: rules.Deny, Reason: rules.InvalidCode})
		httpapi.JSON(ctx, http.StatusOK, gateapi.ScanResponse{Result: "deny", Reason: rules.InvalidCode.String()})
		return
	}
	c, cancel := context.WithTimeout(context.Background(), s.cfg.ScanTimeout)
	defer cancel()
	results, err := s.batcher.Scan(c, []fsm.Scan{scan})
	if err != nil {
		s.scanFailed(ctx, err)
		return
	}
	r := results[0]
	if r.Error != fsm.ScanOK {
		s.scanError(ctx, r, req.Gate)
		return
	}
	s.m.observeResult(r)
	s.observeDeviceTime(&r, req.Gate)
	s.m.scanSeconds.Observe(time.Since(start).Seconds())
	resp := s.response(r, "")
	s.hintLeader(ctx)
	writeJSON(ctx, appendScanResponse(make([]byte, 0, 256), &resp))
}

// leaderHinter is implemented by nodes that know where the leader's API
// answers (*cluster.Node).
type leaderHinter interface{ LeaderAPI() string }

// hintLeader names the leader's API in the reply when this node is a
// follower that knows it (gateapi.HeaderLeader): gates that follow it
// save the forwarding hop.
func (s *Server) hintLeader(ctx *fasthttp.RequestCtx) {
	if h, ok := s.node.(leaderHinter); ok {
		if api := h.LeaderAPI(); api != "" {
			ctx.Response.Header.Set(gateapi.HeaderLeader, api)
		}
	}
}

// writeJSON sends body as a 200 JSON reply.
func writeJSON(ctx *fasthttp.RequestCtx, body []byte) {
	ctx.SetContentType("application/json")
	ctx.SetStatusCode(http.StatusOK)
	ctx.SetBody(body)
}

func (s *Server) handleScans(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	var req gateapi.ScanBatchRequest
	if !decodeScanBatchFast(ctx.PostBody(), &req, s.cfg.MaxScansPerRequest) {
		req = gateapi.ScanBatchRequest{}
		if err := httpapi.DecodeJSON(ctx, &req, false); err != nil {
			httpapi.Error(ctx, http.StatusBadRequest, "%v", err)
			return
		}
	}
	if len(req.Scans) == 0 || len(req.Scans) > s.cfg.MaxScansPerRequest {
		httpapi.Error(ctx, http.StatusBadRequest, `"scans" must hold 1-%d scans`, s.cfg.MaxScansPerRequest)
		return
	}
	out := gateapi.ScanBatchResponse{Results: make([]gateapi.ScanResponse, len(req.Scans))}
	var scans []fsm.Scan
	var pos []int
	authorized := map[string]bool{}
	for i := range req.Scans {
		r := &req.Scans[i]
		scan, invalid, err := validateScan(r, s.idCardKey)
		var ie *itemError
		if err != nil && !errors.As(err, &ie) {
			httpapi.Error(ctx, http.StatusBadRequest, "scans[%d]: %v", i, err)
			return
		}
		if !authorized[r.Gate] {
			if !s.authorizeGate(ctx, r.Gate) {
				return
			}
			authorized[r.Gate] = true
		}
		if ie != nil { // this scan gets no decision; the others do
			s.m.failures.WithLabelValues(ie.code).Inc()
			out.Results[i] = gateapi.ScanResponse{ScanID: r.ScanID, Result: gateapi.ResultDeny, Error: ie.code}
			continue
		}
		if invalid {
			s.m.observeResult(fsm.ScanResult{Result: rules.Deny, Reason: rules.InvalidCode})
			out.Results[i] = gateapi.ScanResponse{ScanID: r.ScanID, Result: "deny", Reason: rules.InvalidCode.String()}
			continue
		}
		scans = append(scans, scan)
		pos = append(pos, i)
	}
	if len(scans) > 0 {
		c, cancel := context.WithTimeout(context.Background(), s.cfg.ScanTimeout)
		defer cancel()
		results, err := s.batcher.Scan(c, scans)
		if err != nil {
			s.scanFailed(ctx, err)
			return
		}
		for j, r := range results {
			i := pos[j]
			if r.Error != fsm.ScanOK {
				s.m.failures.WithLabelValues(r.Error.String()).Inc()
				out.Results[i] = gateapi.ScanResponse{ScanID: req.Scans[i].ScanID, Result: "deny", Error: r.Error.String()}
				continue
			}
			s.m.observeResult(r)
			s.observeDeviceTime(&r, req.Scans[i].Gate)
			out.Results[i] = s.response(r, req.Scans[i].ScanID)
		}
	}
	s.m.scanSeconds.Observe(time.Since(start).Seconds())
	s.hintLeader(ctx)
	writeJSON(ctx, appendScanBatchResponse(make([]byte, 0, 64+200*len(out.Results)), &out))
}

func (s *Server) response(r fsm.ScanResult, scanID string) gateapi.ScanResponse {
	resp := gateapi.ScanResponse{
		ScanID: scanID, Result: r.Result.String(), Reason: r.Reason.String(), Rescan: r.Rescan,
		Product: r.Product, Persons: r.Persons, EntriesUsed: r.EntriesUsed, EntriesAllowed: r.EntriesAllowed,
		FirstEntryGate: r.FirstGate, ZoneWarning: r.ZoneWarn, Offline: r.Offline, Conflict: r.Conflict,
	}
	if r.TicketID != ([16]byte{}) {
		resp.TicketID = ticket.FormatID(r.TicketID)
	}
	if r.FirstAt != 0 {
		resp.FirstEntryAt = s.formatTime(r.FirstAt)
	}
	return resp
}

// formatTime renders unix ms in the park's time zone.
func (s *Server) formatTime(ms int64) string {
	return time.UnixMilli(ms).In(s.location()).Format(time.RFC3339Nano)
}

// location is the park's time zone, read again at most once a second: a
// change of time zone shows in replies a moment later.
func (s *Server) location() *time.Location {
	now := time.Now()
	if c := s.loc.Load(); c != nil && now.Before(c.expires) {
		return c.loc
	}
	loc, err := fsm.Location(s.node)
	if err != nil || loc == nil {
		return time.UTC
	}
	s.loc.Store(&cachedLocation{loc: loc, expires: now.Add(time.Second)})
	return loc
}

type cachedLocation struct {
	loc     *time.Location
	expires time.Time
}

func (s *Server) scanFailed(ctx *fasthttp.RequestCtx, err error) {
	switch {
	case errors.Is(err, cluster.ErrOutcomeUnknown):
		s.m.failures.WithLabelValues("outcome_unknown").Inc()
		ctx.Response.Header.Set("Retry-After", "1")
		httpapi.Error(ctx, http.StatusServiceUnavailable, "no answer from the cluster in time (%v); retry with the same scan_id", err)
	case errors.Is(err, cluster.ErrNoLeader), errors.Is(err, cluster.ErrNotLeader), errors.Is(err, ErrStopped), errors.Is(err, cluster.ErrShutdown):
		s.m.failures.WithLabelValues("no_quorum").Inc()
		ctx.Response.Header.Set("Retry-After", "1")
		httpapi.Error(ctx, http.StatusServiceUnavailable, "cluster has no quorum right now (%v); retry with the same scan_id or decide offline", err)
	default:
		s.m.failures.WithLabelValues("error").Inc()
		httpapi.Error(ctx, http.StatusInternalServerError, "scan failed: %v", err)
	}
}

func (s *Server) scanError(ctx *fasthttp.RequestCtx, r fsm.ScanResult, gate string) {
	s.m.failures.WithLabelValues(r.Error.String()).Inc()
	switch r.Error {
	case fsm.ScanUnknownGate:
		httpapi.Error(ctx, http.StatusForbidden, "gate %q (or its zone) is not configured on this cluster", gate)
	case fsm.ScanIDConflict:
		httpapi.Error(ctx, http.StatusConflict, "scan_id was already used by this gate for another ticket; use a new scan_id per scan")
	default:
		httpapi.Error(ctx, http.StatusInternalServerError, "scan not decided: %s", r.Error)
	}
}
