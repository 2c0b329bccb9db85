package server

import (
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/admitpark/admit/sales/auth"
	"github.com/admitpark/admit/sales/console"
	"github.com/admitpark/admit/sales/lookup"
	"github.com/admitpark/admit/sales/orders"
	"github.com/admitpark/admit/sales/refund"
	"github.com/admitpark/admit/sales/report"
	"github.com/admitpark/admit/sales/shift"
)

// newConsole builds the web console served at / (see package console).
func newConsole(cfg Config, pool *pgxpool.Pool, a *auth.API, o *orders.API, r *refund.API, l *lookup.API, sh *shift.API, rp *report.API, log *slog.Logger) (*console.Console, error) {
	cc := console.DefaultConfig()
	cc.Pool, cc.Auth, cc.Orders, cc.Refund, cc.Lookup, cc.Shifts, cc.Reports = pool, a, o, r, l, sh, rp
	cc.Cluster.URLs, cc.Cluster.Token, cc.Cluster.Transport = cfg.ClusterURLs, cfg.ClusterToken, cfg.ClusterTransport
	cc.Secure, cc.Clock, cc.Log = cfg.TLS != nil, cfg.Clock, log.With("pkg", "console")
	return console.New(cc)
}
