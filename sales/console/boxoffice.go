package console

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/admitpark/admit/sales/catalog"
	"github.com/admitpark/admit/sales/lookup"
	"github.com/admitpark/admit/sales/orders"
	"github.com/admitpark/admit/sales/payment"
	"github.com/admitpark/admit/sales/refund"
	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/ticket"
)

func (c *Console) boxRoutes() {
	c.mux.Handle("GET /box", c.route(rolesBox, c.handleBox))
	c.mux.Handle("POST /box/sell", c.route(rolesBox, c.handleSell))
	c.mux.Handle("GET /box/lookup", c.route(rolesBox, c.handleLookup))
	c.mux.Handle("GET /box/tickets/{id}", c.route(rolesBox, c.handleTicket))
	c.mux.Handle("POST /box/tickets/{id}/refund", c.route(rolesBox, c.handleRefund))
	c.mux.Handle("POST /box/tickets/{id}/reprint", c.route(rolesBox, c.handleReprint))
	c.mux.Handle("GET /box/tickets/{id}/print", c.route(rolesBox, c.handlePrintTicket))
	c.mux.Handle("GET /box/orders/{number}/print", c.route(rolesBox, c.handlePrintOrder))
	c.shiftRoutes()
}

// parkOf is the park a screen works on: a cashier's window's park, else
// ?park= or the first park.
func (c *Console) parkOf(ctx context.Context, s *sess, asked string) (catalog.Park, error) {
	if s.P.SalesPointID != "" {
		sp, err := catalog.GetSalesPoint(ctx, c.cfg.Pool, s.P.SalesPointID)
		if err != nil {
			return catalog.Park{}, err
		}
		return catalog.GetPark(ctx, c.cfg.Pool, sp.ParkID)
	}
	if asked != "" {
		return catalog.GetPark(ctx, c.cfg.Pool, asked)
	}
	parks, err := catalog.ListParks(ctx, c.cfg.Pool)
	if err != nil {
		return catalog.Park{}, err
	}
	if len(parks) == 0 {
		return catalog.Park{}, web.Problemf(http.StatusNotFound, "no_park", "no park yet: create one in the back office")
	}
	return parks[0], nil
}

// boxData is the box office screen.
type boxData struct {
	Park     catalog.Park
	Today    string
	Products []boxProduct
	Slots    []slotOption
	Form     sellForm
	Sale     *saleResult
	Shift    *shiftView // the cashier's shift (shifts.go); nil for admins
	IdemKey  string
	Methods  []methodOption
}

// methodOption is a way to pay on the sell form and its function key.
type methodOption struct{ Name, Key string }

type boxProduct struct {
	catalog.Product
	Key   int // the digit that picks it
	Price string
}

type slotOption struct {
	ID               int64
	ProductID, Label string
	ProductName      string
}

// sellForm is what the cashier typed, kept when a sale is refused.
type sellForm struct {
	ProductID, VisitDate, Quantity, Tendered, Holders, Phone string
	SlotID                                                   int64
	Method, Reference                                        string // cash (default), card or wallet; the terminal's reference
}

// methodOptions are the box office's ways to pay, in the order of the
// form (cash first: the default); F3 and F4 switch to card and wallet and
// back to cash (assets/app.js).
var methodOptions = []methodOption{{payment.MethodCash, ""}, {payment.MethodCard, "F3"}, {payment.MethodWallet, "F4"}}

// saleResult is a completed sale: cash with the change, or card or wallet
// with the terminal's reference.
type saleResult struct {
	Order           orders.Order
	Method          string
	Reference       string
	Total, Tendered string
	Change          string
	Products        map[string]string
	Loc             *time.Location
}

func (c *Console) boxData(ctx context.Context, s *sess, park catalog.Park) (boxData, error) {
	d := boxData{Park: park, Today: park.Today(c.cfg.Clock.Now()).Format(time.DateOnly), IdemKey: randomToken(), Methods: methodOptions}
	ps, err := catalog.ListProducts(ctx, c.cfg.Pool, catalog.ProductFilter{ParkID: park.ID, ActiveOnly: true})
	if err != nil {
		return d, err
	}
	for _, p := range ps {
		if p.SalesStopped {
			continue
		}
		bp := boxProduct{Product: p, Price: Money(p.PriceMinor, p.Currency)}
		if len(d.Products) < 9 {
			bp.Key = len(d.Products) + 1
		}
		d.Products = append(d.Products, bp)
		if p.HasSlots {
			slots, err := catalog.ListSlots(ctx, c.cfg.Pool, p.ID)
			if err != nil {
				return d, err
			}
			for _, sl := range slots {
				d.Slots = append(d.Slots, slotOption{ID: sl.ID, ProductID: p.ID, ProductName: p.Name, Label: sl.Start + "–" + sl.End})
			}
		}
	}
	d.Form = sellForm{VisitDate: d.Today, Quantity: "1", Method: payment.MethodCash}
	if len(d.Products) > 0 {
		d.Form.ProductID = d.Products[0].ID
	}
	d.Shift = c.currentShift(ctx, s)
	return d, nil
}

