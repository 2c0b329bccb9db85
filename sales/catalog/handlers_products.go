package catalog

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/web"
)

func (a *API) listProducts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := ProductFilter{ParkID: q.Get("park")}
	switch q.Get("active") {
	case "", "false":
	case "true":
		f.ActiveOnly = true
	default:
		web.Error(w, http.StatusBadRequest, `"active" must be true or false`)
		return
	}
	products, err := ListProducts(r.Context(), a.cfg.Pool, f)
	if err != nil {
		a.fail(w, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"products": products})
}

func (a *API) getProduct(w http.ResponseWriter, r *http.Request) {
	p, err := GetProduct(r.Context(), a.cfg.Pool, r.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	web.JSON(w, http.StatusOK, p)
}

func (a *API) createProduct(w http.ResponseWriter, r *http.Request) {
	in := NewProductInput()
	if !a.decode(w, r, &in) {
		return
	}
	writeTx(a, w, r, http.StatusCreated, func(ctx context.Context, tx pgx.Tx) (Product, error) {
		return CreateProduct(ctx, tx, principal(r), in)
	})
}

// updateProduct changes the fields the body names; the others keep their
// values.
func (a *API) updateProduct(w http.ResponseWriter, r *http.Request) {
	mergeUpdate(a, w, r, "product", getProductForUpdate, func(in ProductInput) string { return in.ID }, UpdateProduct)
}

func (a *API) listPrices(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var from, to time.Time
	var err error
	if s := r.URL.Query().Get("from"); s != "" {
		if from, err = parseDate("from", s); err != nil {
			a.fail(w, err)
			return
		}
	}
	if s := r.URL.Query().Get("to"); s != "" {
		if to, err = parseDate("to", s); err != nil {
			a.fail(w, err)
			return
		}
	}
	p, err := GetProduct(r.Context(), a.cfg.Pool, id)
	if err != nil {
		a.fail(w, err)
		return
	}
	prices, err := ListPrices(r.Context(), a.cfg.Pool, id, from, to)
	if err != nil {
		a.fail(w, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"product_id": id, "currency": p.Currency,
		"base_price_minor": p.PriceMinor, "overrides": prices})
}

func (a *API) setPrice(w http.ResponseWriter, r *http.Request) {
	date, err := parseDate("date", r.PathValue("date"))
	if err != nil {
		a.fail(w, err)
		return
	}
	var in struct {
		PriceMinor *int64 `json:"price_minor"`
	}
	if !a.decode(w, r, &in) {
		return
	}
	if in.PriceMinor == nil {
		a.fail(w, invalid("bad_price", `"price_minor" is required`))
		return
	}
	var o PriceOverride
	err = a.inTx(r.Context(), func(tx pgx.Tx) (err error) {
		o, err = SetPrice(r.Context(), tx, principal(r), r.PathValue("id"), date, *in.PriceMinor)
		return err
	})
	if err != nil {
		a.fail(w, err)
		return
	}
	web.JSON(w, http.StatusOK, o)
}

func (a *API) deletePrice(w http.ResponseWriter, r *http.Request) {
	date, err := parseDate("date", r.PathValue("date"))
	if err != nil {
		a.fail(w, err)
		return
	}
	id := r.PathValue("id")
	err = a.inTx(r.Context(), func(tx pgx.Tx) error {
		return DeletePrice(r.Context(), tx, principal(r), id, date)
	})
	if err != nil {
		a.fail(w, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]string{"product_id": id, "date": dateOf(date), "removed": "price override"})
}

func (a *API) listSlots(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := GetProduct(r.Context(), a.cfg.Pool, id); err != nil {
		a.fail(w, err)
		return
	}
	slots, err := ListSlots(r.Context(), a.cfg.Pool, id)
	if err != nil {
		a.fail(w, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"slots": slots})
}

func (a *API) createSlot(w http.ResponseWriter, r *http.Request) {
	var in SlotInput
	if !a.decode(w, r, &in) {
		return
	}
	writeTx(a, w, r, http.StatusCreated, func(ctx context.Context, tx pgx.Tx) (Slot, error) {
		return CreateSlot(ctx, tx, principal(r), r.PathValue("id"), in)
	})
}

func (a *API) stopSales(w http.ResponseWriter, r *http.Request)   { a.salesStop(w, r, true) }
func (a *API) resumeSales(w http.ResponseWriter, r *http.Request) { a.salesStop(w, r, false) }

func (a *API) salesStop(w http.ResponseWriter, r *http.Request, stop bool) {
	var p Product
	err := a.inTx(r.Context(), func(tx pgx.Tx) (err error) {
		if stop {
			p, err = StopSales(r.Context(), tx, principal(r), r.PathValue("id"))
		} else {
			p, err = ResumeSales(r.Context(), tx, principal(r), r.PathValue("id"))
		}
		return err
	})
	if err != nil {
		a.fail(w, err)
		return
	}
	if stop {
		a.log.Info("sales stopped", "product", p.ID, "by", principal(r).Username)
	} else {
		a.log.Info("sales resumed", "product", p.ID, "by", principal(r).Username)
	}
	web.JSON(w, http.StatusOK, p)
}

func (a *API) availability(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	product := q.Get("product")
	if product == "" {
		a.fail(w, invalid("bad_product", `query parameter "product" is required`))
		return
	}
	date, err := parseDate("date", q.Get("date"))
	if err != nil {
		a.fail(w, err)
		return
	}
	var slot int64
	if s := q.Get("slot"); s != "" {
		if slot, err = strconv.ParseInt(s, 10, 64); err != nil || slot < 1 {
			a.fail(w, invalid("bad_slot", `query parameter "slot" must be a slot id (a positive integer), got %q`, s))
			return
		}
	}
	av, err := CheckAvailability(r.Context(), a.cfg.Pool, product, date, slot, a.cfg.Clock.Now())
	if err != nil {
		a.fail(w, err)
		return
	}
	web.JSON(w, http.StatusOK, av)
}
