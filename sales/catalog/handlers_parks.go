package catalog

import (
	"context"
	"net/http"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/web"
)

func (a *API) listParks(w http.ResponseWriter, r *http.Request) {
	parks, err := ListParks(r.Context(), a.cfg.Pool)
	if err != nil {
		a.fail(w, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"parks": parks})
}

func (a *API) getPark(w http.ResponseWriter, r *http.Request) {
	p, err := GetPark(r.Context(), a.cfg.Pool, r.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	web.JSON(w, http.StatusOK, p)
}

func (a *API) createPark(w http.ResponseWriter, r *http.Request) {
	var in ParkInput
	if !a.decode(w, r, &in) {
		return
	}
	writeTx(a, w, r, http.StatusCreated, func(ctx context.Context, tx pgx.Tx) (Park, error) {
		p, err := CreatePark(ctx, tx, principal(r), in)
		if err == nil && a.cfg.ParkCreated != nil {
			err = a.cfg.ParkCreated(ctx, tx, p.ID)
		}
		return p, err
	})
}

// updatePark changes the fields the body names; the others keep their
// values.
func (a *API) updatePark(w http.ResponseWriter, r *http.Request) {
	mergeUpdate(a, w, r, "park", getParkForUpdate, func(in ParkInput) string { return in.ID }, UpdatePark)
}

// parkExists answers 404 for an unknown park and returns false.
func (a *API) parkExists(w http.ResponseWriter, r *http.Request) bool {
	if _, err := GetPark(r.Context(), a.cfg.Pool, r.PathValue("id")); err != nil {
		a.fail(w, err)
		return false
	}
	return true
}

func (a *API) listZones(w http.ResponseWriter, r *http.Request) {
	if !a.parkExists(w, r) {
		return
	}
	zones, err := ListZones(r.Context(), a.cfg.Pool, r.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"zones": zones})
}

func createdStatus(created bool) int {
	if created {
		return http.StatusCreated
	}
	return http.StatusOK
}

func (a *API) setZone(w http.ResponseWriter, r *http.Request) {
	var in ZoneInput
	if !a.decode(w, r, &in) {
		return
	}
	var z Zone
	var created bool
	err := a.inTx(r.Context(), func(tx pgx.Tx) (err error) {
		z, created, err = SetZone(r.Context(), tx, principal(r), r.PathValue("id"), in)
		return err
	})
	if err != nil {
		a.fail(w, err)
		return
	}
	web.JSON(w, createdStatus(created), z)
}

func (a *API) listGates(w http.ResponseWriter, r *http.Request) {
	if !a.parkExists(w, r) {
		return
	}
	gates, err := ListGates(r.Context(), a.cfg.Pool, r.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"gates": gates})
}

func (a *API) setGate(w http.ResponseWriter, r *http.Request) {
	var in GateInput
	if !a.decode(w, r, &in) {
		return
	}
	var g Gate
	var created bool
	err := a.inTx(r.Context(), func(tx pgx.Tx) (err error) {
		g, created, err = SetGate(r.Context(), tx, principal(r), r.PathValue("id"), in)
		return err
	})
	if err != nil {
		a.fail(w, err)
		return
	}
	web.JSON(w, createdStatus(created), g)
}

func (a *API) listBusinessUnits(w http.ResponseWriter, r *http.Request) {
	if !a.parkExists(w, r) {
		return
	}
	units, err := ListBusinessUnits(r.Context(), a.cfg.Pool, r.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"business_units": units})
}

func (a *API) createBusinessUnit(w http.ResponseWriter, r *http.Request) {
	var in BusinessUnitInput
	if !a.decode(w, r, &in) {
		return
	}
	writeTx(a, w, r, http.StatusCreated, func(ctx context.Context, tx pgx.Tx) (BusinessUnit, error) {
		return CreateBusinessUnit(ctx, tx, principal(r), r.PathValue("id"), in)
	})
}

func (a *API) listSalesPoints(w http.ResponseWriter, r *http.Request) {
	points, err := ListSalesPoints(r.Context(), a.cfg.Pool, r.URL.Query().Get("park"))
	if err != nil {
		a.fail(w, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"sales_points": points})
}

func (a *API) createSalesPoint(w http.ResponseWriter, r *http.Request) {
	var in SalesPointInput
	if !a.decode(w, r, &in) {
		return
	}
	writeTx(a, w, r, http.StatusCreated, func(ctx context.Context, tx pgx.Tx) (SalesPoint, error) {
		return CreateSalesPoint(ctx, tx, principal(r), in)
	})
}