func (c *Console) handleBox(w http.ResponseWriter, r *http.Request, s *sess) {
	park, err := c.parkOf(r.Context(), s, r.URL.Query().Get("park"))
	if err != nil {
		c.render(w, r, s, errStatus(err), "error", "title.error", nil, "", c.errText(s.L, err))
		return
	}
	d, err := c.boxData(r.Context(), s, park)
	if err != nil {
		c.render(w, r, s, errStatus(err), "error", "title.error", nil, "", c.errText(s.L, err))
		return
	}
	c.render(w, r, s, http.StatusOK, "box", "title.box", d, "", "")
}

// handleSell makes the order and takes the payment in one step: the
// cashier has the cash in hand, or the card or wallet terminal has taken
// the money and printed its reference. A refusal (sold out, not enough
// cash, no reference, ...) re-renders the form as typed with the reason.
func (c *Console) handleSell(w http.ResponseWriter, r *http.Request, s *sess) {
	ctx := r.Context()
	park, err := c.parkOf(ctx, s, r.PostForm.Get("park"))
	if err != nil {
		c.render(w, r, s, errStatus(err), "error", "title.error", nil, "", c.errText(s.L, err))
		return
	}
	d, err := c.boxData(ctx, s, park)
	if err != nil {
		c.render(w, r, s, errStatus(err), "error", "title.error", nil, "", c.errText(s.L, err))
		return
	}
	f := r.PostForm
	d.Form = sellForm{ProductID: f.Get("product"), VisitDate: f.Get("visit_date"), Quantity: f.Get("quantity"),
		Tendered: f.Get("tendered"), Holders: f.Get("holders"), Phone: f.Get("phone"),
		Method: f.Get("method"), Reference: f.Get("reference")}
	if d.Form.Method == "" {
		d.Form.Method = payment.MethodCash
	}
	refuse := func(status int, msg string) {
		c.render(w, r, s, status, "box", "title.box", d, "", msg)
	}
	if !slices.ContainsFunc(methodOptions, func(m methodOption) bool { return m.Name == d.Form.Method }) {
		refuse(http.StatusBadRequest, s.L.T("err.bad_form"))
		return
	}
	terminal := payment.OnTerminal(d.Form.Method)
	if terminal {
		// Checked before the order, so no places are held for a sale
		// that cannot be recorded.
		ref, err := payment.CheckReference(d.Form.Method, d.Form.Reference)
		if err != nil {
			refuse(errStatus(err), c.errText(s.L, err))
			return
		}
		d.Form.Reference, d.Form.Tendered = ref, ""
	}
	qty, err := strconv.Atoi(strings.TrimSpace(d.Form.Quantity))
	if err != nil || qty < 1 || qty > 1000 {
		refuse(http.StatusBadRequest, s.L.T("err.bad_quantity"))
		return
	}
	if v := f.Get("slot"); v != "" {
		if d.Form.SlotID, err = strconv.ParseInt(v, 10, 64); err != nil {
			refuse(http.StatusBadRequest, s.L.T("err.bad_slot"))
			return
		}
	}
	var prod *boxProduct
	for i := range d.Products {
		if d.Products[i].ID == d.Form.ProductID {
			prod = &d.Products[i]
		}
	}
	if prod == nil {
		refuse(http.StatusBadRequest, s.L.T("err.pick_product"))
		return
	}
	line := orders.LineRequest{ProductID: prod.ID, VisitDate: strings.TrimSpace(d.Form.VisitDate), Quantity: qty}
	if prod.HasSlots {
		line.SlotID = d.Form.SlotID
	}
	if prod.RealName {
		hs, err := parseHolders(d.Form.Holders)
		if err != nil {
			refuse(http.StatusBadRequest, s.L.T("err.bad_holders"))
			return
		}
		line.Holders = hs
	}
	// The price is known before the order: refuse too little cash before
	// any place is taken.
	unit, err := catalog.PriceFor(ctx, c.cfg.Pool, prod.ID, dayOr(line.VisitDate, park, c.cfg.Clock.Now()))
	if err != nil {
		refuse(errStatus(err), c.errText(s.L, err))
		return
	}
	total := unit * int64(qty)
	tendered := total
	if t := strings.TrimSpace(d.Form.Tendered); t != "" {
		if tendered, err = ParseMoney(t, park.Currency); err != nil {
			refuse(http.StatusBadRequest, s.L.T("err.bad_amount"))
			return
		}
	}
	if tendered < total {
		refuse(http.StatusBadRequest, s.L.T("err.not_enough_cash", Money(total, park.Currency)))
		return
	}
	req := orders.CreateRequest{Lines: []orders.LineRequest{line}, ContactPhone: strings.TrimSpace(d.Form.Phone)}
	idem := f.Get("idem")
	if !orders.ValidIdempotencyKey(idem) {
		idem = ""
	}
	o, _, err := c.cfg.Orders.Create(ctx, s.P, idem, req)
	if err != nil {
		refuse(errStatus(err), c.errText(s.L, err))
		return
	}
	if o.Status != "paid" && tendered < o.TotalMinor { // the order's own total is what counts
		if _, cerr := c.cfg.Orders.Cancel(ctx, s.P, o.Number); cerr != nil {
			c.cfg.Log.Warn("console: cancel the unpaid order", "order", o.Number, "err", cerr)
		}
		refuse(http.StatusBadRequest, s.L.T("err.not_enough_cash", Money(o.TotalMinor, o.Currency)))
		return
	}
	if o.Status != "paid" {
		amount := o.TotalMinor
		req := orders.PayRequest{Method: d.Form.Method, AmountMinor: &amount}
		if terminal {
			req.Reference = d.Form.Reference
		}
		res, err := c.cfg.Orders.Pay(ctx, s.P, o.Number, req)
		if err != nil {
			// Not paid: give the places back rather than hold them.
			if _, cerr := c.cfg.Orders.Cancel(ctx, s.P, o.Number); cerr != nil {
				c.cfg.Log.Warn("console: cancel the unpaid order", "order", o.Number, "err", cerr)
			}
			refuse(errStatus(err), c.errText(s.L, err))
			return
		}
		o = res.Order
	}
	names := map[string]string{}
	for _, p := range d.Products {
		names[p.ID] = p.Name
	}
	d.Sale = &saleResult{Order: o, Method: d.Form.Method, Total: Money(o.TotalMinor, o.Currency), Tendered: Money(tendered, o.Currency),
		Change: Money(tendered-o.TotalMinor, o.Currency), Products: names, Loc: park.Location()}
	if terminal {
		d.Sale.Reference, d.Sale.Tendered, d.Sale.Change = d.Form.Reference, "", ""
	}
	d.Form = sellForm{ProductID: prod.ID, VisitDate: d.Today, Quantity: "1", Method: payment.MethodCash}
	d.IdemKey = randomToken()
	d.Shift = c.currentShift(ctx, s)
	c.render(w, r, s, http.StatusOK, "box", "title.box", d, s.L.T("box.sold", o.Number), "")
}

