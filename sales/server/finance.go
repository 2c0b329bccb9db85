package server

import (
	"log/slog"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/report"
	"github.com/admitpark/admit/sales/shift"
	"github.com/admitpark/admit/sales/web"
)

// financeAPIs builds what finance reads: cashier shifts, the reports and
// the audit log. It returns the function that registers their routes.
func financeAPIs(pool *pgxpool.Pool, cfg Config, log *slog.Logger) (func(*http.ServeMux, web.Authenticator), error) {
	scfg := shift.DefaultConfig()
	scfg.Pool, scfg.Clock, scfg.Log, scfg.Registerer = pool, cfg.Clock, log.With("pkg", "shift"), cfg.Registerer
	shifts, err := shift.NewAPI(scfg)
	if err != nil {
		return nil, err
	}
	rcfg := report.DefaultConfig()
	rcfg.Pool, rcfg.Clock, rcfg.Log, rcfg.Shifts = pool, cfg.Clock, log.With("pkg", "report"), shifts
	reports, err := report.NewAPI(rcfg)
	if err != nil {
		return nil, err
	}
	acfg := audit.DefaultConfig()
	acfg.Pool, acfg.Log = pool, log.With("pkg", "audit")
	auditLog, err := audit.NewAPI(acfg)
	if err != nil {
		return nil, err
	}
	return func(mux *http.ServeMux, authn web.Authenticator) {
		shifts.Routes(mux, authn)
		reports.Routes(mux, authn)
		auditLog.Routes(mux, authn)
	}, nil
}
