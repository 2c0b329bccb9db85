package agent

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/admitpark/admit/validator/gateapi"
)

// Handler serves the devices the node's scan API: POST /v1/scan and POST
// /v1/scans with the gate's token, and GET /v1/agent/status, /healthz and
// /readyz (ready once the agent holds keys and can decide offline).
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+gateapi.PathScan, a.auth(a.handleScan))
	mux.HandleFunc("POST "+gateapi.PathScans, a.auth(a.handleScans))
	mux.HandleFunc("GET /v1/agent/status", a.auth(func(w http.ResponseWriter, r *http.Request) {
		s, err := a.Status()
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, s)
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, map[string]bool{"ok": true}) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !a.Ready() {
			writeError(w, http.StatusServiceUnavailable, "no keys yet: the agent has not reached the cluster once")
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true, "online": a.Online()})
	})
	return mux
}

func (a *Agent) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="admit"`)
			writeError(w, http.StatusUnauthorized, "missing gate token: send Authorization: Bearer <token>")
			return
		}
		if subtle.ConstantTimeCompare([]byte(tok), []byte(a.cfg.GateToken)) != 1 {
			writeError(w, http.StatusForbidden, "gate token not accepted: use the token of gate "+a.cfg.Gate)
			return
		}
		h(w, r)
	}
}

func (a *Agent) decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", a.cfg.MaxBody))
			return false
		}
		writeError(w, http.StatusBadRequest, "body is not a scan request: "+err.Error())
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "body holds more than one JSON value")
		return false
	}
	return true
}

func (a *Agent) handleScan(w http.ResponseWriter, r *http.Request) {
	var req gateapi.ScanRequest
	if !a.decodeBody(w, r, &req) {
		return
	}
	resp, err := a.Scan(r.Context(), req)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (a *Agent) handleScans(w http.ResponseWriter, r *http.Request) {
	var req gateapi.ScanBatchRequest
	if !a.decodeBody(w, r, &req) {
		return
	}
	if len(req.Scans) == 0 || len(req.Scans) > a.cfg.MaxBatch {
		writeError(w, http.StatusBadRequest, fmt.Sprintf(`"scans" must hold 1-%d scans`, a.cfg.MaxBatch))
		return
	}
	out, err := a.ScanBatch(r.Context(), req.Scans)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, gateapi.ScanBatchResponse{Results: out})
}

func (a *Agent) fail(w http.ResponseWriter, err error) {
	var ce *gateapi.Error
	switch {
	case errors.Is(err, ErrBadRequest):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.As(err, &ce) && ce.Status/100 == 4:
		writeError(w, ce.Status, ce.Message)
	default:
		a.log.Error("gate agent: scan failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "no decision: "+err.Error())
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, gateapi.ErrorBody{Error: msg})
}
