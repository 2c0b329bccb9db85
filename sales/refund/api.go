package refund

import (
	"context"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// API serves refunds and reprints.
type API struct {
	cfg      Config
	outcomes *prometheus.CounterVec
}

// NewAPI validates cfg and registers the metrics with cfg.Registerer.
func NewAPI(cfg Config) (*API, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &API{cfg: cfg, outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "admit_sales_refund_revokes_total",
		Help: "The cluster's answers to refund revokes: revoked, already_used, unknown, stale, no_answer.",
	}, []string{"outcome"})}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(a.outcomes); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Routes registers:
//
//	POST /v1/refunds                  {"order_number", "ticket_ids"?, "reason"}   admin, cashier, distributor (own orders)
//	POST /v1/tickets/{id}/refund      {"reason"}                                  admin, cashier, distributor (own orders)
//	GET  /v1/refunds?order=NUMBER                                                 admin, cashier, finance, distributor (own)
//	GET  /v1/refunds/{id}                                                         admin, cashier, finance, distributor (own)
//	POST /v1/refunds/{id}/payout                                                  admin, cashier
//	POST /v1/tickets/{id}/reprint     {"reason"}                                  admin, cashier
//
// A refund request answers {"refunds": [...]}: 200 when every refund is
// final (refunded or refused, mixed), 202 when some wait for the cluster
// (pending_revoke; the Retrier finishes them), 409 (code already_used,
// with the refunds, used_at and used_gate) when every ticket was used.
func (a *API) Routes(mux *http.ServeMux, authn web.Authenticator) {
	h := func(f http.HandlerFunc, roles ...string) http.Handler {
		return web.Authenticated(authn, web.Require(f, roles...))
	}
	const admin, cashier, finance, dist = web.RoleAdmin, web.RoleCashier, web.RoleFinance, web.RoleDistributor
	mux.Handle("POST /v1/refunds", h(a.handleRequest, admin, cashier, dist))
	mux.Handle("POST /v1/tickets/{id}/refund", h(a.handleRequestTicket, admin, cashier, dist))
	mux.Handle("GET /v1/refunds", h(a.handleList, admin, cashier, finance, dist))
	mux.Handle("GET /v1/refunds/{id}", h(a.handleGet, admin, cashier, finance, dist))
	mux.Handle("POST /v1/refunds/{id}/payout", h(a.handlePayOut, admin, cashier))
	mux.Handle("POST /v1/tickets/{id}/reprint", h(a.handleReprint, admin, cashier))
}

// RefundsBody is the reply of a refund request or list.
type RefundsBody struct {
	Error   string   `json:"error,omitempty"`
	Code    string   `json:"code,omitempty"`
	Refunds []Refund `json:"refunds"`
}

// ReasonBody is the body of the per-ticket refund and of a reprint.
type ReasonBody struct {
	Reason string `json:"reason" text:"multiline"`
}

func principal(r *http.Request) web.Principal {
	p, _ := web.PrincipalFrom(r.Context())
	p.RemoteAddr = web.RemoteAddr(r)
	return p
}

func (a *API) handleRequest(w http.ResponseWriter, r *http.Request) {
	var req Request
	if !web.Decode(w, r, &req, 64<<10) {
		return
	}
	refunds, err := a.Request(r.Context(), principal(r), req)
	a.replyRefunds(w, refunds, err)
}

func (a *API) handleRequestTicket(w http.ResponseWriter, r *http.Request) {
	id, err := ticket.ParseID(r.PathValue("id"))
	if err != nil {
		web.Fail(w, a.cfg.Log, invalid("bad_ticket_id", "%q is not a ticket id (32 hex digits or a UUID)", r.PathValue("id")))
		return
	}
	var body ReasonBody
	if !web.Decode(w, r, &body, 8<<10) {
		return
	}
	refunds, err := a.RequestTicket(r.Context(), principal(r), id, body.Reason)
	a.replyRefunds(w, refunds, err)
}

func (a *API) replyRefunds(w http.ResponseWriter, refunds []Refund, err error) {
	if err != nil {
		web.Fail(w, a.cfg.Log, err)
		return
	}
	pending, refused := 0, 0
	for _, r := range refunds {
		switch r.Status {
		case StatusPendingRevoke:
			pending++
		case StatusRefused:
			refused++
		}
	}
	switch {
	case pending > 0:
		web.JSON(w, http.StatusAccepted, RefundsBody{Refunds: refunds})
	case refused == len(refunds) && refused > 0:
		first := refunds[0]
		msg := fmt.Sprintf("refused: ticket %s was already used", first.TicketID)
		if first.UsedAt != nil {
			msg += " at " + first.UsedAt.Format(time.RFC3339)
		}
		if first.UsedGate != "" {
			msg += " through gate " + first.UsedGate
		}
		if refused > 1 {
			msg += fmt.Sprintf(" (and %d more used tickets)", refused-1)
		}
		web.JSON(w, http.StatusConflict, RefundsBody{Error: msg, Code: gateapi.OutcomeAlreadyUsed, Refunds: refunds})
	default:
		web.JSON(w, http.StatusOK, RefundsBody{Refunds: refunds})
	}
}

