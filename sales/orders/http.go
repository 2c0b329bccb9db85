package orders

import (
	"net/http"

	"github.com/admitpark/admit/sales/payment"
	"github.com/admitpark/admit/sales/web"
)

// MaxCreateBody bounds POST /v1/orders (20 lines of 50 holders fit).
const MaxCreateBody = 256 << 10

// IdempotencyHeader names the header that makes POST /v1/orders
// idempotent per caller.
const IdempotencyHeader = "Idempotency-Key"

// Routes registers:
//
//	POST /v1/orders                        cashier, admin, distributor: create (Idempotency-Key)
//	GET  /v1/orders?phone=&date=           admin, cashier, finance: find by contact phone / visit date
//	GET  /v1/orders/{ref}                  admin, cashier, finance, distributor (own only): by id or number
//	POST /v1/orders/{ref}/pay              cashier (cash, card, wallet, provider), admin and distributor (provider)
//	POST /v1/orders/{ref}/cancel           admin, cashier, distributor (own only): pending only
//	POST /v1/payments/webhook/{provider}   anonymous, authenticated by the provider's signature
func (a *API) Routes(mux *http.ServeMux, authn web.Authenticator) {
	auth := func(h http.HandlerFunc, roles ...string) http.Handler {
		return web.Authenticated(authn, web.Require(h, roles...))
	}
	mux.Handle("POST /v1/orders", auth(a.handleCreate, web.RoleCashier, web.RoleAdmin, web.RoleDistributor))
	mux.Handle("GET /v1/orders", auth(a.handleList, web.RoleAdmin, web.RoleCashier, web.RoleFinance))
	mux.Handle("GET /v1/orders/{ref}", auth(a.handleGet, web.RoleAdmin, web.RoleCashier, web.RoleFinance, web.RoleDistributor))
	mux.Handle("POST /v1/orders/{ref}/pay", auth(a.handlePay, web.RoleCashier, web.RoleAdmin, web.RoleDistributor))
	mux.Handle("POST /v1/orders/{ref}/cancel", auth(a.handleCancel, web.RoleAdmin, web.RoleCashier, web.RoleDistributor))
	mux.HandleFunc("POST /v1/payments/webhook/{provider}", a.handleWebhook)
}

func principal(r *http.Request) web.Principal {
	p, _ := web.PrincipalFrom(r.Context())
	p.RemoteAddr = web.RemoteAddr(r)
	return p
}

func (a *API) handleCreate(w http.ResponseWriter, r *http.Request) {
	var req CreateRequest
	if !web.Decode(w, r, &req, MaxCreateBody) {
		return
	}
	o, created, err := a.Create(r.Context(), principal(r), r.Header.Get(IdempotencyHeader), req)
	if err != nil {
		web.Fail(w, a.cfg.Log, err)
		return
	}
	if !created {
		w.Header().Set("Idempotent-Replayed", "true")
		web.JSON(w, http.StatusOK, o)
		return
	}
	w.Header().Set("Location", "/v1/orders/"+o.Number)
	web.JSON(w, http.StatusCreated, o)
}

func (a *API) handleGet(w http.ResponseWriter, r *http.Request) {
	o, err := a.Get(r.Context(), principal(r), r.PathValue("ref"))
	if err != nil {
		web.Fail(w, a.cfg.Log, err)
		return
	}
	web.JSON(w, http.StatusOK, o)
}

// ListReply answers GET /v1/orders.
type ListReply struct {
	Orders []Order `json:"orders"`
}

func (a *API) handleList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "phone" && k != "date" {
			web.Error(w, http.StatusBadRequest, "unknown query parameter %q: use phone= and/or date=", k)
			return
		}
	}
	os, err := a.List(r.Context(), principal(r), ListQuery{Phone: q.Get("phone"), VisitDate: q.Get("date")})
	if err != nil {
		web.Fail(w, a.cfg.Log, err)
		return
	}
	web.JSON(w, http.StatusOK, ListReply{Orders: os})
}

func (a *API) handlePay(w http.ResponseWriter, r *http.Request) {
	var req PayRequest
	if !web.Decode(w, r, &req, 4<<10) {
		return
	}
	res, err := a.Pay(r.Context(), principal(r), r.PathValue("ref"), req)
	if err != nil {
		web.Fail(w, a.cfg.Log, err)
		return
	}
	web.JSON(w, http.StatusOK, res)
}

func (a *API) handleCancel(w http.ResponseWriter, r *http.Request) {
	o, err := a.Cancel(r.Context(), principal(r), r.PathValue("ref"))
	if err != nil {
		web.Fail(w, a.cfg.Log, err)
		return
	}
	web.JSON(w, http.StatusOK, o)
}

func (a *API) handleWebhook(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("provider")
	_, ev, err := payment.ReadWebhook(w, r, a.providers, name)
	if err != nil {
		a.cfg.Log.Warn("payment webhook refused", "provider", name, "remote", web.RemoteAddr(r), "err", err)
		web.Fail(w, a.cfg.Log, err)
		return
	}
	res, err := a.ApplyWebhook(r.Context(), name, ev, web.RemoteAddr(r))
	if err != nil {
		web.Fail(w, a.cfg.Log, err)
		return
	}
	web.JSON(w, http.StatusOK, res)
}