func dayOr(s string, park catalog.Park, now time.Time) time.Time {
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return d
	}
	return park.Today(now)
}

// parseHolders reads one holder a line: "name, ID number" (a comma, a
// Chinese comma or a tab between).
func parseHolders(s string) ([]orders.HolderRequest, error) {
	var out []orders.HolderRequest
	for _, ln := range strings.Split(s, "\n") {
		ln = strings.TrimSpace(ln)
		if ln == "" {
			continue
		}
		i := strings.IndexAny(ln, ",，\t")
		if i <= 0 {
			return nil, errors.New("want name, ID number")
		}
		name := strings.TrimSpace(ln[:i])
		rest := strings.TrimLeft(ln[i:], ",，\t ")
		if name == "" || rest == "" {
			return nil, errors.New("want name, ID number")
		}
		out = append(out, orders.HolderRequest{Name: name, IDNumber: strings.TrimSpace(rest)})
	}
	return out, nil
}

// lookupData is the look-up screen.
type lookupData struct {
	Q       string
	Kind    string // order, phone, id_number, ticket, code
	Tickets []lookup.Ticket
	Trunc   bool
	Loc     *time.Location
}

// classify tells what the search box holds: a ticket code (a scanner typed
// the QR), a ticket id, an order number, a phone or an ID number.
func classify(q string) (kind string, id [16]byte) {
	if cd, err := code.Parse(q); err == nil {
		return "code", cd.TicketID()
	}
	if tid, err := ticket.ParseID(q); err == nil {
		return "ticket", tid
	}
	upper := strings.ToUpper(q)
	if len(upper) > 2 && upper[0] >= 'A' && upper[0] <= 'Z' && strings.Contains(upper, "-") {
		return "order", id
	}
	digits := strings.TrimPrefix(strings.ReplaceAll(strings.ReplaceAll(q, " ", ""), "-", ""), "+")
	if _, err := strconv.ParseUint(digits, 10, 64); err == nil && len(digits) <= 15 {
		return "phone", id
	}
	return "id_number", id
}

