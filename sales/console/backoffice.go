package console

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/auth"
	"github.com/admitpark/admit/sales/catalog"
	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/validator/gateapi"
)

var (
	errNotFound  = web.Problemf(http.StatusNotFound, "not_found", "no such action")
	errBadAmount = web.Problemf(http.StatusBadRequest, "bad_amount", "not an amount of money")
)

// The back office (admin): the park's zones, gates, sales points,
// products with their quota, stop and resume, users, distributors and the
// audit log. Every change goes through the catalog and auth functions the
// JSON API uses, so the same validation and audit records apply.

func (c *Console) adminRoutes() {
	c.mux.Handle("GET /admin", c.route(rolesAdmin, c.handleAdmin))
	c.mux.Handle("POST /admin/zones", c.route(rolesAdmin, c.handleZone))
	c.mux.Handle("POST /admin/gates", c.route(rolesAdmin, c.handleGate))
	c.mux.Handle("POST /admin/products", c.route(rolesAdmin, c.handleProduct))
	c.mux.Handle("POST /admin/products/{id}/{action}", c.route(rolesAdmin, c.handleProductAction))
	c.mux.Handle("POST /admin/prices", c.route(rolesAdmin, c.handlePrice))
	c.mux.Handle("POST /admin/sales-points", c.route(rolesAdmin, c.handleSalesPoint))
	c.mux.Handle("POST /admin/users", c.route(rolesAdmin, c.handleUserCreate))
	c.mux.Handle("POST /admin/users/{id}/{action}", c.route(rolesAdmin, c.handleUserAction))
	c.mux.Handle("POST /admin/distributors", c.route(rolesAdmin, c.handleDistributor))
	c.mux.Handle("POST /admin/distributors/{id}/keys", c.route(rolesAdmin, c.handleAPIKey))
	c.mux.Handle("GET /admin/audit", c.route(rolesAdmin, c.handleAudit))
	c.adminRoutes2()
}

// adminData is the back office screen.
type adminData struct {
	Park         catalog.Park
	Parks        []catalog.Park
	Zones        []catalog.Zone
	Gates        []catalog.Gate
	Points       []catalog.SalesPoint
	Products     []catalog.Product
	Users        []auth.User
	Distributors []auth.Distributor
	Secret       *shownOnce // a gate's device token, a password or API key: shown once
	Kinds        []string
	Roles        []string
	Extra        adminExtra // backoffice2.go
}

// shownOnce is a secret the admin must copy now.
type shownOnce struct{ Label, Value string }

func (c *Console) adminData(ctx context.Context, s *sess, parkID string) (adminData, error) {
	d := adminData{Kinds: []string{"single", "multi", "day_pass", "period", "group"}, Roles: auth.Roles}
	var err error
	if d.Parks, err = catalog.ListParks(ctx, c.cfg.Pool); err != nil {
		return d, err
	}
	if len(d.Parks) == 0 {
		d.Users, err = c.cfg.Auth.ListUsers(ctx, s.P)
		return d, err
	}
	if d.Park, err = c.parkOf(ctx, s, parkID); err != nil {
		return d, err
	}
	if d.Zones, err = catalog.ListZones(ctx, c.cfg.Pool, d.Park.ID); err != nil {
		return d, err
	}
	if d.Gates, err = catalog.ListGates(ctx, c.cfg.Pool, d.Park.ID); err != nil {
		return d, err
	}
	if d.Points, err = catalog.ListSalesPoints(ctx, c.cfg.Pool, d.Park.ID); err != nil {
		return d, err
	}
	if d.Products, err = catalog.ListProducts(ctx, c.cfg.Pool, catalog.ProductFilter{ParkID: d.Park.ID}); err != nil {
		return d, err
	}
	if d.Users, err = c.cfg.Auth.ListUsers(ctx, s.P); err != nil {
		return d, err
	}
	if d.Distributors, err = c.cfg.Auth.ListDistributors(ctx, s.P); err != nil {
		return d, err
	}
	return d, c.adminExtra(ctx, s, &d)
}

