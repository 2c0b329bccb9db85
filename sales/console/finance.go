package console

import (
	"context"
	"net/http"
)

func (c *Console) financeRoutes() {
	c.mux.Handle("GET /finance", c.route(rolesFinance, c.handleFinance))
}

// currentShift is the cashier's open shift (none until shifts exist).
func (c *Console) currentShift(ctx context.Context, s *sess) any { return nil }

func (c *Console) handleFinance(w http.ResponseWriter, r *http.Request, s *sess) {
	c.render(w, r, s, http.StatusOK, "finance", "title.finance", nil, "", "")
}
