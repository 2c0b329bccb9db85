package orders

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/payment"
	"github.com/admitpark/admit/sales/shift"
	"github.com/admitpark/admit/sales/web"
)

// PayRequest is the body of POST /v1/orders/{id}/pay: cash at a window
// ({"method":"cash","amount_minor":N}, N the order total), a card or
// wallet payment taken on the window's terminal ({"method":"card",
// "reference":"slip ref"}, amount_minor optional and then the total) or
// online ({"method":"provider","provider":"test"}).
type PayRequest struct {
	Method      string `json:"method"`
	AmountMinor *int64 `json:"amount_minor,omitempty"`
	Provider    string `json:"provider,omitempty"`
	// Reference: methods card and wallet, the reference the terminal
	// printed (at most payment.MaxReferenceRunes characters).
	Reference string `json:"reference,omitempty"`
	// Card and RedeemPoints: method stored_value, from a member card's
	// balance, points redeemed first.
	Card         string `json:"card,omitempty"`
	RedeemPoints int64  `json:"redeem_points,omitempty"`
}

// PayResult answers a payment: the order (paid, with tickets, after cash),
// and for an online payment where the buyer pays.
type PayResult struct {
	Order       Order     `json:"order"`
	PaymentID   int64     `json:"payment_id"`
	Card        *CardPaid `json:"card,omitempty"` // stored_value: what the card paid
	PayURL      string    `json:"pay_url,omitempty"`
	ProviderRef string    `json:"provider_ref,omitempty"`
}

// Pay takes a payment for an order: cash, card or wallet (by a cashier at
// a window, the exact total; the order is paid and its tickets issued at
// once) or an online payment started with a provider (the order is paid
// when the provider's webhook says so).
func (a *API) Pay(ctx context.Context, p web.Principal, ref string, r PayRequest) (PayResult, error) {
	if r.Method != payment.MethodStoredValue && (r.Card != "" || r.RedeemPoints != 0) {
		return PayResult{}, bad("bad_payment", `"card" and "redeem_points" go with method stored_value`)
	}
	if !payment.OnTerminal(r.Method) && r.Reference != "" {
		return PayResult{}, bad("bad_payment", `"reference" goes with methods card and wallet`)
	}
	switch r.Method {
	case payment.MethodCash:
		if r.AmountMinor == nil || r.Provider != "" {
			return PayResult{}, bad("bad_payment", `cash takes "amount_minor" (the order total) and no "provider"`)
		}
		if p.Role != web.RoleCashier {
			return PayResult{}, web.Problemf(http.StatusForbidden, "cashier_only", "cash is taken by a cashier at a window, not by role %s", p.Role)
		}
		return a.payWindow(ctx, p, ref, payment.Window{Method: r.Method}, r.AmountMinor)
	case payment.MethodCard, payment.MethodWallet:
		if r.Provider != "" {
			return PayResult{}, bad("bad_payment", `%s takes "reference" (and "amount_minor", the order total), no "provider"`, r.Method)
		}
		reference, err := payment.CheckReference(r.Method, r.Reference)
		if err != nil {
			return PayResult{}, err
		}
		if p.Role != web.RoleCashier {
			return PayResult{}, web.Problemf(http.StatusForbidden, "cashier_only", "%s is taken by a cashier on a window's terminal, not by role %s", r.Method, p.Role)
		}
		return a.payWindow(ctx, p, ref, payment.Window{Method: r.Method, Reference: reference}, r.AmountMinor)
	case payment.MethodProvider:
		if r.AmountMinor != nil || r.Provider == "" {
			return PayResult{}, bad("bad_payment", `an online payment takes "provider" (one of %v) and no "amount_minor"`, a.providers.Names())
		}
		return a.startOnline(ctx, p, ref, r.Provider)
	case payment.MethodStoredValue:
		if r.AmountMinor != nil || r.Provider != "" || r.Card == "" {
			return PayResult{}, bad("bad_payment", `stored_value takes "card" (and "redeem_points"), no "amount_minor" or "provider"`)
		}
		if p.Role != web.RoleCashier && p.Role != web.RoleAdmin {
			return PayResult{}, web.Problemf(http.StatusForbidden, "cashier_only", "a card is presented at a window, not by role %s", p.Role)
		}
		if a.cfg.CardPay == nil {
			return PayResult{}, web.Problemf(http.StatusNotImplemented, "no_stored_value", "stored-value payments are not set up on this server")
		}
		return a.payCard(ctx, p, ref, r)
	}
	return PayResult{}, bad("bad_payment", `"method" must be cash, card, wallet, provider or stored_value, not %q`, r.Method)
}

