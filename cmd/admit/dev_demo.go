package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/cluster/httpapi"
	"github.com/admitpark/admit/sales/auth"
	"github.com/admitpark/admit/sales/catalog"
	"github.com/admitpark/admit/sales/db"
	"github.com/admitpark/admit/sales/web"
)

// The demo park make run sets up once: a park with two zones and gates,
// a window, a cashier and a few products.
const (
	demoPark            = "sunny"
	demoCashier         = "cashier"
	demoCashierPassword = "cashier-demo-pass"
)

// setupDemo creates the demo catalog on a new database; it does nothing
// when the park exists.
func setupDemo(ctx context.Context, dsn string) (created bool, err error) {
	pool, err := db.Open(ctx, dsn, db.DefaultPoolConfig())
	if err != nil {
		return false, err
	}
	defer pool.Close()
	if _, err := catalog.GetPark(ctx, pool, demoPark); err == nil {
		return false, nil
	} else if !errors.Is(err, catalog.ErrNotFound) {
		return false, err
	}
	// The demo is set up in the name of the first admin (salesInit ran).
	sys := web.Principal{Role: web.RoleAdmin, Username: auth.InitialAdmin, RemoteAddr: "admit dev"}
	if err := pool.QueryRow(ctx, `SELECT id FROM users WHERE username = $1`, auth.InitialAdmin).Scan(&sys.UserID); err != nil {
		return false, fmt.Errorf("demo: find the admin: %w", err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		capacity, warn := 20000, 18000
		if _, err := catalog.CreatePark(ctx, tx, sys, catalog.ParkInput{ID: demoPark, Name: "Sunny Park",
			TimeZone: "Asia/Shanghai", Currency: "CNY", DailyCapacity: &capacity, CapacityWarn: &warn,
			OpensAt: "08:00", ClosesAt: "22:00"}); err != nil {
			return err
		}
		for _, z := range []catalog.ZoneInput{{ID: "main", Name: "Main gate", Cap: 20000, Warn: 18000}, {ID: "coaster", Name: "Dragon coaster", Cap: 40, Warn: 35}} {
			if _, _, err := catalog.SetZone(ctx, tx, sys, demoPark, z); err != nil {
				return err
			}
		}
		for _, g := range []catalog.GateInput{{ID: "north-1", Zone: "main"}, {ID: "north-2", Zone: "main"}, {ID: "coaster-1", Zone: "coaster", Direction: "in"}} {
			if _, _, err := catalog.SetGate(ctx, tx, sys, demoPark, g); err != nil {
				return err
			}
		}
		if _, err := catalog.CreateSalesPoint(ctx, tx, sys, catalog.SalesPointInput{ID: "window-1", ParkID: demoPark, Name: "Window 1", Kind: "window"}); err != nil {
			return err
		}
		quota := 5000
		products := []func(p *catalog.ProductInput){
			func(p *catalog.ProductInput) {
				p.ID, p.Name, p.Kind, p.PriceMinor, p.DailyQuota = "adult-day", "Adult day ticket", "single", 18000, &quota
				p.RefundUntilHours, p.RefundFeePercent = -24, 10 // refunds until the end of the visit day, 10 % fee
			},
			func(p *catalog.ProductInput) {
				p.ID, p.Name, p.Kind, p.PriceMinor, p.RefundUntilHours = "child-day", "Child day ticket", "single", 9000, -24
			},
			func(p *catalog.ProductInput) {
				p.ID, p.Name, p.Kind, p.PriceMinor, p.Zones = "day-pass", "Day pass with re-entry, coaster included", "day_pass", 26000, []string{"main", "coaster"}
			},
			func(p *catalog.ProductInput) {
				p.ID, p.Name, p.Kind, p.PriceMinor, p.ValidDays, p.Refundable = "annual", "Annual pass (one entry a day)", "period", 98000, 365, false
			},
			func(p *catalog.ProductInput) {
				p.ID, p.Name, p.Kind, p.Entries, p.PriceMinor = "family-4", "Family ticket for 4", "group", 4, 52000
			},
		}
		for _, set := range products {
			in := catalog.NewProductInput()
			in.ParkID, in.Currency = demoPark, "CNY"
			set(&in)
			if _, err := catalog.CreateProduct(ctx, tx, sys, in); err != nil {
				return fmt.Errorf("product: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("demo catalog: %w", err)
	}
	acfg := auth.DefaultConfig()
	acfg.Pool = pool
	a, err := auth.NewAPI(acfg)
	if err != nil {
		return false, err
	}
	if _, _, err := a.CreateUser(ctx, sys, auth.NewUser{Username: demoCashier, DisplayName: "Demo cashier", Role: web.RoleCashier,
		Password: demoCashierPassword, SalesPointID: "window-1"}); err != nil {
		return false, fmt.Errorf("demo cashier: %w", err)
	}
	return true, nil
}

// sellSample sells one adult ticket for today at the demo window, for
// cash, as the demo cashier, and returns the ticket's id and code.
func sellSample(ctx context.Context, salesURL string) (id, code string, err error) {
	c, err := httpapi.NewClient(salesURL, "")
	if err != nil {
		return "", "", err
	}
	var login struct {
		Token string `json:"token"`
	}
	if err := c.Do(ctx, http.MethodPost, "/v1/login", map[string]string{"username": demoCashier, "password": demoCashierPassword}, &login); err != nil {
		return "", "", fmt.Errorf("demo cashier login: %w", err)
	}
	c.AdminToken = login.Token
	loc, _ := time.LoadLocation("Asia/Shanghai")
	var order struct {
		Number     string `json:"number"`
		TotalMinor int64  `json:"total_minor"`
	}
	req := map[string]any{"lines": []map[string]any{{"product_id": "adult-day", "visit_date": time.Now().In(loc).Format(time.DateOnly), "quantity": 1}}}
	if err := c.Do(ctx, http.MethodPost, "/v1/orders", req, &order); err != nil {
		return "", "", fmt.Errorf("demo order: %w", err)
	}
	var paid struct {
		Order struct {
			Tickets []struct {
				ID   string `json:"id"`
				Code string `json:"code"`
			} `json:"tickets"`
		} `json:"order"`
	}
	if err := c.Do(ctx, http.MethodPost, "/v1/orders/"+order.Number+"/pay", map[string]any{"method": "cash", "amount_minor": order.TotalMinor}, &paid); err != nil {
		return "", "", fmt.Errorf("demo payment: %w", err)
	}
	if len(paid.Order.Tickets) == 0 {
		return "", "", errors.New("demo payment issued no ticket")
	}
	return paid.Order.Tickets[0].ID, paid.Order.Tickets[0].Code, nil
}
