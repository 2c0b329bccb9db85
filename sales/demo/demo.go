// Package demo owns the demo park that admit dev (make run) sets up on a
// new sales database: park "sunny" with zones main and coaster, gates, a
// window, a cashier and five products; and the sample ticket it sells
// through the sales API to show a scan.
package demo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/auth"
	"github.com/admitpark/admit/sales/catalog"
	"github.com/admitpark/admit/sales/db"
	"github.com/admitpark/admit/sales/orders"
	"github.com/admitpark/admit/sales/payment"
	"github.com/admitpark/admit/sales/salesclient"
	"github.com/admitpark/admit/sales/web"
)

// The demo park, its window and its cashier.
const (
	Park            = "sunny"
	Window          = "window-1"
	Cashier         = "cashier"
	CashierPassword = "cashier-demo-pass"
	// TimeZone is the park's; a ticket's visit date is a day there.
	TimeZone = "Asia/Shanghai"
	// SampleProduct is the product SellSample sells.
	SampleProduct = "adult-day"
	// DemoFloatMinor is the opening float of the demo cashier's shift.
	DemoFloatMinor = 50000
)

// Setup creates the demo catalog and cashier on a new database (migrated,
// with the first admin created: auth.API.Init); it does nothing and
// returns false when the park exists.
func Setup(ctx context.Context, dsn string) (created bool, err error) {
	pool, err := db.Open(ctx, dsn, db.DefaultPoolConfig())
	if err != nil {
		return false, err
	}
	defer pool.Close()
	if _, err := catalog.GetPark(ctx, pool, Park); err == nil {
		return false, nil
	} else if !errors.Is(err, catalog.ErrNotFound) {
		return false, err
	}
	// The demo is set up in the name of the first admin (auth.API.Init ran).
	sys := web.Principal{Role: web.RoleAdmin, Username: auth.InitialAdmin, RemoteAddr: "admit dev"}
	if err := pool.QueryRow(ctx, `SELECT id FROM users WHERE username = $1`, auth.InitialAdmin).Scan(&sys.UserID); err != nil {
		return false, fmt.Errorf("demo: find the admin: %w", err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		capacity, warn := 20000, 18000
		if _, err := catalog.CreatePark(ctx, tx, sys, catalog.ParkInput{ID: Park, Name: "Sunny Park",
			TimeZone: TimeZone, Currency: "CNY", DailyCapacity: &capacity, CapacityWarn: &warn,
			OpensAt: "08:00", ClosesAt: "22:00"}); err != nil {
			return err
		}
		for _, z := range []catalog.ZoneInput{{ID: "main", Name: "Main gate", Cap: 20000, Warn: 18000}, {ID: "coaster", Name: "Dragon coaster", Cap: 40, Warn: 35}} {
			if _, _, err := catalog.SetZone(ctx, tx, sys, Park, z); err != nil {
				return err
			}
		}
		for _, g := range []catalog.GateInput{{ID: "north-1", Zone: "main"}, {ID: "north-2", Zone: "main"}, {ID: "coaster-1", Zone: "coaster", Direction: "in"}} {
			if _, _, err := catalog.SetGate(ctx, tx, sys, Park, g); err != nil {
				return err
			}
		}
		if _, err := catalog.CreateSalesPoint(ctx, tx, sys, catalog.SalesPointInput{ID: Window, ParkID: Park, Name: "Window 1", Kind: "window"}); err != nil {
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
			in.ParkID, in.Currency = Park, "CNY"
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
	if _, _, err := a.CreateUser(ctx, sys, auth.NewUser{Username: Cashier, DisplayName: "Demo cashier", Role: web.RoleCashier,
		Password: CashierPassword, SalesPointID: Window}); err != nil {
		return false, fmt.Errorf("demo cashier: %w", err)
	}
	return true, nil
}

// SellSample sells one adult ticket for today at the demo window, for
// cash, as the demo cashier, through the sales service c calls, and
// returns the ticket's id and code.
func SellSample(ctx context.Context, c *salesclient.Client) (id, code string, err error) {
	login, err := c.Login(ctx, Cashier, CashierPassword)
	if err != nil {
		return "", "", fmt.Errorf("demo cashier login: %w", err)
	}
	c = c.WithToken(login.Token)
	// Window sales need an open shift: the demo cashier opens one with a
	// float of 500.00 unless one is open.
	if _, err := c.CurrentShift(ctx); salesclient.StatusOf(err) == http.StatusNotFound {
		if _, err := c.OpenShift(ctx, DemoFloatMinor); err != nil {
			return "", "", fmt.Errorf("demo shift: %w", err)
		}
	} else if err != nil {
		return "", "", fmt.Errorf("demo shift: %w", err)
	}
	loc, _ := time.LoadLocation(TimeZone)
	order, err := c.CreateOrder(ctx, orders.CreateRequest{Lines: []orders.LineRequest{
		{ProductID: SampleProduct, VisitDate: time.Now().In(loc).Format(time.DateOnly), Quantity: 1}}})
	if err != nil {
		return "", "", fmt.Errorf("demo order: %w", err)
	}
	paid, err := c.Pay(ctx, order.Number, orders.PayRequest{Method: payment.MethodCash, AmountMinor: &order.TotalMinor})
	if err != nil {
		return "", "", fmt.Errorf("demo payment: %w", err)
	}
	if len(paid.Order.Tickets) == 0 {
		return "", "", errors.New("demo payment issued no ticket")
	}
	return paid.Order.Tickets[0].ID, paid.Order.Tickets[0].Code, nil
}