// payable checks that a locked order can take a payment now. An order
// whose hold ran out is expired on the spot (refusal says so); the caller
// commits that and returns the refusal.
func payable(ctx context.Context, tx DB, o orderRow, now time.Time) (refusal error, expired bool, err error) {
	if o.Status != StatusPending {
		return web.Problemf(http.StatusConflict, "order_not_pending", "order %s is %s: it cannot be paid", o.Number, o.Status), false, nil
	}
	if !now.Before(o.ExpiresAt) {
		ok, err := endUnpaid(ctx, tx, system(""), o, StatusExpired, "hold ran out before payment")
		if err != nil {
			return nil, false, err
		}
		return web.Problemf(http.StatusConflict, "order_expired",
			"order %s expired at %s unpaid and its places were released; make a new order", o.Number, o.ExpiresAt.UTC().Format(time.RFC3339)), ok, nil
	}
	return nil, false, nil
}

// payWindow takes money at the cashier's window: cash, or a card or wallet
// payment on the window's terminal (w.Method, w.Reference). amount is what
// the cashier entered; nil (card, wallet) means the order total.
func (a *API) payWindow(ctx context.Context, p web.Principal, ref string, w payment.Window, amount *int64) (PayResult, error) {
	now := a.now()
	var (
		refusal error
		o       orderRow
		pay     payment.Payment
		issued  int
		expired bool
	)
	err := pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		var err error
		if o, err = orderFor(ctx, tx, p, ref, true); err != nil {
			return err
		}
		if refusal, expired, err = payable(ctx, tx, o, now); err != nil || refusal != nil {
			return err
		}
		if w.Method != payment.MethodCash && o.TotalMinor == 0 {
			return web.Problemf(http.StatusConflict, "nothing_to_pay", "order %s costs nothing: pay it as cash with amount_minor 0", o.Number)
		}
		shiftID, err := cashierShift(ctx, tx, p, o)
		if err != nil {
			return err
		}
		w.OrderID, w.DueMinor, w.AmountMinor, w.Currency = o.ID, o.TotalMinor, o.TotalMinor, o.Currency
		if amount != nil {
			w.AmountMinor = *amount
		}
		w.UserID, w.SalesPointID, w.ShiftID, w.At = p.UserID, p.SalesPointID, shiftID, now
		if pay, err = payment.RecordWindow(ctx, tx, w); err != nil {
			return err
		}
		detail := map[string]any{"order_id": o.ID, "order": o.Number, "amount_minor": w.AmountMinor, "currency": o.Currency,
			"sales_point_id": p.SalesPointID, "shift_id": shiftID}
		if w.Reference != "" {
			detail["reference"] = w.Reference
		}
		if err := audit.Record(ctx, tx, p, "payment."+w.Method, "payment", itoa(pay.ID), detail); err != nil {
			return err
		}
		issued, err = a.markPaid(ctx, tx, p, o, pay.ID, now)
		return err
	})
	view, err := a.paid(ctx, o, issued, expired, refusal, err)
	if err != nil {
		return PayResult{}, err
	}
	return PayResult{Order: view, PaymentID: pay.ID}, nil
}

// paid counts a payment's outcome (the transaction's err, a refusal, an
// order that expired meanwhile) and loads the paid order.
func (a *API) paid(ctx context.Context, o orderRow, issued int, expired bool, refusal, err error) (Order, error) {
	if err != nil {
		return Order{}, err
	}
	if expired {
		a.m.orders.WithLabelValues(o.Channel, StatusExpired).Inc()
	}
	if refusal != nil {
		return Order{}, refusal
	}
	a.m.orders.WithLabelValues(o.Channel, StatusPaid).Inc()
	a.m.tickets.Add(float64(issued))
	return a.load(ctx, a.cfg.Pool, o.ID)
}

// cashierShift checks that the cashier's sales point may take money for
// o's park and returns their open shift, locked FOR SHARE until commit so
// that it cannot close under the payment (see package shift).
func cashierShift(ctx context.Context, tx DB, p web.Principal, o orderRow) (int64, error) {
	if p.SalesPointID == "" {
		return 0, web.Problemf(http.StatusForbidden, "no_sales_point", "cashier %s is not assigned to a sales point", p.Username)
	}
	sp, err := readSalesPoint(ctx, tx, p.SalesPointID)
	if err != nil {
		return 0, err
	}
	if sp.ParkID != o.ParkID || !sp.Active {
		return 0, web.Problemf(http.StatusForbidden, "wrong_park", "sales point %s (park %s, active %v) cannot take money for park %s", sp.ID, sp.ParkID, sp.Active, o.ParkID)
	}
	return attachShift(ctx, tx, p, sp.Kind)
}

// attachShift returns the cashier's open shift, locked FOR SHARE in tx: at
// a window one is required (unless the shifts setting says otherwise), at
// a kiosk it is used when there is one.
func attachShift(ctx context.Context, tx DB, p web.Principal, kind string) (int64, error) {
	if kind == ChannelWindow {
		return shift.Attach(ctx, tx, p.UserID, p.SalesPointID)
	}
	id, _, err := shift.Optional(ctx, tx, p.UserID, p.SalesPointID)
	return id, err
}