func (c *Console) handleLookup(w http.ResponseWriter, r *http.Request, s *sess) {
	ctx := r.Context()
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	park, err := c.parkOf(ctx, s, "")
	if err != nil {
		c.render(w, r, s, errStatus(err), "error", "title.error", nil, "", c.errText(s.L, err))
		return
	}
	d := lookupData{Q: q, Loc: park.Location()}
	if q == "" {
		c.render(w, r, s, http.StatusOK, "lookup", "title.lookup", d, "", "")
		return
	}
	if len(q) > 512 {
		c.render(w, r, s, http.StatusBadRequest, "lookup", "title.lookup", d, "", s.L.T("err.bad_query"))
		return
	}
	kind, id := classify(q)
	d.Kind = kind
	switch kind {
	case "code", "ticket":
		t, err := c.cfg.Lookup.Get(ctx, s.P, id)
		if err == nil && kind == "code" && r.URL.Query().Get("open") != "no" {
			c.redirect(w, r, "/box/tickets/"+t.ID)
			return
		}
		if err != nil {
			c.render(w, r, s, errStatus(err), "lookup", "title.lookup", d, "", c.errText(s.L, err))
			return
		}
		d.Tickets = []lookup.Ticket{t}
	default:
		lq := lookup.Query{}
		switch kind {
		case "order":
			lq.OrderNumber = strings.ToUpper(q)
		case "phone":
			lq.Phone = q
		default:
			lq.IDNumber = q
		}
		list, err := c.cfg.Lookup.Find(ctx, s.P, lq)
		if err != nil {
			c.render(w, r, s, errStatus(err), "lookup", "title.lookup", d, "", c.errText(s.L, err))
			return
		}
		d.Tickets, d.Trunc = list.Tickets, list.Truncated
	}
	msg := ""
	if len(d.Tickets) == 0 {
		msg = s.L.T("lookup.none")
	}
	c.render(w, r, s, http.StatusOK, "lookup", "title.lookup", d, msg, "")
}

// ticketData is one ticket: details, entry history, refund preview.
type ticketData struct {
	T         lookup.Ticket
	Loc       *time.Location
	Entries   []entry
	Refund    refundPreview
	Reprinted *reprinted
}

type entry struct {
	At                                    time.Time
	Gate, Zone, Direction, Result, Reason string
}

type refundPreview struct {
	Allowed   bool
	Why       string
	Fee, Back string
	Deadline  time.Time
}

type reprinted struct{ Version int64 }

