package lookup

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/validator/ticket"
)

// QR image sizes in pixels (width = height).
const (
	QRDefaultSize = 256
	QRMinSize     = 128
	QRMaxSize     = 1024
)

// API serves look-ups.
type API struct {
	cfg Config
}

// NewAPI validates cfg.
func NewAPI(cfg Config) (*API, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &API{cfg: cfg}, nil
}

// Routes registers:
//
//	GET /v1/tickets/{id}                  one ticket (id: 32 hex or UUID)     admin, cashier, finance, gate_operator, distributor (own)
//	GET /v1/tickets?order=N | ?phone=P | ?id_number=I                        same roles; {"tickets": [...], "truncated"}
//	GET /v1/tickets/{id}/qr.png?size=256  the code as a QR PNG (128-1024 px)  admin, cashier, distributor (own)
//	GET /v1/keys                          public code-signing keys            anonymous
func (a *API) Routes(mux *http.ServeMux, authn web.Authenticator) {
	h := func(f http.HandlerFunc, roles ...string) http.Handler {
		return web.Authenticated(authn, web.Require(f, roles...))
	}
	readers := []string{web.RoleAdmin, web.RoleCashier, web.RoleFinance, web.RoleGateOperator, web.RoleDistributor}
	mux.Handle("GET /v1/tickets/{id}", h(a.handleGet, readers...))
	mux.Handle("GET /v1/tickets", h(a.handleFind, readers...))
	mux.Handle("GET /v1/tickets/{id}/qr.png", h(a.handleQR, web.RoleAdmin, web.RoleCashier, web.RoleDistributor))
	mux.HandleFunc("GET /v1/keys", a.handleKeys)
}

func (a *API) ticketID(r *http.Request) ([16]byte, error) {
	id, err := ticket.ParseID(r.PathValue("id"))
	if err != nil {
		return id, problem(ErrInvalid, http.StatusBadRequest, "bad_ticket_id", "%q is not a ticket id (32 hex digits or a UUID)", r.PathValue("id"))
	}
	return id, nil
}

func (a *API) handleGet(w http.ResponseWriter, r *http.Request) {
	p, _ := web.PrincipalFrom(r.Context())
	id, err := a.ticketID(r)
	if err == nil {
		var t Ticket
		if t, err = a.Get(r.Context(), p, id); err == nil {
			w.Header().Set("Cache-Control", "no-store")
			web.JSON(w, http.StatusOK, t)
			return
		}
	}
	web.Fail(w, a.cfg.Log, err)
}

func (a *API) handleFind(w http.ResponseWriter, r *http.Request) {
	p, _ := web.PrincipalFrom(r.Context())
	v := r.URL.Query()
	for k := range v {
		if k != "order" && k != "phone" && k != "id_number" {
			web.Fail(w, a.cfg.Log, problem(ErrInvalid, http.StatusBadRequest, "bad_query",
				"unknown parameter %q: give one of ?order=, ?phone=, ?id_number=", k))
			return
		}
		if len(v[k]) > 1 {
			web.Fail(w, a.cfg.Log, problem(ErrInvalid, http.StatusBadRequest, "bad_query", "parameter %q given twice", k))
			return
		}
	}
	list, err := a.Find(r.Context(), p, Query{OrderNumber: v.Get("order"), Phone: v.Get("phone"), IDNumber: v.Get("id_number")})
	if err != nil {
		web.Fail(w, a.cfg.Log, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	web.JSON(w, http.StatusOK, list)
}

// QR returns the PNG of a ticket's current code, size x size pixels, at
// medium error correction.
func (a *API) QR(ctx context.Context, p web.Principal, id [16]byte, size int) ([]byte, error) {
	if size < QRMinSize || size > QRMaxSize {
		return nil, problem(ErrInvalid, http.StatusBadRequest, "bad_size", "size must be %d-%d pixels", QRMinSize, QRMaxSize)
	}
	if !seesCodes(p) {
		return nil, problem(ErrForbidden, http.StatusForbidden, "forbidden", "role %q may not see ticket codes", p.Role)
	}
	t, err := a.Get(ctx, p, id)
	if err != nil {
		return nil, err
	}
	png, err := qrcode.Encode(t.Code, qrcode.Medium, size)
	if err != nil {
		return nil, fmt.Errorf("ticket %s: QR: %w", t.ID, err)
	}
	return png, nil
}

func (a *API) handleQR(w http.ResponseWriter, r *http.Request) {
	p, _ := web.PrincipalFrom(r.Context())
	size := QRDefaultSize
	if s := r.URL.Query().Get("size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			web.Fail(w, a.cfg.Log, problem(ErrInvalid, http.StatusBadRequest, "bad_size", "size must be a whole number of pixels, %d-%d", QRMinSize, QRMaxSize))
			return
		}
		size = n
	}
	id, err := a.ticketID(r)
	if err != nil {
		web.Fail(w, a.cfg.Log, err)
		return
	}
	png, err := a.QR(r.Context(), p, id, size)
	if err != nil {
		web.Fail(w, a.cfg.Log, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(png)))
	w.Header().Set("Cache-Control", "no-store") // a code is a credential; a reprint replaces it
	w.WriteHeader(http.StatusOK)
	w.Write(png)
}

// KeysBody is the reply of GET /v1/keys.
type KeysBody struct {
	Keys []keys.Public `json:"keys"`
}

func (a *API) handleKeys(w http.ResponseWriter, r *http.Request) {
	list, err := keys.List(r.Context(), a.cfg.Pool)
	if err != nil {
		web.Fail(w, a.cfg.Log, err)
		return
	}
	if list == nil {
		list = []keys.Public{}
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	web.JSON(w, http.StatusOK, KeysBody{Keys: list})
}
