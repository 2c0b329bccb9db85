package member

import (
	"net/http"
	"strconv"

	"github.com/admitpark/admit/sales/web"
)

// Routes registers:
//
//	GET   /v1/member-categories             staff: the categories and their points rules
//	PUT   /v1/member-categories/{id}        admin: create or change a category
//	POST  /v1/members                       admin, cashier: a new member (customer record)
//	GET   /v1/members?phone=|id_number=|name=  admin, cashier, finance
//	GET   /v1/members/{id}                  admin, cashier, finance: with cards
//	PATCH /v1/members/{id}                  admin, cashier: edit holder details
//	GET   /v1/members/{id}/history          admin, cashier, finance: purchases and entries
//	POST  /v1/members/{id}/cards            admin, cashier: open a card
//	POST  /v1/members/import?park=          admin: CSV or XLSX (the template's columns); rows with a card number issue cards
//	GET   /v1/members/export?format=csv|xlsx  admin, finance
//	GET   /v1/members/template?format=csv|xlsx  admin, cashier, finance
//	GET   /v1/cards/{number}                admin, cashier, finance
//	GET   /v1/cards/{number}/statement      admin, cashier, finance (?after=line id)
//	POST  /v1/cards/{number}/recharge       cashier
//	POST  /v1/cards/{number}/consume        cashier (any point of sale)
//	POST  /v1/cards/{number}/lost           admin, cashier
//	POST  /v1/cards/{number}/replace        admin, cashier
//	POST  /v1/cards/{number}/renew          admin, cashier
//	POST  /v1/cards/{number}/refund         cashier (pays the balance back)
func (a *API) Routes(mux *http.ServeMux, authn web.Authenticator) {
	h := func(f http.HandlerFunc, roles ...string) http.Handler {
		return web.Authenticated(authn, web.Require(f, roles...))
	}
	const (
		admin   = web.RoleAdmin
		cashier = web.RoleCashier
		finance = web.RoleFinance
	)
	mux.Handle("GET /v1/member-categories", h(a.handleCategories, admin, cashier, finance))
	mux.Handle("PUT /v1/member-categories/{id}", h(a.handlePutCategory, admin))
	mux.Handle("POST /v1/members", h(a.handleCreate, admin, cashier))
	mux.Handle("GET /v1/members", h(a.handleFind, admin, cashier, finance))
	mux.Handle("GET /v1/members/{id}", h(a.handleGet, admin, cashier, finance))
	mux.Handle("PATCH /v1/members/{id}", h(a.handleUpdate, admin, cashier))
	mux.Handle("GET /v1/members/{id}/history", h(a.handleHistory, admin, cashier, finance))
	mux.Handle("POST /v1/members/{id}/cards", h(a.handleOpen, admin, cashier))
	mux.Handle("POST /v1/members/import", h(a.handleImport, admin))
	mux.Handle("GET /v1/members/export", h(a.handleExport, admin, finance))
	mux.Handle("GET /v1/members/template", h(a.handleTemplate, admin, cashier, finance))
	mux.Handle("GET /v1/cards/{number}", h(a.handleCard, admin, cashier, finance))
	mux.Handle("GET /v1/cards/{number}/statement", h(a.handleStatement, admin, cashier, finance))
	mux.Handle("POST /v1/cards/{number}/recharge", h(a.handleRecharge, cashier))
	mux.Handle("POST /v1/cards/{number}/consume", h(a.handleConsume, cashier))
	mux.Handle("POST /v1/cards/{number}/lost", h(a.handleLost, admin, cashier))
	mux.Handle("POST /v1/cards/{number}/replace", h(a.handleReplace, admin, cashier))
	mux.Handle("POST /v1/cards/{number}/renew", h(a.handleRenew, admin, cashier))
	mux.Handle("POST /v1/cards/{number}/refund", h(a.handleRefund, cashier))
}

// maxBody bounds the JSON bodies of this package.
const maxBody = 8 << 10

func principal(r *http.Request) web.Principal {
	p, _ := web.PrincipalFrom(r.Context())
	p.RemoteAddr = web.RemoteAddr(r)
	return p
}

func (a *API) reply(w http.ResponseWriter, status int, v any, err error) {
	if err != nil {
		web.Fail(w, a.cfg.Log, err)
		return
	}
	web.JSON(w, status, v)
}

func memberID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		web.JSON(w, http.StatusBadRequest, web.ProblemBody{Error: "the member id is a positive number, not " + strconv.Quote(r.PathValue("id")), Code: "bad_member_id"})
		return 0, false
	}
	return id, true
}

// CategoriesReply answers GET /v1/member-categories.
type CategoriesReply struct {
	Categories []Category `json:"categories"`
}

func (a *API) handleCategories(w http.ResponseWriter, r *http.Request) {
	cs, err := a.Categories(r.Context())
	a.reply(w, http.StatusOK, CategoriesReply{Categories: cs}, err)
}

func (a *API) handlePutCategory(w http.ResponseWriter, r *http.Request) {
	var c Category
	if !web.Decode(w, r, &c, maxBody) {
		return
	}
	if c.ID != r.PathValue("id") {
		web.JSON(w, http.StatusBadRequest, web.ProblemBody{Error: `"id" must be the id in the path`, Code: "bad_category"})
		return
	}
	c, err := a.PutCategory(r.Context(), principal(r), c)
	a.reply(w, http.StatusOK, c, err)
}