func (c *Console) ticketData(ctx context.Context, s *sess, id [16]byte) (ticketData, error) {
	t, err := c.cfg.Lookup.Get(ctx, s.P, id)
	if err != nil {
		return ticketData{}, err
	}
	park, err := catalog.GetPark(ctx, c.cfg.Pool, t.ParkID)
	if err != nil {
		return ticketData{}, err
	}
	d := ticketData{T: t, Loc: park.Location()}
	rows, err := c.cfg.Pool.Query(ctx, `SELECT at, gate, zone, direction, result, reason FROM entry_events
		WHERE ticket_id = $1 ORDER BY at, seq LIMIT 200`, id)
	if err != nil {
		return d, err
	}
	for rows.Next() {
		var e entry
		if err := rows.Scan(&e.At, &e.Gate, &e.Zone, &e.Direction, &e.Result, &e.Reason); err != nil {
			rows.Close()
			return d, err
		}
		d.Entries = append(d.Entries, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return d, err
	}
	d.Refund = c.preview(ctx, s, t, park)
	return d, nil
}

// preview is the refund a cashier would give for t now: the fee by the
// product's policy (catalog.RefundFee) and whether it is still allowed.
// The refund itself decides again (and the cluster has the last word on
// use).
func (c *Console) preview(ctx context.Context, s *sess, t lookup.Ticket, park catalog.Park) refundPreview {
	p, err := catalog.GetProduct(ctx, c.cfg.Pool, t.ProductID)
	if err != nil {
		return refundPreview{Why: c.errText(s.L, err)}
	}
	if t.Status != "unused" {
		return refundPreview{Why: s.L.T("refund.not_unused", s.L.T("status."+t.Status))}
	}
	visit, _ := time.Parse(time.DateOnly, t.VisitDate)
	if err := catalog.RefundAllowed(p, park, visit, c.cfg.Clock.Now()); err != nil {
		return refundPreview{Why: c.errText(s.L, err)}
	}
	fee := catalog.RefundFee(p, t.PriceMinor)
	return refundPreview{Allowed: true, Fee: Money(fee, t.Currency), Back: Money(t.PriceMinor-fee, t.Currency),
		Deadline: catalog.RefundDeadline(p, park, visit)}
}

func (c *Console) pathTicket(w http.ResponseWriter, r *http.Request, s *sess) ([16]byte, bool) {
	id, err := ticket.ParseID(r.PathValue("id"))
	if err != nil {
		c.render(w, r, s, http.StatusBadRequest, "error", "title.error", nil, "", s.L.T("err.bad_ticket_id"))
		return id, false
	}
	return id, true
}

func (c *Console) handleTicket(w http.ResponseWriter, r *http.Request, s *sess) {
	id, ok := c.pathTicket(w, r, s)
	if !ok {
		return
	}
	d, err := c.ticketData(r.Context(), s, id)
	if err != nil {
		c.render(w, r, s, errStatus(err), "error", "title.error", nil, "", c.errText(s.L, err))
		return
	}
	c.render(w, r, s, http.StatusOK, "ticket", "title.ticket", d, "", "")
}

func (c *Console) handleRefund(w http.ResponseWriter, r *http.Request, s *sess) {
	id, ok := c.pathTicket(w, r, s)
	if !ok {
		return
	}
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	if reason == "" {
		reason = "box office"
	}
	refunds, rerr := c.cfg.Refund.RequestTicket(r.Context(), s.P, id, reason)
	d, err := c.ticketData(r.Context(), s, id)
	if err != nil {
		c.render(w, r, s, errStatus(err), "error", "title.error", nil, "", c.errText(s.L, err))
		return
	}
	if rerr != nil {
		c.render(w, r, s, errStatus(rerr), "ticket", "title.ticket", d, "", c.errText(s.L, rerr))
		return
	}
	msg := ""
	for _, rf := range refunds {
		msg = s.L.T("refund.done_"+rf.Status, Money(rf.AmountMinor, rf.Currency), Money(rf.FeeMinor, rf.Currency))
		if rf.Status == refund.StatusRefunded && payment.OnTerminal(rf.PaymentMethod) {
			// Paid back on the terminal that took it: the cashier needs the
			// original payment's reference to refund it there.
			msg = s.L.T("refund.done_terminal", Money(rf.AmountMinor, rf.Currency), Money(rf.FeeMinor, rf.Currency),
				s.L.T("box.method_"+rf.PaymentMethod), c.terminalRef(r.Context(), rf.OrderNumber))
		}
	}
	c.render(w, r, s, http.StatusOK, "ticket", "title.ticket", d, msg, "")
}

func (c *Console) handleReprint(w http.ResponseWriter, r *http.Request, s *sess) {
	id, ok := c.pathTicket(w, r, s)
	if !ok {
		return
	}
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	if reason == "" {
		reason = "box office reprint"
	}
	rp, rerr := c.cfg.Refund.Reprint(r.Context(), s.P, id, reason)
	d, err := c.ticketData(r.Context(), s, id)
	if err != nil {
		c.render(w, r, s, errStatus(err), "error", "title.error", nil, "", c.errText(s.L, err))
		return
	}
	if rerr != nil {
		c.render(w, r, s, errStatus(rerr), "ticket", "title.ticket", d, "", c.errText(s.L, rerr))
		return
	}
	d.Reprinted = &reprinted{Version: rp.Version}
	c.render(w, r, s, http.StatusOK, "ticket", "title.ticket", d, s.L.T("ticket.reprinted", rp.Version), "")
}

// terminalRef is the terminal reference of the payment that settled order
// number ("" if none).
func (c *Console) terminalRef(ctx context.Context, number string) string {
	var ref string
	err := c.cfg.Pool.QueryRow(ctx, `SELECT coalesce(p.terminal_ref, '') FROM orders o JOIN payments p ON p.id = o.paid_payment_id
		WHERE o.number = $1`, number).Scan(&ref)
	if err != nil {
		c.cfg.Log.Warn("console: terminal reference", "order", number, "err", err)
	}
	return ref
}

// shortID is the first 8 digits of a ticket id, for people.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