func (c *Console) handleAdmin(w http.ResponseWriter, r *http.Request, s *sess) {
	c.adminPage(w, r, s, http.StatusOK, r.URL.Query().Get("park"), nil, "", "")
}

func (c *Console) adminPage(w http.ResponseWriter, r *http.Request, s *sess, status int, parkID string, secret *shownOnce, flash, errMsg string) {
	d, err := c.adminData(r.Context(), s, parkID)
	if err != nil {
		c.render(w, r, s, errStatus(err), "error", "title.error", nil, "", c.errText(s.L, err))
		return
	}
	d.Secret = secret
	c.render(w, r, s, status, "admin", "title.admin", d, flash, errMsg)
}

// done re-renders the back office after a change: the message, or the
// refusal with its status.
func (c *Console) done(w http.ResponseWriter, r *http.Request, s *sess, err error, secret *shownOnce, okKey string, args ...any) {
	park := r.PostForm.Get("park")
	if err != nil {
		c.adminPage(w, r, s, errStatus(err), park, nil, "", c.errText(s.L, err))
		return
	}
	c.adminPage(w, r, s, http.StatusOK, park, secret, s.L.T(okKey, args...), "")
}

func (c *Console) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, c.cfg.Pool, fn)
}

func atoi(s string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(s))
	return n
}

func (c *Console) handleZone(w http.ResponseWriter, r *http.Request, s *sess) {
	f := r.PostForm
	in := catalog.ZoneInput{ID: strings.TrimSpace(f.Get("id")), Name: strings.TrimSpace(f.Get("name")), Cap: atoi(f.Get("cap")), Warn: atoi(f.Get("warn"))}
	err := c.inTx(r.Context(), func(tx pgx.Tx) error {
		_, _, err := catalog.SetZone(r.Context(), tx, s.P, f.Get("park"), in)
		return err
	})
	c.done(w, r, s, err, nil, "admin.saved_zone", in.ID)
}

// handleGate records the gate (relayed to the cluster by the outbox, as
// the API does) and registers its device with the cluster, which mints the
// device token: shown here once, never stored by sales.
func (c *Console) handleGate(w http.ResponseWriter, r *http.Request, s *sess) {
	f := r.PostForm
	in := catalog.GateInput{ID: strings.TrimSpace(f.Get("id")), Zone: f.Get("zone"), Direction: f.Get("direction")}
	err := c.inTx(r.Context(), func(tx pgx.Tx) error {
		_, _, err := catalog.SetGate(r.Context(), tx, s.P, f.Get("park"), in)
		return err
	})
	if err != nil {
		c.done(w, r, s, err, nil, "")
		return
	}
	// The sync relay adds the gate to the cluster (without a token anyone
	// knows). Mint the device's token only once it has: a token minted
	// before would be replaced by the relay's add.
	ctx, cancel := context.WithTimeout(r.Context(), 3*c.cfg.Cluster.Timeout)
	defer cancel()
	var g gateapi.GateJSON
	err = c.waitGate(ctx, in.ID)
	if err == nil {
		err = c.cluster.call(ctx, http.MethodPost, gateapi.PathGates, gateapi.GateJSON{ID: in.ID, Zone: in.Zone, Direction: in.Direction}, &g)
	}
	if err != nil {
		c.cfg.Log.Warn("console: register the gate's device with the cluster", "gate", in.ID, "err", err)
		c.adminPage(w, r, s, http.StatusOK, f.Get("park"), nil, s.L.T("admin.saved_gate_no_token", in.ID), "")
		return
	}
	c.done(w, r, s, nil, &shownOnce{Label: s.L.T("admin.gate_token", in.ID), Value: g.Token}, "admin.saved_gate", in.ID)
}

// waitGate waits until the cluster lists gate id (the relay sent it), or
// ctx ends.
func (c *Console) waitGate(ctx context.Context, id string) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		var gl gateapi.GatesResponse
		err := c.cluster.call(ctx, http.MethodGet, gateapi.PathGates, nil, &gl)
		if err == nil {
			for _, g := range gl.Gates {
				if g.ID == id {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gate %s not on the cluster yet: %w", id, ctx.Err())
		case <-t.C:
		}
	}
}