// startOnline asks a provider to collect the order total. The order row
// stays locked while the provider answers (bounded by ProviderTimeout), so
// the order cannot expire or be cancelled under a payment being started.
func (a *API) startOnline(ctx context.Context, p web.Principal, ref, name string) (PayResult, error) {
	prov, ok := a.providers.Get(name)
	if !ok {
		return PayResult{}, bad("unknown_provider", "no payment provider %q (configured: %v)", name, a.providers.Names())
	}
	now := a.now()
	var (
		refusal error
		expired bool
		o       orderRow
		pay     payment.Payment
		started payment.Started
	)
	err := pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		var err error
		if o, err = orderFor(ctx, tx, p, ref, true); err != nil {
			return err
		}
		if refusal, expired, err = payable(ctx, tx, o, now); err != nil || refusal != nil {
			return err
		}
		if o.TotalMinor == 0 {
			return web.Problemf(http.StatusConflict, "nothing_to_pay", "order %s costs nothing: pay it as cash with amount_minor 0 at a window", o.Number)
		}
		pctx, cancel := context.WithTimeout(ctx, a.cfg.ProviderTimeout)
		started, err = prov.Start(pctx, payment.StartRequest{OrderNumber: o.Number, AmountMinor: o.TotalMinor, Currency: o.Currency})
		cancel()
		if err != nil {
			a.cfg.Log.Warn("payment provider refused to start", "provider", name, "order", o.Number, "err", err)
			if errors.Is(err, payment.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
				return web.Problemf(http.StatusServiceUnavailable, "provider_unavailable", "payment provider %s is unavailable; try again", name)
			}
			return web.Problemf(http.StatusBadGateway, "provider_error", "payment provider %s could not start the payment", name)
		}
		if pay, err = payment.RecordPending(ctx, tx, payment.Pending{OrderID: o.ID, Provider: name, ProviderRef: started.ProviderRef,
			AmountMinor: o.TotalMinor, Currency: o.Currency, UserID: p.UserID, SalesPointID: p.SalesPointID, At: now}); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "payment.start", "payment", itoa(pay.ID),
			map[string]any{"order_id": o.ID, "order": o.Number, "provider": name, "provider_ref": started.ProviderRef, "amount_minor": o.TotalMinor})
	})
	if err != nil {
		return PayResult{}, err
	}
	if expired {
		a.m.orders.WithLabelValues(o.Channel, StatusExpired).Inc()
	}
	if refusal != nil {
		return PayResult{}, refusal
	}
	view, err := a.load(ctx, a.cfg.Pool, o.ID)
	return PayResult{Order: view, PaymentID: pay.ID, PayURL: started.PayURL, ProviderRef: started.ProviderRef}, err
}

// payCard takes the order total from a member card (balance and redeemed
// points) in the order's transaction, and issues the tickets.
func (a *API) payCard(ctx context.Context, p web.Principal, ref string, r PayRequest) (PayResult, error) {
	now := a.now()
	var (
		refusal error
		o       orderRow
		pay     payment.Payment
		paid    CardPaid
		issued  int
		expired bool
	)
	err := pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		var err error
		if o, err = orderFor(ctx, tx, p, ref, true); err != nil {
			return err
		}
		if refusal, expired, err = payable(ctx, tx, o, now); err != nil || refusal != nil {
			return err
		}
		var shiftID int64 // a cashier's sale counts in their shift (not its drawer money)
		if p.Role == web.RoleCashier {
			if shiftID, err = cashierShift(ctx, tx, p, o); err != nil {
				return err
			}
		}
		if paid, err = a.cfg.CardPay(ctx, tx, p, CardPayment{Card: r.Card, AmountMinor: o.TotalMinor, RedeemPoints: r.RedeemPoints,
			Currency: o.Currency, ParkID: o.ParkID, OrderID: o.ID, OrderNumber: o.Number, At: now}); err != nil {
			return err
		}
		if pay, err = payment.RecordStoredValue(ctx, tx, payment.StoredValue{OrderID: o.ID, AmountMinor: o.TotalMinor,
			Currency: o.Currency, UserID: p.UserID, SalesPointID: p.SalesPointID, ShiftID: shiftID, At: now}); err != nil {
			return err
		}
		if err := audit.Record(ctx, tx, p, "payment.stored_value", "payment", itoa(pay.ID),
			map[string]any{"order_id": o.ID, "order": o.Number, "card": paid.Card, "money_minor": paid.MoneyMinor,
				"points_used": paid.PointsUsed, "points_minor": paid.PointsMinor}); err != nil {
			return err
		}
		issued, err = a.markPaid(ctx, tx, p, o, pay.ID, now)
		return err
	})
	view, err := a.paid(ctx, o, issued, expired, refusal, err)
	if err != nil {
		return PayResult{}, err
	}
	return PayResult{Order: view, PaymentID: pay.ID, Card: &paid}, nil
}