func (a *API) handleCreate(w http.ResponseWriter, r *http.Request) {
	var in MemberInput
	if !web.Decode(w, r, &in, maxBody) {
		return
	}
	m, err := a.CreateMember(r.Context(), principal(r), in)
	if err == nil {
		w.Header().Set("Location", "/v1/members/"+strconv.FormatInt(m.ID, 10))
	}
	a.reply(w, http.StatusCreated, m, err)
}

// MembersReply answers GET /v1/members.
type MembersReply struct {
	Members []Member `json:"members"`
}

func (a *API) handleFind(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "phone" && k != "id_number" && k != "name" {
			web.JSON(w, http.StatusBadRequest, web.ProblemBody{Error: "unknown query parameter " + strconv.Quote(k) + ": use phone=, id_number= or name=", Code: "bad_query"})
			return
		}
	}
	ms, err := a.FindMembers(r.Context(), q.Get("phone"), q.Get("id_number"), q.Get("name"))
	a.reply(w, http.StatusOK, MembersReply{Members: ms}, err)
}

func (a *API) handleGet(w http.ResponseWriter, r *http.Request) {
	id, ok := memberID(w, r)
	if !ok {
		return
	}
	m, err := a.GetMember(r.Context(), id)
	a.reply(w, http.StatusOK, m, err)
}

func (a *API) handleUpdate(w http.ResponseWriter, r *http.Request) {
	id, ok := memberID(w, r)
	if !ok {
		return
	}
	var in MemberInput
	if !web.Decode(w, r, &in, maxBody) {
		return
	}
	m, err := a.UpdateMember(r.Context(), principal(r), id, in)
	a.reply(w, http.StatusOK, m, err)
}

func (a *API) handleHistory(w http.ResponseWriter, r *http.Request) {
	id, ok := memberID(w, r)
	if !ok {
		return
	}
	hs, err := a.History(r.Context(), id)
	a.reply(w, http.StatusOK, hs, err)
}

func (a *API) handleOpen(w http.ResponseWriter, r *http.Request) {
	id, ok := memberID(w, r)
	if !ok {
		return
	}
	var req OpenRequest
	if !web.Decode(w, r, &req, maxBody) {
		return
	}
	c, err := a.OpenCard(r.Context(), principal(r), id, req)
	if err == nil {
		w.Header().Set("Location", "/v1/cards/"+c.Number)
	}
	a.reply(w, http.StatusCreated, c, err)
}

func (a *API) handleCard(w http.ResponseWriter, r *http.Request) {
	c, err := a.GetCard(r.Context(), r.PathValue("number"))
	a.reply(w, http.StatusOK, c, err)
}

func (a *API) handleStatement(w http.ResponseWriter, r *http.Request) {
	var after int64
	if s := r.URL.Query().Get("after"); s != "" {
		var err error
		if after, err = strconv.ParseInt(s, 10, 64); err != nil || after < 0 {
			web.JSON(w, http.StatusBadRequest, web.ProblemBody{Error: "after= is a statement line id", Code: "bad_query"})
			return
		}
	}
	s, err := a.CardStatement(r.Context(), r.PathValue("number"), after)
	a.reply(w, http.StatusOK, s, err)
}

func (a *API) handleRecharge(w http.ResponseWriter, r *http.Request) {
	var req RechargeRequest
	if !web.Decode(w, r, &req, maxBody) {
		return
	}
	m, err := a.Recharge(r.Context(), principal(r), r.PathValue("number"), req)
	a.reply(w, http.StatusOK, m, err)
}

// ConsumeReply answers a consumption: the card, the statement line, and
// how the amount was paid.
type ConsumeReply struct {
	Movement
	Paid Debited `json:"paid"`
}

func (a *API) handleConsume(w http.ResponseWriter, r *http.Request) {
	var req ConsumeRequest
	if !web.Decode(w, r, &req, maxBody) {
		return
	}
	m, d, err := a.Consume(r.Context(), principal(r), r.PathValue("number"), req)
	a.reply(w, http.StatusOK, ConsumeReply{Movement: m, Paid: d}, err)
}

func (a *API) handleLost(w http.ResponseWriter, r *http.Request) {
	res, err := a.ReportLost(r.Context(), principal(r), r.PathValue("number"))
	a.reply(w, http.StatusOK, res, err)
}

func (a *API) handleReplace(w http.ResponseWriter, r *http.Request) {
	var req ReplaceRequest
	if !web.Decode(w, r, &req, maxBody) {
		return
	}
	res, err := a.ReplaceCard(r.Context(), principal(r), r.PathValue("number"), req)
	a.reply(w, http.StatusOK, res, err)
}

func (a *API) handleRenew(w http.ResponseWriter, r *http.Request) {
	var req RenewRequest
	if !web.Decode(w, r, &req, maxBody) {
		return
	}
	c, err := a.RenewCard(r.Context(), principal(r), r.PathValue("number"), req)
	a.reply(w, http.StatusOK, c, err)
}

func (a *API) handleRefund(w http.ResponseWriter, r *http.Request) {
	var req RefundRequest
	if !web.Decode(w, r, &req, maxBody) {
		return
	}
	res, err := a.RefundCard(r.Context(), principal(r), r.PathValue("number"), req)
	a.reply(w, http.StatusOK, res, err)
}
