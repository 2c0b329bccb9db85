package server

import (
	"context"
	"net/http"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/admitpark/admit/sales/credential"
	"github.com/admitpark/admit/sales/datechange"
	"github.com/admitpark/admit/sales/member"
	"github.com/admitpark/admit/sales/web"
)

// membersRoutes wires members and cards (package member) and date changes
// (package datechange), and sends the
// gate's ID-number key to every park's cluster that lacks it.
func membersRoutes(ctx context.Context, cfg Config, pool *pgxpool.Pool, mux *http.ServeMux, authn web.Authenticator) error {
	mcfg := member.DefaultConfig()
	mcfg.Pool, mcfg.Clock, mcfg.Log = pool, cfg.Clock, cfg.Logger.With("pkg", "member")
	mcfg.HolderIDSecret, mcfg.KEK = cfg.HolderSecret, cfg.KEK
	api, err := member.NewAPI(mcfg)
	if err != nil {
		return err
	}
	api.Routes(mux, authn)
	dcfg := datechange.DefaultConfig()
	dcfg.Pool, dcfg.Clock, dcfg.Log, dcfg.KEK = pool, cfg.Clock, cfg.Logger.With("pkg", "datechange"), cfg.KEK
	dc, err := datechange.NewAPI(dcfg)
	if err != nil {
		return err
	}
	dc.Routes(mux, authn)
	return credential.PublishGateKey(ctx, pool, credential.GateIDKey(cfg.HolderSecret))
}

// sendGateKey gives a new park's cluster the gate's ID-number key in the
// transaction that creates the park (catalog.Config.ParkCreated), so an ID
// card read at its gates is decided (unknown) before its first real-name
// ticket is sold.
func sendGateKey(holderSecret []byte) func(context.Context, pgx.Tx, string) error {
	key := credential.GateIDKey(holderSecret)
	return func(ctx context.Context, tx pgx.Tx, park string) error {
		return credential.EnsureGateKey(ctx, tx, park, key)
	}
}
