package orders

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/quota"
	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// plannedLine is a checked line, ready to insert.
type plannedLine struct {
	req     LineRequest
	product productInfo
	day     time.Time // the visit date at 00:00 UTC (only the date counts)
	places  int       // quota places: quantity, times persons for a group product
	holders []holder
	cardID  int64 // the member card the ticket is bound to (a pass); 0: none
}

// Create makes a pending order that holds its places until Config.HoldFor
// has passed. With an idempotency key, a repeat of the same request by the
// same caller returns the first order (created false); the same key with a
// different request is a 409 idempotency_conflict problem.
func (a *API) Create(ctx context.Context, p web.Principal, idemKey string, req CreateRequest) (Order, bool, error) {
	if idemKey != "" && !ValidIdempotencyKey(idemKey) {
		return Order{}, false, bad("bad_idempotency_key", "Idempotency-Key must be 1-128 printable ASCII characters without spaces")
	}
	hash := requestHash(a.cfg.HolderIDSecret, req)
	s, err := resolveSeller(ctx, a.cfg.Pool, p, req.Channel)
	if err != nil {
		return Order{}, false, err
	}
	if idemKey != "" {
		if id, found, err := replayOf(ctx, a.cfg.Pool, s.scope, idemKey, hash); err != nil || found {
			if err != nil {
				return Order{}, false, err
			}
			o, err := a.load(ctx, a.cfg.Pool, id)
			return o, false, err
		}
	}
	if err := checkHeader(&req, s, a.cfg.MaxLines); err != nil {
		return Order{}, false, err
	}
	now := a.now()
	var (
		orderID  int64
		replayID int64
	)
	err = pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		park, lines, total, currency, err := a.planLines(ctx, tx, s, req.Lines, now)
		if err != nil {
			return err
		}
		var shiftID int64 // the cashier's shift: voided orders count there
		if p.Role == web.RoleCashier {
			if shiftID, err = attachShift(ctx, tx, p, s.channel); err != nil {
				return err
			}
		}
		var number string
		for try := 0; orderID == 0; try++ {
			if try == 8 {
				return errors.New("no free order number after 8 tries")
			}
			if number, err = newNumber(s.channel, now, park.Loc); err != nil {
				return err
			}
			err := tx.QueryRow(ctx, `INSERT INTO orders (number, park_id, channel, sales_point_id, user_id, distributor_id,
					external_ref, status, currency, total_minor, contact_name, contact_phone,
					idempotency_scope, idempotency_key, request_hash, expires_at, created_at, shift_id)
				VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
				ON CONFLICT DO NOTHING RETURNING id`,
				number, park.ID, s.channel, nullable(s.salesPointID), nullable(s.userID), nullable(s.distributorID),
				nullable(req.ExternalRef), currency, total, req.ContactName, req.ContactPhone,
				nullable(idemKeyScope(idemKey, s.scope)), nullable(idemKey), hash, now.Add(a.cfg.HoldFor), now, nullable(shiftID)).Scan(&orderID)
			if !errors.Is(err, pgx.ErrNoRows) {
				if err != nil {
					return err
				}
				break
			}
			// A unique constraint held: the same idempotency key committed
			// meanwhile, a reused external ref, or (rarely) the number.
			if idemKey != "" {
				id, found, err := replayOf(ctx, tx, s.scope, idemKey, hash)
				if err != nil || found {
					replayID = id
					return err
				}
			}
			if req.ExternalRef != "" {
				var other string
				err := tx.QueryRow(ctx, `SELECT number FROM orders WHERE distributor_id = $1 AND external_ref = $2`,
					s.distributorID, req.ExternalRef).Scan(&other)
				if err == nil {
					return web.Problemf(http.StatusConflict, "duplicate_external_ref",
						"external_ref %q is already order %s", req.ExternalRef, other)
				}
				if !errors.Is(err, pgx.ErrNoRows) {
					return err
				}
			}
		}
		held := map[int64][]holder{}
		for _, l := range lines {
			var lineID int64
			if err := tx.QueryRow(ctx, `INSERT INTO order_lines (order_id, product_id, visit_date, slot_id, quantity, unit_price_minor, card_id)
				VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, orderID, l.product.ID, l.day, nullable(l.req.SlotID),
				l.req.Quantity, l.product.PriceMinor, nullable(l.cardID)).Scan(&lineID); err != nil {
				return err
			}
			if len(l.holders) > 0 {
				held[lineID] = l.holders
			}
		}
		// Places are taken by visit date, not in line order: quota's lock
		// order puts each day's counters (the park's first) before the next
		// day's, so two orders for the same days never wait on each other.
		byDay := make([]int, len(lines))
		for i := range byDay {
			byDay[i] = i
		}
		slices.SortStableFunc(byDay, func(a, b int) int { return lines[a].day.Compare(lines[b].day) })
		for _, i := range byDay {
			l := lines[i]
			if err := quota.Take(ctx, tx, orderID, quota.Request{ParkID: park.ID, ProductID: l.product.ID,
				SlotID: l.req.SlotID, VisitDate: l.day, Quantity: l.places}); err != nil {
				return lineErr(i, err)
			}
		}
		if err := saveHolders(ctx, tx, orderID, held); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "order.create", "order", number, createDetails(orderID, s, total, currency, lines))
	})
	if err != nil {
		if errors.Is(err, quota.ErrExhausted) {
			a.m.quotaRejections.Inc()
		}
		return Order{}, false, err
	}
	if replayID != 0 {
		o, err := a.load(ctx, a.cfg.Pool, replayID)
		return o, false, err
	}
	a.m.orders.WithLabelValues(s.channel, StatusPending).Inc()
	o, err := a.load(ctx, a.cfg.Pool, orderID)
	return o, true, err
}

func idemKeyScope(key, scope string) string {
	if key == "" {
		return ""
	}
	return scope
}

// replayOf finds the order made with an idempotency key: found with the
// same request hash, or a 409 idempotency_conflict problem.
func replayOf(ctx context.Context, db DB, scope, key string, hash []byte) (int64, bool, error) {
	var id int64
	var number string
	var stored []byte
	err := db.QueryRow(ctx, `SELECT id, number, request_hash FROM orders WHERE idempotency_scope = $1 AND idempotency_key = $2`,
		scope, key).Scan(&id, &number, &stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if !bytes.Equal(stored, hash) {
		return 0, false, web.Problemf(http.StatusConflict, "idempotency_conflict",
			"Idempotency-Key %q was already used for a different request (order %s); use a new key for a new order", key, number)
	}
	return id, true, nil
}

// lineErr prefixes a line's problem with its index.
func lineErr(i int, err error) error {
	var p *web.Problem
	if errors.As(err, &p) {
		// Keep err in the chain (quota.ErrExhausted); errors.As finds the
		// prefixed problem first.
		return fmt.Errorf("%w (%w)", &web.Problem{Status: p.Status, Code: p.Code, Msg: fmt.Sprintf("lines[%d]: %s", i, p.Msg)}, err)
	}
	return err
}

// planLines checks every line against the catalog and the caller's sales
// point, and prices it.
func (a *API) planLines(ctx context.Context, db DB, s seller, reqs []LineRequest, now time.Time) (parkInfo, []plannedLine, int64, string, error) {
	var (
		park      parkInfo
		currency  string
		total     int64
		out       = make([]plannedLine, 0, len(reqs))
		perProd   = map[string]int{}
		holderIDs = map[string]bool{} // product/date/id-hash seen
	)
	for i, r := range reqs {
		l, err := a.planLine(ctx, db, s, r, &park, now)
		if err != nil {
			return park, nil, 0, "", lineErr(i, err)
		}
		if currency == "" {
			currency = l.product.Currency
		} else if l.product.Currency != currency {
			return park, nil, 0, "", lineErr(i, bad("mixed_currencies", "product %q is priced in %s, the order in %s", l.product.ID, l.product.Currency, currency))
		}
		perProd[l.product.ID] += r.Quantity
		if n := perProd[l.product.ID]; n > l.product.MaxPerOrder {
			return park, nil, 0, "", lineErr(i, bad("too_many", "at most %d tickets of %q per order, %d asked", l.product.MaxPerOrder, l.product.ID, n))
		}
		for _, h := range l.holders {
			k := l.product.ID + "/" + r.VisitDate + "/" + string(h.IDHash)
			if holderIDs[k] {
				return park, nil, 0, "", lineErr(i, bad("duplicate_holder", "ID number %s appears twice for %q on %s", h.IDMasked, l.product.ID, r.VisitDate))
			}
			holderIDs[k] = true
		}
		amount := l.product.PriceMinor * int64(r.Quantity)
		if l.product.PriceMinor != 0 && (amount/l.product.PriceMinor != int64(r.Quantity) || total > math.MaxInt64-amount) {
			return park, nil, 0, "", lineErr(i, bad("too_much", "the order total overflows"))
		}
		total += amount
		out = append(out, l)
	}
	return park, out, total, currency, nil
}

func (a *API) planLine(ctx context.Context, db DB, s seller, r LineRequest, park *parkInfo, now time.Time) (plannedLine, error) {
	l := plannedLine{req: r}
	if r.ProductID == "" {
		return l, bad("bad_product", `"product_id" is required`)
	}
	day, err := time.Parse(time.DateOnly, r.VisitDate)
	if err != nil {
		return l, bad("bad_visit_date", `"visit_date" must be a date like 2026-11-22, not %q`, r.VisitDate)
	}
	l.day = day
	if l.product, err = readProduct(ctx, db, r.ProductID, day); err != nil {
		return l, err
	}
	pr := l.product
	switch {
	case !pr.Active:
		return l, web.Problemf(http.StatusConflict, "product_inactive", "product %q is not on sale: it is inactive", pr.ID)
	case pr.SalesStopped:
		return l, web.Problemf(http.StatusConflict, "sales_stopped", "sales of product %q are stopped by the park", pr.ID)
	}
	kind, err := ticket.ParseKind(pr.Kind)
	if err != nil || ((kind == ticket.Multi || kind == ticket.Group) && pr.Entries == 0) || pr.ValidDays < 1 {
		return l, web.Problemf(http.StatusConflict, "product_misconfigured", "product %q cannot be issued as configured (kind %s, entries %d); ask the park to fix it", pr.ID, pr.Kind, pr.Entries)
	}
	if park.ID == "" {
		if *park, err = a.readPark(ctx, db, pr.ParkID); err != nil {
			return l, err
		}
	} else if pr.ParkID != park.ID {
		return l, bad("mixed_parks", "product %q is sold by park %s, the order is for park %s: one order, one park", pr.ID, pr.ParkID, park.ID)
	}
	if s.parkID != "" && s.parkID != park.ID {
		return l, web.Problemf(http.StatusForbidden, "wrong_park", "your sales point is in park %s, product %q in park %s", s.parkID, pr.ID, park.ID)
	}
	local := now.In(park.Loc)
	today := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, time.UTC)
	switch {
	case day.Before(today):
		return l, bad("visit_date_past", "visit date %s is in the past: it is %s in park %s", r.VisitDate, today.Format(time.DateOnly), park.ID)
	case day.After(today.AddDate(0, 0, a.cfg.MaxDaysAhead)):
		return l, bad("visit_date_too_far", "visit date %s is more than %d days ahead (park date today: %s)", r.VisitDate, a.cfg.MaxDaysAhead, today.Format(time.DateOnly))
	}
	switch {
	case pr.HasSlots && r.SlotID == 0:
		return l, bad("slot_required", "product %q is sold by time slot: give \"slot_id\"", pr.ID)
	case !pr.HasSlots && r.SlotID != 0:
		return l, bad("slot_not_allowed", "product %q has no time slots: leave \"slot_id\" out", pr.ID)
	case r.SlotID < 0:
		return l, bad("unknown_slot", "no time slot %d", r.SlotID)
	case r.SlotID != 0:
		slot, err := readSlot(ctx, db, r.SlotID)
		if err != nil {
			return l, err
		}
		if slot.ProductID != pr.ID {
			return l, bad("slot_mismatch", "time slot %d belongs to product %q, not %q", slot.ID, slot.ProductID, pr.ID)
		}
		if _, end := slot.Window(day, park.Loc); !now.Before(end) {
			return l, web.Problemf(http.StatusConflict, "slot_over", "time slot %d on %s is over", slot.ID, r.VisitDate)
		}
	}
	if r.Quantity < 1 {
		return l, bad("bad_quantity", `"quantity" must be at least 1`)
	}
	if r.Quantity > pr.MaxPerOrder {
		return l, bad("too_many", "at most %d tickets of %q per order, %d asked", pr.MaxPerOrder, pr.ID, r.Quantity)
	}
	l.places = r.Quantity
	if kind == ticket.Group {
		l.places = r.Quantity * pr.Entries
	}
	if l.holders, err = a.holdersOf(r, pr); err != nil {
		return l, err
	}
	if r.Card != "" {
		if l.cardID, err = passCard(ctx, db, r, park.ID, now); err != nil {
			return l, err
		}
	}
	return l, nil
}

// holdersOf checks a line's holders: one per ticket for a real-name
// product, none otherwise. ID numbers leave here hashed and masked.
func (a *API) holdersOf(r LineRequest, pr productInfo) ([]holder, error) {
	if !pr.RealName {
		if len(r.Holders) > 0 {
			return nil, bad("holders_not_allowed", "product %q is not real-name: leave \"holders\" out", pr.ID)
		}
		return nil, nil
	}
	if len(r.Holders) != r.Quantity {
		return nil, bad("holders_required", "product %q is real-name: give one holder (name and id_number) per ticket, %d for quantity %d, not %d",
			pr.ID, r.Quantity, r.Quantity, len(r.Holders))
	}
	out := make([]holder, len(r.Holders))
	for i, h := range r.Holders {
		name, err := cleanName(h.Name, fmt.Sprintf("holders[%d].name", i))
		if err != nil {
			return nil, bad("bad_holder", "%v", err)
		}
		id, err := NormalizeHolderID(h.IDNumber)
		if err != nil {
			return nil, bad("bad_holder", "holders[%d].id_number: %v", i, err)
		}
		out[i] = holder{Name: name, IDHash: HashHolderID(a.cfg.HolderIDSecret, id), IDMasked: MaskHolderID(id),
			IDCardHash: gateapi.IDCardHash(a.gateKey, id)}
	}
	return out, nil
}

func createDetails(id int64, s seller, total int64, currency string, lines []plannedLine) map[string]any {
	ls := make([]map[string]any, len(lines))
	for i, l := range lines {
		ls[i] = map[string]any{"product_id": l.product.ID, "visit_date": l.req.VisitDate, "slot_id": l.req.SlotID,
			"quantity": l.req.Quantity, "unit_price_minor": l.product.PriceMinor}
	}
	return map[string]any{"order_id": id, "channel": s.channel, "sales_point_id": s.salesPointID,
		"distributor_id": s.distributorID, "total_minor": total, "currency": currency, "lines": ls}
}

func nullable[T comparable](v T) *T {
	var zero T
	if v == zero {
		return nil
	}
	return &v
}
