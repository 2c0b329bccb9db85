package shift

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/web"
)

// Routes registers:
//
//	POST /v1/shifts                  {"opening_float_minor"}            cashier
//	GET  /v1/shifts?park=&user=&status=&from=&to=                       admin, finance, cashier (own)
//	GET  /v1/shifts/current                                             cashier: the open shift
//	GET  /v1/shifts/{id}                                                admin, finance, cashier (own)
//	POST /v1/shifts/{id}/close       {"counted": {"cash": N}, "note"}   cashier (own), admin, finance
//	POST /v1/shifts/{id}/confirm     {"note"}                           admin, finance
//	GET  /v1/shift-settings                                             admin, finance, cashier
//	PUT  /v1/shift-settings          {"required", "max_open_minutes"}   admin
func (a *API) Routes(mux *http.ServeMux, authn web.Authenticator) {
	h := func(f http.HandlerFunc, roles ...string) http.Handler {
		return web.Authenticated(authn, web.Require(f, roles...))
	}
	const admin, cashier, finance = web.RoleAdmin, web.RoleCashier, web.RoleFinance
	mux.Handle("POST /v1/shifts", h(a.handleOpen, cashier))
	mux.Handle("GET /v1/shifts", h(a.handleList, admin, finance, cashier))
	mux.Handle("GET /v1/shifts/current", h(a.handleCurrent, cashier))
	mux.Handle("GET /v1/shifts/{id}", h(a.handleGet, admin, finance, cashier))
	mux.Handle("POST /v1/shifts/{id}/close", h(a.handleClose, admin, finance, cashier))
	mux.Handle("POST /v1/shifts/{id}/confirm", h(a.handleConfirm, admin, finance))
	mux.Handle("GET /v1/shift-settings", h(a.handleGetSettings, admin, finance, cashier))
	mux.Handle("PUT /v1/shift-settings", h(a.handlePutSettings, admin))
}

// ShiftsBody is the reply of a list.
type ShiftsBody struct {
	Shifts []Shift `json:"shifts"`
}

func principal(r *http.Request) web.Principal {
	p, _ := web.PrincipalFrom(r.Context())
	p.RemoteAddr = web.RemoteAddr(r)
	return p
}

func (a *API) reply(w http.ResponseWriter, status int, s Shift, err error) {
	if err != nil {
		web.Fail(w, a.cfg.Log, err)
		return
	}
	web.JSON(w, status, s)
}

func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		web.JSON(w, http.StatusBadRequest, web.ProblemBody{Error: "shift id must be a positive integer, not " + strconv.Quote(r.PathValue("id")), Code: "bad_shift_id"})
		return 0, false
	}
	return id, true
}

func (a *API) handleOpen(w http.ResponseWriter, r *http.Request) {
	var req OpenRequest
	if !web.Decode(w, r, &req, 4<<10) {
		return
	}
	s, err := a.Open(r.Context(), principal(r), req)
	a.reply(w, http.StatusCreated, s, err)
}

func (a *API) handleClose(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var req CloseRequest
	if !web.Decode(w, r, &req, 8<<10) {
		return
	}
	s, err := a.Close(r.Context(), principal(r), id, req)
	a.reply(w, http.StatusOK, s, err)
}

func (a *API) handleConfirm(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var req ConfirmRequest
	if !web.Decode(w, r, &req, 8<<10) {
		return
	}
	s, err := a.Confirm(r.Context(), principal(r), id, req)
	a.reply(w, http.StatusOK, s, err)
}

func (a *API) handleGet(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	s, err := a.Get(r.Context(), principal(r), id)
	a.reply(w, http.StatusOK, s, err)
}

func (a *API) handleCurrent(w http.ResponseWriter, r *http.Request) {
	s, err := a.Current(r.Context(), principal(r))
	a.reply(w, http.StatusOK, s, err)
}

// ParseTime reads a query bound: RFC 3339, or a date (midnight in loc).
func ParseTime(v string, loc *time.Location) (time.Time, error) {
	if t, err := time.ParseInLocation(time.DateOnly, v, loc); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, v)
}

func (a *API) handleList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := ListFilter{ParkID: q.Get("park"), Status: q.Get("status")}
	switch f.Status {
	case "", StatusOpen, StatusClosed, StatusConfirmed:
	default:
		web.JSON(w, http.StatusBadRequest, web.ProblemBody{Error: `"status" must be open, closed or confirmed`, Code: "bad_status"})
		return
	}
	if v := q.Get("user"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			web.JSON(w, http.StatusBadRequest, web.ProblemBody{Error: `"user" must be a user id`, Code: "bad_user"})
			return
		}
		f.UserID = id
	}
	loc := time.UTC
	if f.ParkID != "" {
		var tz string
		err := a.cfg.Pool.QueryRow(r.Context(), `SELECT time_zone FROM parks WHERE id = $1`, f.ParkID).Scan(&tz)
		if errors.Is(err, pgx.ErrNoRows) {
			web.JSON(w, http.StatusNotFound, web.ProblemBody{Error: "no park " + strconv.Quote(f.ParkID), Code: "unknown_park"})
			return
		}
		if err != nil {
			web.Fail(w, a.cfg.Log, err)
			return
		}
		if l, err := time.LoadLocation(tz); err == nil {
			loc = l
		}
	}
	for _, b := range []struct {
		name string
		dst  *time.Time
		next bool
	}{{"from", &f.From, false}, {"to", &f.To, true}} {
		v := q.Get(b.name)
		if v == "" {
			continue
		}
		t, err := ParseTime(v, loc)
		if err != nil {
			web.JSON(w, http.StatusBadRequest, web.ProblemBody{Error: `"` + b.name + `" must be a date (YYYY-MM-DD, in the park's time zone) or an RFC 3339 time`, Code: "bad_time"})
			return
		}
		if b.next && len(v) == len(time.DateOnly) { // "to" a date: through that day
			t = t.AddDate(0, 0, 1)
		}
		*b.dst = t
	}
	list, err := a.List(r.Context(), principal(r), f)
	if err != nil {
		web.Fail(w, a.cfg.Log, err)
		return
	}
	web.JSON(w, http.StatusOK, ShiftsBody{Shifts: list})
}

func (a *API) handleGetSettings(w http.ResponseWriter, r *http.Request) {
	s, err := ReadSettings(r.Context(), a.cfg.Pool)
	if err != nil {
		web.Fail(w, a.cfg.Log, err)
		return
	}
	web.JSON(w, http.StatusOK, s)
}

func (a *API) handlePutSettings(w http.ResponseWriter, r *http.Request) {
	var s Settings
	if !web.Decode(w, r, &s, 4<<10) {
		return
	}
	err := pgx.BeginFunc(r.Context(), a.cfg.Pool, func(tx pgx.Tx) error {
		if err := WriteSettings(r.Context(), tx, s); err != nil {
			return err
		}
		return audit.Record(r.Context(), tx, principal(r), "settings.update", "settings", SettingsKey, s)
	})
	if err != nil {
		web.Fail(w, a.cfg.Log, err)
		return
	}
	web.JSON(w, http.StatusOK, s)
}