func (c *Console) handleProduct(w http.ResponseWriter, r *http.Request, s *sess) {
	f := r.PostForm
	park, err := c.parkOf(r.Context(), s, f.Get("park"))
	if err != nil {
		c.done(w, r, s, err, nil, "")
		return
	}
	in := catalog.NewProductInput()
	in.ID, in.ParkID, in.Name, in.Kind = strings.TrimSpace(f.Get("id")), park.ID, strings.TrimSpace(f.Get("name")), f.Get("kind")
	in.Entries, in.ValidDays = atoi(f.Get("entries")), max(1, atoi(f.Get("valid_days")))
	in.HasSlots, in.RealName = f.Get("has_slots") == "on", f.Get("real_name") == "on"
	if z := strings.TrimSpace(f.Get("zones")); z != "" {
		for _, id := range strings.Split(z, ",") {
			in.Zones = append(in.Zones, strings.TrimSpace(id))
		}
	}
	if q := strings.TrimSpace(f.Get("daily_quota")); q != "" {
		n := atoi(q)
		in.DailyQuota = &n
	}
	price, err := ParseMoney(f.Get("price"), park.Currency)
	if err != nil {
		c.adminPage(w, r, s, http.StatusBadRequest, park.ID, nil, "", s.L.T("err.bad_amount"))
		return
	}
	in.PriceMinor, in.Currency = price, park.Currency
	if fee := strings.TrimSpace(f.Get("refund_fee")); fee != "" {
		if in.RefundFeeMinor, err = ParseMoney(fee, park.Currency); err != nil {
			c.adminPage(w, r, s, http.StatusBadRequest, park.ID, nil, "", s.L.T("err.bad_amount"))
			return
		}
	}
	in.RefundUntilHours = atoi(f.Get("refund_until_hours"))
	in.Refundable = f.Get("refundable") == "on"
	err = c.inTx(r.Context(), func(tx pgx.Tx) error {
		_, err := catalog.CreateProduct(r.Context(), tx, s.P, in)
		return err
	})
	c.done(w, r, s, err, nil, "admin.saved_product", in.ID)
}

func (c *Console) handleProductAction(w http.ResponseWriter, r *http.Request, s *sess) {
	id, action := r.PathValue("id"), r.PathValue("action")
	err := c.inTx(r.Context(), func(tx pgx.Tx) error {
		var err error
		switch action {
		case "stop":
			_, err = catalog.StopSales(r.Context(), tx, s.P, id)
		case "resume":
			_, err = catalog.ResumeSales(r.Context(), tx, s.P, id)
		default:
			err = errNotFound
		}
		return err
	})
	c.done(w, r, s, err, nil, "admin.product_"+action, id)
}

func (c *Console) handlePrice(w http.ResponseWriter, r *http.Request, s *sess) {
	f := r.PostForm
	park, err := c.parkOf(r.Context(), s, f.Get("park"))
	if err != nil {
		c.done(w, r, s, err, nil, "")
		return
	}
	day, derr := time.Parse(time.DateOnly, f.Get("date"))
	price, perr := ParseMoney(f.Get("price"), park.Currency)
	if derr != nil || perr != nil {
		c.adminPage(w, r, s, http.StatusBadRequest, park.ID, nil, "", s.L.T("err.bad_price_date"))
		return
	}
	err = c.inTx(r.Context(), func(tx pgx.Tx) error {
		_, err := catalog.SetPrice(r.Context(), tx, s.P, f.Get("product"), day, price)
		return err
	})
	c.done(w, r, s, err, nil, "admin.saved_price", f.Get("product"), f.Get("date"))
}

func (c *Console) handleSalesPoint(w http.ResponseWriter, r *http.Request, s *sess) {
	f := r.PostForm
	in := catalog.SalesPointInput{ID: strings.TrimSpace(f.Get("id")), ParkID: f.Get("park"), Name: strings.TrimSpace(f.Get("name")), Kind: f.Get("kind")}
	if bu, err := strconv.ParseInt(f.Get("business_unit"), 10, 64); err == nil && bu > 0 {
		in.BusinessUnitID = &bu
	}
	err := c.inTx(r.Context(), func(tx pgx.Tx) error {
		_, err := catalog.CreateSalesPoint(r.Context(), tx, s.P, in)
		return err
	})
	c.done(w, r, s, err, nil, "admin.saved_point", in.ID)
}