func refundID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, invalid("bad_refund_id", "%q is not a refund id", r.PathValue("id"))
	}
	return id, nil
}

func (a *API) handleGet(w http.ResponseWriter, r *http.Request) {
	id, err := refundID(r)
	if err == nil {
		var ref Refund
		if ref, err = a.Get(r.Context(), principal(r), id); err == nil {
			web.JSON(w, http.StatusOK, ref)
			return
		}
	}
	web.Fail(w, a.cfg.Log, err)
}

func (a *API) handleList(w http.ResponseWriter, r *http.Request) {
	number := strings.TrimSpace(r.URL.Query().Get("order"))
	if number == "" || len(number) > 64 {
		web.Fail(w, a.cfg.Log, invalid("bad_order_number", "give ?order=ORDER_NUMBER"))
		return
	}
	refunds, err := a.ListForOrder(r.Context(), principal(r), number)
	if err != nil {
		web.Fail(w, a.cfg.Log, err)
		return
	}
	web.JSON(w, http.StatusOK, RefundsBody{Refunds: refunds})
}

func (a *API) handlePayOut(w http.ResponseWriter, r *http.Request) {
	id, err := refundID(r)
	if err == nil {
		var ref Refund
		if ref, err = a.PayOut(r.Context(), principal(r), id); err == nil {
			web.JSON(w, http.StatusOK, ref)
			return
		}
	}
	web.Fail(w, a.cfg.Log, err)
}

func (a *API) handleReprint(w http.ResponseWriter, r *http.Request) {
	id, err := ticket.ParseID(r.PathValue("id"))
	if err != nil {
		web.Fail(w, a.cfg.Log, invalid("bad_ticket_id", "%q is not a ticket id (32 hex digits or a UUID)", r.PathValue("id")))
		return
	}
	var body ReasonBody
	if !web.Decode(w, r, &body, 8<<10) {
		return
	}
	out, err := a.Reprint(r.Context(), principal(r), id, body.Reason)
	if err != nil {
		web.Fail(w, a.cfg.Log, err)
		return
	}
	web.JSON(w, http.StatusOK, out)
}

// Get returns one refund; distributors see only their own orders' refunds.
func (a *API) Get(ctx context.Context, p web.Principal, id int64) (Refund, error) {
	list, err := a.list(ctx, `r.id = $1`, id)
	if err != nil {
		return Refund{}, err
	}
	if len(list) == 0 || !a.visible(ctx, p, list[0].OrderNumber) {
		return Refund{}, notFound("unknown_refund", "no refund %d", id)
	}
	return list[0], nil
}

// ListForOrder returns an order's refunds, oldest first.
func (a *API) ListForOrder(ctx context.Context, p web.Principal, number string) ([]Refund, error) {
	if !a.visible(ctx, p, number) {
		return nil, notFound("unknown_order", "no order %q", number)
	}
	return a.list(ctx, `o.number = $1`, number)
}

func (a *API) visible(ctx context.Context, p web.Principal, number string) bool {
	var dist *int64
	err := a.cfg.Pool.QueryRow(ctx, `SELECT distributor_id FROM orders WHERE number = $1`, number).Scan(&dist)
	return err == nil && ownsOrder(p, dist)
}

func (a *API) list(ctx context.Context, cond string, args ...any) ([]Refund, error) {
	rows, err := a.cfg.Pool.Query(ctx, `SELECT r.id, o.number, r.ticket_id, r.status, r.amount_minor, r.fee_minor,
			r.currency, r.reason, r.refused_reason, r.used_at, coalesce(r.used_gate, ''), r.user_id, r.attempts,
			r.next_attempt_at, r.created_at, r.completed_at, coalesce(pay.method, '')
		FROM refunds r JOIN orders o ON o.id = r.order_id
		LEFT JOIN LATERAL (`+paymentSQL("r.order_id")+`) pay ON true
		WHERE `+cond+` ORDER BY r.id`, args...)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Refund, error) {
		var f Refund
		var tid [16]byte
		err := row.Scan(&f.ID, &f.OrderNumber, &tid, &f.Status, &f.AmountMinor, &f.FeeMinor, &f.Currency, &f.Reason,
			&f.RefusedReason, &f.UsedAt, &f.UsedGate, &f.UserID, &f.Attempts, &f.NextAttemptAt, &f.CreatedAt,
			&f.CompletedAt, &f.PaymentMethod)
		f.TicketID = ticket.FormatID(tid)
		f.Currency = strings.TrimSpace(f.Currency)
		f.Money = money(f)
		return f, err
	})
	if out == nil {
		out = []Refund{}
	}
	return out, err
}

func money(f Refund) string {
	switch {
	case f.Status == StatusPendingRevoke:
		return MoneyNotYet
	case f.Status == StatusRefused:
		return MoneyNone
	case f.CompletedAt != nil:
		return MoneyPaid
	case f.PaymentMethod == "provider":
		return MoneyProvider
	}
	return MoneyToPayOut
}
