package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/admitpark/admit/sales/web"
)

// Config configures the catalog API.
type Config struct {
	Pool    *pgxpool.Pool
	Clock   web.Clock
	Log     *slog.Logger
	MaxBody int64 // request body limit in bytes
	// ParkCreated, when set, runs in the transaction that creates a park
	// through the API, after the park's configure row (the server sends
	// the gate's ID-number key with it: package credential).
	ParkCreated func(ctx context.Context, tx pgx.Tx, park string) error
}

// DefaultConfig has everything but the pool.
func DefaultConfig() Config {
	return Config{Clock: web.SystemClock{}, Log: slog.Default(), MaxBody: 64 << 10}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.Pool == nil:
		return errors.New("catalog: Config.Pool is required")
	case c.Clock == nil:
		return errors.New("catalog: Config.Clock is required")
	case c.Log == nil:
		return errors.New("catalog: Config.Log is required")
	case c.MaxBody <= 0:
		return errors.New("catalog: Config.MaxBody must be positive")
	}
	return nil
}

// API serves the catalog over HTTP.
type API struct {
	cfg Config
	log *slog.Logger
}

// NewAPI checks cfg and builds the API.
func NewAPI(cfg Config) (*API, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &API{cfg: cfg, log: cfg.Log.With("pkg", "catalog")}, nil
}

// Roles allowed on each kind of route.
var (
	rolesWrite        = []string{web.RoleAdmin}
	rolesReadAll      = []string{web.RoleAdmin, web.RoleFinance}
	rolesReadProducts = []string{web.RoleAdmin, web.RoleFinance, web.RoleCashier, web.RoleDistributor}
	rolesReadParks    = []string{web.RoleAdmin, web.RoleFinance, web.RoleCashier, web.RoleDistributor, web.RoleGateOperator}
	rolesReadGates    = []string{web.RoleAdmin, web.RoleFinance, web.RoleGateOperator}
)

// Routes registers the catalog routes on mux; every one needs a caller
// authenticated by authn.
func (a *API) Routes(mux *http.ServeMux, authn web.Authenticator) {
	h := func(pattern string, fn http.HandlerFunc, roles []string) {
		mux.Handle(pattern, web.Authenticated(authn, web.Require(fn, roles...)))
	}
	h("GET /v1/parks", a.listParks, rolesReadParks)
	h("POST /v1/parks", a.createPark, rolesWrite)
	h("GET /v1/parks/{id}", a.getPark, rolesReadParks)
	h("PUT /v1/parks/{id}", a.updatePark, rolesWrite)
	h("GET /v1/parks/{id}/zones", a.listZones, rolesReadParks)
	h("POST /v1/parks/{id}/zones", a.setZone, rolesWrite)
	h("GET /v1/parks/{id}/gates", a.listGates, rolesReadGates)
	h("POST /v1/parks/{id}/gates", a.setGate, rolesWrite)
	h("GET /v1/parks/{id}/business-units", a.listBusinessUnits, rolesReadAll)
	h("POST /v1/parks/{id}/business-units", a.createBusinessUnit, rolesWrite)
	h("GET /v1/sales-points", a.listSalesPoints, rolesReadAll)
	h("POST /v1/sales-points", a.createSalesPoint, rolesWrite)

	h("GET /v1/products", a.listProducts, rolesReadProducts)
	h("POST /v1/products", a.createProduct, rolesWrite)
	h("GET /v1/products/{id}", a.getProduct, rolesReadProducts)
	h("PUT /v1/products/{id}", a.updateProduct, rolesWrite)
	h("GET /v1/products/{id}/prices", a.listPrices, rolesReadProducts)
	h("PUT /v1/products/{id}/prices/{date}", a.setPrice, rolesWrite)
	h("DELETE /v1/products/{id}/prices/{date}", a.deletePrice, rolesWrite)
	h("GET /v1/products/{id}/slots", a.listSlots, rolesReadProducts)
	h("POST /v1/products/{id}/slots", a.createSlot, rolesWrite)
	h("POST /v1/products/{id}/stop-sales", a.stopSales, rolesWrite)
	h("POST /v1/products/{id}/resume-sales", a.resumeSales, rolesWrite)
	h("GET /v1/availability", a.availability, rolesReadProducts)
}

// inTx runs fn in a transaction, committed when fn returns nil.
func (a *API) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, a.cfg.Pool, fn)
}

func principal(r *http.Request) web.Principal {
	p, _ := web.PrincipalFrom(r.Context()) // web.Require made sure
	return p
}

// decode reads the body strictly into v (pre-filled with defaults); it
// answers the 4xx itself and returns false when the body is unusable.
func (a *API) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	return web.Decode(w, r, v, a.cfg.MaxBody)
}

// decodeRaw reads a JSON object body to merge later over current values
// (see merge), so a change does not hold row locks while the body arrives.
func (a *API) decodeRaw(w http.ResponseWriter, r *http.Request) (json.RawMessage, bool) {
	var raw json.RawMessage
	if !a.decode(w, r, &raw) {
		return nil, false
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		web.Error(w, http.StatusBadRequest, "invalid JSON body: want an object")
		return nil, false
	}
	return raw, true
}

// merge decodes raw strictly over v: fields it names change, others keep
// v's values.
// Text is checked as web.Decode checks it (400 bad_text naming the field).
func merge(raw json.RawMessage, v any) error {
	if err := web.DecodeBytes(raw, v); err != nil {
		var te *web.TextError
		if errors.As(err, &te) {
			return invalid("bad_text", "invalid text in the body: %v", te)
		}
		return invalid("bad_json", "invalid JSON body: %v", err)
	}
	return nil
}

func (a *API) fail(w http.ResponseWriter, err error) { web.Fail(w, a.log, err) }

// writeTx runs fn in a transaction and answers its result with status, or
// the error (a Problem as 4xx, anything else as 500).
func writeTx[T any](a *API, w http.ResponseWriter, r *http.Request, status int, fn func(ctx context.Context, tx pgx.Tx) (T, error)) {
	var out T
	err := a.inTx(r.Context(), func(tx pgx.Tx) (err error) {
		out, err = fn(r.Context(), tx)
		return err
	})
	if err != nil {
		a.fail(w, err)
		return
	}
	web.JSON(w, status, out)
}

// mergeUpdate answers a PUT that changes only the fields its body names:
// it locks the row (no change slips in between), merges the body over the
// row's current values, refuses an id change, and applies the result.
func mergeUpdate[In any, Out interface{ Input() In }](a *API, w http.ResponseWriter, r *http.Request, what string,
	lock func(context.Context, DB, string) (Out, error), idOf func(In) string,
	update func(context.Context, pgx.Tx, web.Principal, In) (Out, error)) {
	raw, ok := a.decodeRaw(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	writeTx(a, w, r, http.StatusOK, func(ctx context.Context, tx pgx.Tx) (out Out, err error) {
		old, err := lock(ctx, tx, id)
		if err != nil {
			return out, err
		}
		in := old.Input()
		if err := merge(raw, &in); err != nil {
			return out, err
		}
		if idOf(in) != id {
			return out, invalid("id_immutable", "a %s's id cannot change (path says %q, body %q)", what, id, idOf(in))
		}
		return update(ctx, tx, principal(r), in)
	})
}