func (c *Console) handleUserCreate(w http.ResponseWriter, r *http.Request, s *sess) {
	f := r.PostForm
	n := auth.NewUser{Username: strings.TrimSpace(f.Get("username")), DisplayName: f.Get("display_name"), Role: f.Get("role")}
	if n.Role == "cashier" {
		n.SalesPointID = f.Get("sales_point")
	}
	u, once, err := c.cfg.Auth.CreateUser(r.Context(), s.P, n)
	var sec *shownOnce
	if err == nil && once != "" {
		sec = &shownOnce{Label: s.L.T("admin.one_time_password", u.Username), Value: once}
	}
	c.done(w, r, s, err, sec, "admin.saved_user", n.Username)
}

func (c *Console) handleUserAction(w http.ResponseWriter, r *http.Request, s *sess) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		c.done(w, r, s, errNotFound, nil, "")
		return
	}
	ctx := r.Context()
	var u auth.User
	var sec *shownOnce
	switch action := r.PathValue("action"); action {
	case "disable":
		u, err = c.cfg.Auth.SetDisabled(ctx, s.P, id, true)
	case "enable":
		u, err = c.cfg.Auth.SetDisabled(ctx, s.P, id, false)
	case "unlock":
		u, err = c.cfg.Auth.Unlock(ctx, s.P, id)
	case "reset":
		var once string
		u, once, err = c.cfg.Auth.ResetPassword(ctx, s.P, id)
		if err == nil {
			sec = &shownOnce{Label: s.L.T("admin.one_time_password", u.Username), Value: once}
		}
	default:
		err = errNotFound
	}
	c.done(w, r, s, err, sec, "admin.user_done", u.Username)
}

func (c *Console) handleDistributor(w http.ResponseWriter, r *http.Request, s *sess) {
	d, err := c.cfg.Auth.CreateDistributor(r.Context(), s.P, strings.TrimSpace(r.PostForm.Get("name")))
	c.done(w, r, s, err, nil, "admin.saved_distributor", d.Name)
}

func (c *Console) handleAPIKey(w http.ResponseWriter, r *http.Request, s *sess) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		c.done(w, r, s, errNotFound, nil, "")
		return
	}
	_, key, err := c.cfg.Auth.CreateAPIKey(r.Context(), s.P, id)
	var sec *shownOnce
	if err == nil {
		sec = &shownOnce{Label: s.L.T("admin.api_key"), Value: key}
	}
	c.done(w, r, s, err, sec, "admin.saved_key")
}

// auditData is the audit log page: a page of audit.API.Query (i14's
// query of the audit log, as GET /v1/audit serves it).
type auditData struct {
	Page   audit.Page
	Loc    *time.Location
	Action string
}

func (c *Console) handleAudit(w http.ResponseWriter, r *http.Request, s *sess) {
	ctx := r.Context()
	q := r.URL.Query()
	d := auditData{Action: strings.TrimSpace(q.Get("action")), Loc: time.UTC}
	if park, err := c.parkOf(ctx, s, ""); err == nil {
		d.Loc = park.Location()
	}
	f := audit.Filter{Limit: 100}
	if d.Action != "" {
		f.Action = d.Action
		if !strings.HasSuffix(f.Action, "*") && !strings.HasSuffix(f.Action, ".") {
			f.Action += "*" // a prefix: "refund" finds refund.request, refund.complete...
		}
	}
	if b, err := strconv.ParseInt(q.Get("before"), 10, 64); err == nil && b > 0 {
		f.Before = b
	}
	page, err := c.audit.Query(ctx, f)
	if err != nil {
		c.render(w, r, s, errStatus(err), "audit", "title.audit", d, "", c.errText(s.L, err))
		return
	}
	d.Page = page
	c.render(w, r, s, http.StatusOK, "audit", "title.audit", d, "", "")
}
