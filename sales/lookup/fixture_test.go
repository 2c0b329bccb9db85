package lookup_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/lookup"
	"github.com/admitpark/admit/sales/pgtest"
	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/ticket"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

var secret = []byte("id-hash-secret-for-tests-0123456")

type tokens map[string]web.Principal

func (tk tokens) Authenticate(_ context.Context, token, _ string) (web.Principal, error) {
	p, ok := tk[token]
	if !ok {
		return web.Principal{}, fmt.Errorf("%w: unknown token", web.ErrUnauthenticated)
	}
	return p, nil
}

type fix struct {
	t    *testing.T
	ctx  context.Context
	pool *pgxpool.Pool
	api  *lookup.API
	srv  *httptest.Server
	seq  int
}

func newFix(t *testing.T) *fix {
	t.Helper()
	f := &fix{t: t, ctx: context.Background(), pool: pgtest.NewDB(t)}
	f.exec(`INSERT INTO parks (id, name, time_zone) VALUES ('park1', 'Park One', 'Asia/Shanghai')`)
	f.exec(`INSERT INTO distributors (id, name) VALUES (1, 'ota-a'), (2, 'ota-b')`)
	f.exec(`INSERT INTO products (id, park_id, name, kind, price_minor) VALUES ('day', 'park1', 'Day ticket', 'single', 10000)`)
	if _, err := keys.Ensure(f.ctx, f.pool, testKEK); err != nil {
		t.Fatal(err)
	}
	cfg := lookup.DefaultConfig()
	cfg.Pool, cfg.IDHashSecret = f.pool, secret
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	var err error
	if f.api, err = lookup.NewAPI(cfg); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	f.api.Routes(mux, tokens{
		"admin":   {UserID: 1, Role: web.RoleAdmin},
		"cashier": {UserID: 2, Role: web.RoleCashier},
		"gate":    {UserID: 3, Role: web.RoleGateOperator},
		"dist1":   {UserID: 4, Role: web.RoleDistributor, DistributorID: 1},
		"dist2":   {UserID: 5, Role: web.RoleDistributor, DistributorID: 2},
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fix) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := f.pool.Exec(f.ctx, sql, args...); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
}

// holder of a real-name ticket.
type holder struct{ name, idNumber string }

type sold struct {
	number  string
	tickets []string // ids, 32 hex
	codes   []string
}

// sell writes a paid order with one ticket per holder, as orders would.
func (f *fix) sell(distributor int64, phone string, holders ...holder) sold {
	f.t.Helper()
	f.seq++
	s := sold{number: fmt.Sprintf("W-LOOKUP-%03d", f.seq)}
	visit := time.Now().AddDate(0, 0, 1).UTC().Truncate(24 * time.Hour)
	from, until := visit.Add(-8*time.Hour), visit.Add(16*time.Hour)
	err := pgx.BeginFunc(f.ctx, f.pool, func(tx pgx.Tx) error {
		var dist *int64
		channel := "window"
		if distributor != 0 {
			dist, channel = &distributor, "distributor"
		}
		var orderID, lineID int64
		if err := tx.QueryRow(f.ctx, `INSERT INTO orders (number, park_id, channel, distributor_id, status, currency, total_minor, contact_phone)
			VALUES ($1, 'park1', $2, $3, 'paid', 'CNY', $4, $5) RETURNING id`, s.number, channel, dist, 10000*len(holders), phone).Scan(&orderID); err != nil {
			return err
		}
		if err := tx.QueryRow(f.ctx, `INSERT INTO order_lines (order_id, product_id, visit_date, quantity, unit_price_minor)
			VALUES ($1, 'day', $2, $3, 10000) RETURNING id`, orderID, visit, len(holders)).Scan(&lineID); err != nil {
			return err
		}
		signer, err := keys.Active(f.ctx, tx, testKEK)
		if err != nil {
			return err
		}
		for _, h := range holders {
			var id [16]byte
			rand.Read(id[:])
			c, err := signer.Sign(code.Claims{TicketID: id, Version: 1, ValidFrom: from, ValidUntil: until})
			if err != nil {
				return err
			}
			var hash []byte
			masked := ""
			if h.idNumber != "" {
				hash = lookup.HashIDNumber(secret, h.idNumber)
				masked = h.idNumber[:4] + "**********" + h.idNumber[len(h.idNumber)-4:]
			}
			if _, err := tx.Exec(f.ctx, `INSERT INTO tickets (id, order_id, order_line_id, park_id, product_id, kind, visit_date,
					valid_from, valid_until, holder_name, holder_id_hash, holder_id_masked, status, code, key_id, price_minor)
				VALUES ($1, $2, $3, 'park1', 'day', 'single', $4, $5, $6, $7, $8, $9, 'active', $10, $11, 10000)`,
				id, orderID, lineID, visit, from, until, h.name, hash, masked, c, int(signer.KeyID)); err != nil {
				return err
			}
			s.tickets = append(s.tickets, ticket.FormatID(id))
			s.codes = append(s.codes, c)
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// get calls the API; out gets a JSON reply. It returns the status and
// the raw body.
func (f *fix) get(token, path string, out any) (int, []byte, http.Header) {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, out); err != nil {
			f.t.Fatalf("GET %s: %q: %v", path, raw, err)
		}
	}
	return resp.StatusCode, raw, resp.Header
}

// testKEK seals the signing keys of these tests.
var testKEK = func() *keys.KEK {
	k, err := keys.NewKEK([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		panic(err)
	}
	return k
}()
