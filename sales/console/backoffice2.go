package console

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/auth"
	"github.com/admitpark/admit/sales/catalog"
)

// The rest of the back office: parks, business units, time slots,
// changing a product's price and quota, editing a user, revoking an API
// key.

func (c *Console) adminRoutes2() {
	c.mux.Handle("POST /admin/parks", c.route(rolesAdmin, c.handlePark))
	c.mux.Handle("POST /admin/business-units", c.route(rolesAdmin, c.handleBusinessUnit))
	c.mux.Handle("POST /admin/slots", c.route(rolesAdmin, c.handleSlot))
	c.mux.Handle("POST /admin/product-edit", c.route(rolesAdmin, c.handleProductEdit))
	c.mux.Handle("POST /admin/user-edit", c.route(rolesAdmin, c.handleUserEdit))
	c.mux.Handle("POST /admin/api-keys/{id}/revoke", c.route(rolesAdmin, c.handleRevokeKey))
}

// adminExtra is what the second half of the back office lists.
type adminExtra struct {
	Units []catalog.BusinessUnit
	Slots []catalog.Slot
	Keys  map[int64][]auth.APIKey // by distributor
}

func (c *Console) adminExtra(ctx context.Context, s *sess, d *adminData) error {
	var err error
	if d.Park.ID != "" {
		if d.Extra.Units, err = catalog.ListBusinessUnits(ctx, c.cfg.Pool, d.Park.ID); err != nil {
			return err
		}
	}
	for _, p := range d.Products {
		if !p.HasSlots {
			continue
		}
		sl, err := catalog.ListSlots(ctx, c.cfg.Pool, p.ID)
		if err != nil {
			return err
		}
		d.Extra.Slots = append(d.Extra.Slots, sl...)
	}
	d.Extra.Keys = map[int64][]auth.APIKey{}
	for _, dist := range d.Distributors {
		if d.Extra.Keys[dist.ID], err = c.cfg.Auth.ListAPIKeys(ctx, s.P, dist.ID); err != nil {
			return err
		}
	}
	return nil
}

func (c *Console) handlePark(w http.ResponseWriter, r *http.Request, s *sess) {
	f := r.PostForm
	in := catalog.ParkInput{ID: strings.TrimSpace(f.Get("id")), Name: strings.TrimSpace(f.Get("name")),
		TimeZone: strings.TrimSpace(f.Get("time_zone")), Currency: strings.ToUpper(strings.TrimSpace(f.Get("currency"))),
		OpensAt: f.Get("opens_at"), ClosesAt: f.Get("closes_at")}
	if v := strings.TrimSpace(f.Get("daily_capacity")); v != "" {
		n := atoi(v)
		in.DailyCapacity = &n
	}
	if v := strings.TrimSpace(f.Get("capacity_warn")); v != "" {
		n := atoi(v)
		in.CapacityWarn = &n
	}
	err := c.inTx(r.Context(), func(tx pgx.Tx) error {
		_, err := catalog.CreatePark(r.Context(), tx, s.P, in)
		return err
	})
	if err == nil {
		r.PostForm.Set("park", in.ID)
	}
	c.done(w, r, s, err, nil, "admin.saved_park", in.ID)
}

func (c *Console) handleBusinessUnit(w http.ResponseWriter, r *http.Request, s *sess) {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	err := c.inTx(r.Context(), func(tx pgx.Tx) error {
		_, err := catalog.CreateBusinessUnit(r.Context(), tx, s.P, r.PostForm.Get("park"), catalog.BusinessUnitInput{Name: name})
		return err
	})
	c.done(w, r, s, err, nil, "admin.saved_unit", name)
}

func (c *Console) handleSlot(w http.ResponseWriter, r *http.Request, s *sess) {
	f := r.PostForm
	in := catalog.SlotInput{Start: f.Get("start"), End: f.Get("end"), Capacity: atoi(f.Get("capacity"))}
	err := c.inTx(r.Context(), func(tx pgx.Tx) error {
		_, err := catalog.CreateSlot(r.Context(), tx, s.P, f.Get("product"), in)
		return err
	})
	c.done(w, r, s, err, nil, "admin.saved_slot", f.Get("product"), in.Start, in.End)
}

// handleProductEdit changes a product's name, base price and daily quota
// (empty quota: none); the rest stays as it is.
func (c *Console) handleProductEdit(w http.ResponseWriter, r *http.Request, s *sess) {
	f := r.PostForm
	id := f.Get("product")
	err := c.inTx(r.Context(), func(tx pgx.Tx) error {
		p, err := catalog.GetProduct(r.Context(), tx, id)
		if err != nil {
			return err
		}
		in := p.Input()
		if n := strings.TrimSpace(f.Get("name")); n != "" {
			in.Name = n
		}
		if v := strings.TrimSpace(f.Get("price")); v != "" {
			if in.PriceMinor, err = ParseMoney(v, p.Currency); err != nil {
				return errBadAmount
			}
		}
		in.DailyQuota = nil
		if v := strings.TrimSpace(f.Get("daily_quota")); v != "" {
			n := atoi(v)
			in.DailyQuota = &n
		}
		_, err = catalog.UpdateProduct(r.Context(), tx, s.P, in)
		return err
	})
	c.done(w, r, s, err, nil, "admin.saved_product_edit", id)
}

func (c *Console) handleUserEdit(w http.ResponseWriter, r *http.Request, s *sess) {
	f := r.PostForm
	id, err := strconv.ParseInt(f.Get("user"), 10, 64)
	if err != nil {
		c.done(w, r, s, errNotFound, nil, "")
		return
	}
	ch := auth.UserChange{}
	name := f.Get("display_name")
	ch.DisplayName = &name
	if sp := f.Get("sales_point"); sp != "" {
		ch.SalesPointID = &sp
	}
	u, err := c.cfg.Auth.UpdateUser(r.Context(), s.P, id, ch)
	c.done(w, r, s, err, nil, "admin.user_done", u.Username)
}

func (c *Console) handleRevokeKey(w http.ResponseWriter, r *http.Request, s *sess) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		c.done(w, r, s, errNotFound, nil, "")
		return
	}
	k, err := c.cfg.Auth.RevokeAPIKey(r.Context(), s.P, id)
	c.done(w, r, s, err, nil, "admin.revoked_key", k.Prefix)
}
