package console

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/admitpark/admit/sales/shift"
)

// The cashier's shift on the box office screen: open it with the float,
// see what the drawer (and the card and wallet terminals) should hold,
// close it with the cash counted and the terminals' totals. The
// shift rules (one open shift, window sales need it, the frozen report)
// are package shift's.

func (c *Console) shiftRoutes() {
	c.mux.Handle("POST /box/shift/open", c.route(rolesBox, c.handleShiftOpen))
	c.mux.Handle("POST /box/shift/close", c.route(rolesBox, c.handleShiftClose))
	c.mux.Handle("POST /finance/shifts/{id}/confirm", c.route(rolesFinance, c.handleShiftConfirm))
}

// shiftView is the shift panel.
type shiftView struct {
	Open     *shift.Shift
	Required bool         // window sales need an open shift
	Closed   *shift.Shift // just closed: its report
}

// currentShift is the cashier's open shift (nil for other roles).
func (c *Console) currentShift(ctx context.Context, s *sess) *shiftView {
	if s.P.SalesPointID == "" {
		return nil
	}
	v := &shiftView{}
	req, err := shift.Required(ctx, c.cfg.Pool)
	if err != nil {
		c.cfg.Log.Warn("console: shift settings", "err", err)
	}
	v.Required = req
	sh, err := c.cfg.Shifts.Current(ctx, s.P)
	switch {
	case err == nil:
		v.Open = &sh
	case !errors.Is(err, shift.ErrNoOpenShift):
		c.cfg.Log.Warn("console: current shift", "err", err)
	}
	return v
}

func (c *Console) boxAgain(w http.ResponseWriter, r *http.Request, s *sess, status int, flash, errMsg string, closed *shift.Shift) {
	park, err := c.parkOf(r.Context(), s, "")
	if err != nil {
		c.render(w, r, s, errStatus(err), "error", "title.error", nil, "", c.errText(s.L, err))
		return
	}
	d, err := c.boxData(r.Context(), s, park)
	if err != nil {
		c.render(w, r, s, errStatus(err), "error", "title.error", nil, "", c.errText(s.L, err))
		return
	}
	if d.Shift != nil {
		d.Shift.Closed = closed
	}
	c.render(w, r, s, status, "box", "title.box", d, flash, errMsg)
}

func (c *Console) handleShiftOpen(w http.ResponseWriter, r *http.Request, s *sess) {
	park, err := c.parkOf(r.Context(), s, "")
	if err != nil {
		c.boxAgain(w, r, s, errStatus(err), "", c.errText(s.L, err), nil)
		return
	}
	var float int64
	if f := strings.TrimSpace(r.PostForm.Get("float")); f != "" {
		if float, err = ParseMoney(f, park.Currency); err != nil {
			c.boxAgain(w, r, s, http.StatusBadRequest, "", s.L.T("err.bad_amount"), nil)
			return
		}
	}
	sh, err := c.cfg.Shifts.Open(r.Context(), s.P, shift.OpenRequest{OpeningFloatMinor: float})
	if err != nil {
		c.boxAgain(w, r, s, errStatus(err), "", c.errText(s.L, err), nil)
		return
	}
	c.boxAgain(w, r, s, http.StatusOK, s.L.T("shift.opened", sh.ID, Money(float, sh.Currency)), "", nil)
}

func (c *Console) handleShiftClose(w http.ResponseWriter, r *http.Request, s *sess) {
	cur, err := c.cfg.Shifts.Current(r.Context(), s.P)
	if err != nil {
		c.boxAgain(w, r, s, errStatus(err), "", c.errText(s.L, err), nil)
		return
	}
	cash, err := ParseMoney(r.PostForm.Get("counted"), cur.Currency)
	if err != nil {
		c.boxAgain(w, r, s, http.StatusBadRequest, "", s.L.T("err.bad_amount"), nil)
		return
	}
	counted := map[string]int64{"cash": cash}
	// Card and wallet: the terminals' totals for the shift, asked for
	// when the shift took such payments (the form shows their fields).
	for _, m := range cur.Report.Methods {
		if m.Method == "cash" {
			continue
		}
		v, err := ParseMoney(r.PostForm.Get("counted_"+m.Method), cur.Currency)
		if err != nil {
			c.boxAgain(w, r, s, http.StatusBadRequest, "", s.L.T("err.bad_amount"), nil)
			return
		}
		counted[m.Method] = v
	}
	sh, err := c.cfg.Shifts.Close(r.Context(), s.P, cur.ID, shift.CloseRequest{Counted: counted,
		Note: strings.TrimSpace(r.PostForm.Get("note"))})
	if err != nil {
		c.boxAgain(w, r, s, errStatus(err), "", c.errText(s.L, err), nil)
		return
	}
	c.boxAgain(w, r, s, http.StatusOK, s.L.T("shift.closed", sh.ID), "", &sh)
}

func (c *Console) handleShiftConfirm(w http.ResponseWriter, r *http.Request, s *sess) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		c.render(w, r, s, http.StatusBadRequest, "error", "title.error", nil, "", s.L.T("err.bad_form"))
		return
	}
	sh, err := c.cfg.Shifts.Confirm(r.Context(), s.P, id, shift.ConfirmRequest{Note: strings.TrimSpace(r.PostForm.Get("note"))})
	if err != nil {
		c.financePage(w, r, s, errStatus(err), "", c.errText(s.L, err))
		return
	}
	c.financePage(w, r, s, http.StatusOK, s.L.T("shift.confirmed", sh.ID, sh.Username), "")
}
