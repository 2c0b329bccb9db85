package refund_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/refund"
	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/ticket"
)

func TestRefundUnusedTicketIsRevokedInClusterAndPaidOut(t *testing.T) {
	f := newFix(t, true)
	s := f.sell(order{product: "day", tickets: 2, method: "cash", phone: "13800138000"})
	usedBefore := f.quotaUsed("day")

	status, body := f.refundTickets("cashier", s, s.Tickets[0])
	if status != http.StatusOK || len(body.Refunds) != 1 {
		t.Fatalf("refund: %d %+v", status, body)
	}
	r := body.Refunds[0]
	// price 100.00, fee 5.00 + 10 % = 15.00, back 85.00, paid out at once by the cashier
	if r.Status != refund.StatusRefunded || r.AmountMinor != 8500 || r.FeeMinor != 1500 || r.Currency != "CNY" ||
		r.Money != refund.MoneyPaid || r.CompletedAt == nil || r.UserID == nil || *r.UserID != f.users["cash1"] {
		t.Fatalf("refund: %+v", r)
	}
	if tk := f.ticket(s.Tickets[0].ID); tk.Status != "refunded" || tk.Version != 2 {
		t.Fatalf("ticket after refund: %+v, want refunded at version 2", tk)
	}
	if tk := f.ticket(s.Tickets[1].ID); tk.Status != "active" || tk.Version != 1 {
		t.Fatalf("other ticket: %+v", tk)
	}
	if refunded, st := f.payment(s.PaymentID); refunded != 8500 || st != "partially_refunded" {
		t.Fatalf("payment: refunded %d, %s", refunded, st)
	}
	if st := f.orderStatus(s.OrderID); st != "partially_refunded" {
		t.Fatalf("order %s", st)
	}
	if used := f.quotaUsed("day"); used != usedBefore-1 {
		t.Fatalf("quota used %d, want %d", used, usedBefore-1)
	}
	if f.audits("refund.request") != 1 || f.audits("refund.complete") != 1 {
		t.Fatal("audit entries missing")
	}

	// The gate says so: revoked. The other ticket still admits.
	if d := f.park.scan(f.gateTk, "g1", s.Tickets[0].Code); d.Result != "deny" || d.Reason != "revoked" {
		t.Fatalf("scan of the refunded ticket: %+v", d)
	}
	if d := f.park.scan(f.gateTk, "g1", s.Tickets[1].Code); d.Result != "admit" {
		t.Fatalf("scan of the other ticket: %+v", d)
	}

	// A second refund of the same ticket is refused.
	if status, _ := f.refundTickets("cashier", s, s.Tickets[0]); status != http.StatusConflict {
		t.Fatalf("second refund: %d", status)
	}
}

func TestRefundWholeOrderThroughProvider(t *testing.T) {
	f := newFix(t, true)
	s := f.sell(order{product: "day", tickets: 2, method: "provider", distributor: 1})

	// Another distributor does not see the order.
	if status, _ := f.refundTickets("dist2", s); status != http.StatusNotFound {
		t.Fatalf("other distributor: %d, want 404", status)
	}
	status, body := f.refundTickets("dist1", s)
	if status != http.StatusOK || len(body.Refunds) != 2 {
		t.Fatalf("refund: %d %+v", status, body)
	}
	for _, r := range body.Refunds {
		if r.Status != refund.StatusRefunded || r.Money != refund.MoneyPaid || r.AmountMinor != 8500 {
			t.Fatalf("refund: %+v", r)
		}
	}
	got := map[string]int64{}
	for _, pr := range f.prov.Refunds() {
		got[pr.RefundID] = pr.AmountMinor
	}
	for _, r := range body.Refunds {
		if got["refund-"+itoa(r.ID)] != 8500 {
			t.Fatalf("provider refunds %v, want refund-%d of 8500", got, r.ID)
		}
	}
	if refunded, st := f.payment(s.PaymentID); refunded != 17000 || st != "partially_refunded" {
		t.Fatalf("payment: refunded %d, %s (fees stay with the park)", refunded, st)
	}
	if st := f.orderStatus(s.OrderID); st != "refunded" {
		t.Fatalf("order %s, want refunded", st)
	}
	if used := f.quotaUsed("day"); used != 0 {
		t.Fatalf("quota used %d, want 0", used)
	}
	// Nothing left to refund.
	if status, _ := f.refundTickets("dist1", s); status != http.StatusConflict {
		t.Fatalf("refund of a refunded order: %d", status)
	}
}

func TestProviderFailureIsRetried(t *testing.T) {
	f := newFix(t, true)
	s := f.sell(order{product: "day", tickets: 1, method: "provider"})
	f.prov.FailRefunds(true)
	status, body := f.refundTickets("admin", s)
	if status != http.StatusOK || body.Refunds[0].Status != refund.StatusRefunded || body.Refunds[0].Money != refund.MoneyProvider ||
		body.Refunds[0].CompletedAt != nil || body.Refunds[0].Attempts != 1 {
		t.Fatalf("refund with the provider down: %d %+v", status, body)
	}
	if len(f.prov.Refunds()) != 0 {
		t.Fatal("the provider refunded while failing")
	}
	// Not due yet: nothing tried.
	if n, err := f.api.Retrier().RetryDue(f.ctx, f.clock.Now()); err != nil || n != 0 {
		t.Fatalf("RetryDue before the backoff: %d, %v", n, err)
	}
	f.prov.FailRefunds(false)
	if n, err := f.api.Retrier().RetryDue(f.ctx, f.clock.Now().Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("RetryDue: %d, %v", n, err)
	}
	r, err := f.api.Get(f.ctx, adminP(f), body.Refunds[0].ID)
	if err != nil || r.Money != refund.MoneyPaid || r.CompletedAt == nil {
		t.Fatalf("after retry: %+v, %v", r, err)
	}
	if pr := f.prov.Refunds(); len(pr) != 1 || pr[0].AmountMinor != 8500 {
		t.Fatalf("provider refunds %+v", pr)
	}
}

func TestRefundOfUsedTicketIsRefusedWithWhenAndWhere(t *testing.T) {
	f := newFix(t, true)
	s := f.sell(order{product: "day", tickets: 1, method: "cash"})
	if d := f.park.scan(f.gateTk, "g1", s.Tickets[0].Code); d.Result != "admit" {
		t.Fatalf("first scan: %+v", d)
	}
	status, body := f.refundTickets("cashier", s)
	if status != http.StatusConflict || body.Code != "already_used" || len(body.Refunds) != 1 {
		t.Fatalf("refund of a used ticket: %d %+v", status, body)
	}
	r := body.Refunds[0]
	if r.Status != refund.StatusRefused || r.RefusedReason != "already_used" || r.UsedGate != "g1" || r.UsedAt == nil ||
		time.Since(*r.UsedAt) > time.Minute || r.Money != refund.MoneyNone {
		t.Fatalf("refused refund: %+v", r)
	}
	t.Logf("refused: %s", body.Error)
	if tk := f.ticket(s.Tickets[0].ID); tk.Status != "active" || tk.Version != 1 {
		t.Fatalf("ticket: %+v, want active at version 1", tk)
	}
	if refunded, st := f.payment(s.PaymentID); refunded != 0 || st != "succeeded" {
		t.Fatalf("payment touched: %d %s", refunded, st)
	}
	if st := f.orderStatus(s.OrderID); st != "paid" {
		t.Fatalf("order %s", st)
	}
	var at *time.Time
	var gate *string
	f.pool.QueryRow(f.ctx, `SELECT first_entry_at, first_entry_gate FROM tickets WHERE id = $1`, s.Tickets[0].ID).Scan(&at, &gate)
	if at == nil || gate == nil || *gate != "g1" {
		t.Fatalf("first entry not recorded: %v %v", at, gate)
	}
}

func TestClusterDownLeavesRefundPendingUntilRetried(t *testing.T) {
	f := newFix(t, true)
	s := f.sell(order{product: "day", tickets: 2, method: "cash"})

	// Two of three nodes die (the leader among them): no quorum.
	leader := f.park.h.Leader()
	var other *clustertest.Member
	for _, m := range f.park.h.Members {
		if m != leader {
			other = m
			break
		}
	}
	f.park.Kill(leader)
	f.park.Kill(other)

	start := time.Now()
	status, body := f.refundTickets("cashier", s) // the whole order
	if status != http.StatusAccepted || len(body.Refunds) != 2 {
		t.Fatalf("refund with the cluster down: %d %+v", status, body)
	}
	// One cluster call timed out at most; the second ticket did not wait for
	// another (counted, not timed, in TestBatchWaitsAtMostOneTimeout).
	took := time.Since(start)
	t.Logf("the refund request with the cluster down answered in %v", took)
	for i, r := range body.Refunds {
		if r.Status != refund.StatusPendingRevoke || r.Money != refund.MoneyNotYet || r.Attempts != 1 || r.NextAttemptAt == nil ||
			!r.NextAttemptAt.After(f.clock.Now()) {
			t.Fatalf("pending refund: %+v", r)
		}
		if tk := f.ticket(s.Tickets[i].ID); tk.Status != "refund_pending" || tk.Version != 1 {
			t.Fatalf("ticket: %+v", tk)
		}
	}
	r := body.Refunds[0]
	if refunded, _ := f.payment(s.PaymentID); refunded != 0 {
		t.Fatal("money moved before the cluster revoked")
	}
	// Not due yet.
	if n, err := f.api.Retrier().RetryDue(f.ctx, f.clock.Now()); n != 0 || err != nil {
		t.Fatalf("RetryDue before the backoff: %d %v", n, err)
	}

	f.park.Restart(leader)
	f.park.Restart(other)
	f.park.h.WaitLeader(15 * time.Second)
	later := f.clock.Now()
	clustertest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		later = later.Add(time.Hour) // past any backoff
		if _, err := f.api.Retrier().RetryDue(f.ctx, later); err != nil {
			return err
		}
		for _, r := range body.Refunds {
			r, err := f.api.Get(f.ctx, adminP(f), r.ID)
			if err != nil {
				return err
			}
			if r.Status != refund.StatusRefunded {
				return errorf("refund %d %s after %d attempts", r.ID, r.Status, r.Attempts)
			}
		}
		return nil
	}, "the retrier to finish the refund")
	r, _ = f.api.Get(f.ctx, adminP(f), r.ID)
	// Completed by the retrier while nobody was at the window: cash to pay out.
	if r.Money != refund.MoneyToPayOut || r.CompletedAt != nil {
		t.Fatalf("after retry: %+v", r)
	}
	if refunded, _ := f.payment(s.PaymentID); refunded != 17000 {
		t.Fatalf("payment refunded %d", refunded)
	}
	if st := f.orderStatus(s.OrderID); st != "refunded" {
		t.Fatalf("order %s", st)
	}
	if tk := f.ticket(s.Tickets[0].ID); tk.Status != "refunded" || tk.Version != 2 {
		t.Fatalf("ticket: %+v", tk)
	}
	if d := f.park.scan(f.gateTk, "g1", s.Tickets[0].Code); d.Reason != "revoked" {
		t.Fatalf("scan after the refund: %+v", d)
	}

	// The cashier pays out; it counts on the cashier's shift.
	var out refund.Refund
	if st := f.do("dist1", http.MethodPost, "/v1/refunds/"+itoa(r.ID)+"/payout", nil, &out); st != http.StatusForbidden {
		t.Fatalf("payout by a distributor: %d", st)
	}
	if st := f.do("cashier", http.MethodPost, "/v1/refunds/"+itoa(r.ID)+"/payout", nil, &out); st != http.StatusOK ||
		out.Money != refund.MoneyPaid || out.UserID == nil || *out.UserID != f.users["cash1"] {
		t.Fatalf("payout: %d %+v", st, out)
	}
	if st := f.do("cashier", http.MethodPost, "/v1/refunds/"+itoa(r.ID)+"/payout", nil, nil); st != http.StatusConflict {
		t.Fatalf("second payout: %d", st)
	}
}

func TestUnknownTicketWaitsForItsIssueAndRevokeFollows(t *testing.T) {
	f := newFix(t, true)
	s := f.sell(order{product: "day", tickets: 1, method: "cash", noIssue: true})

	status, body := f.refundTickets("cashier", s)
	if status != http.StatusAccepted || body.Refunds[0].Status != refund.StatusPendingRevoke {
		t.Fatalf("refund of a ticket the cluster does not know: %d %+v", status, body)
	}
	// The outbox holds the issue and, after it, the revoke at version 2.
	var kinds []string
	var versions []int64
	rows, _ := f.pool.Query(f.ctx, `SELECT kind, version FROM outbox WHERE ticket_id = $1 ORDER BY seq`, s.Tickets[0].ID)
	for rows.Next() {
		var k string
		var v int64
		rows.Scan(&k, &v)
		kinds, versions = append(kinds, k), append(versions, v)
	}
	if len(kinds) != 2 || kinds[0] != "issue" || kinds[1] != "revoke" || versions[1] != 2 {
		t.Fatalf("outbox: %v %v", kinds, versions)
	}
	if refunded, _ := f.payment(s.PaymentID); refunded != 0 {
		t.Fatal("money moved before the cluster revoked")
	}
	// A retry before the relay ran: still unknown, no second revoke row.
	if n, err := f.api.Retrier().RetryDue(f.ctx, f.clock.Now().Add(time.Hour)); n != 1 || err != nil {
		t.Fatalf("RetryDue: %d %v", n, err)
	}
	var revokes int
	f.pool.QueryRow(f.ctx, `SELECT count(*) FROM outbox WHERE kind = 'revoke'`).Scan(&revokes)
	if revokes != 1 {
		t.Fatalf("%d revoke rows", revokes)
	}

	f.relay() // issue, then revoke
	if n, err := f.api.Retrier().RetryDue(f.ctx, f.clock.Now().Add(2*time.Hour)); n != 1 || err != nil {
		t.Fatalf("RetryDue: %d %v", n, err)
	}
	r, _ := f.api.Get(f.ctx, adminP(f), body.Refunds[0].ID)
	if r.Status != refund.StatusRefunded {
		t.Fatalf("refund: %+v", r)
	}
	if d := f.park.scan(f.gateTk, "g1", s.Tickets[0].Code); d.Reason != "revoked" {
		t.Fatalf("scan: %+v", d)
	}
}

func TestRefundPolicy(t *testing.T) {
	f := newFix(t, false)
	late := f.sell(order{product: "late", tickets: 1, method: "cash"})
	var body struct{ Error, Code string }
	if st := f.do("cashier", http.MethodPost, "/v1/refunds", refund.Request{OrderNumber: late.Number}, &body); st != http.StatusConflict ||
		body.Code != "refund_window_closed" {
		t.Fatalf("refund after the window: %d %+v", st, body)
	}
	t.Logf("window closed: %s", body.Error)
	final := f.sell(order{product: "final", tickets: 1, method: "cash"})
	if st := f.do("cashier", http.MethodPost, "/v1/refunds", refund.Request{OrderNumber: final.Number}, &body); st != http.StatusConflict ||
		body.Code != "not_refundable" {
		t.Fatalf("refund of a final sale: %d %+v", st, body)
	}
	for _, s := range []sold{late, final} {
		if tk := f.ticket(s.Tickets[0].ID); tk.Status != "active" {
			t.Fatalf("ticket %+v", tk)
		}
	}
	var n int
	f.pool.QueryRow(f.ctx, `SELECT count(*) FROM refunds`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d refunds rows after refusals", n)
	}

	// The day product's window closes at midnight before the visit day.
	day := f.sell(order{product: "day", tickets: 1, method: "cash"})
	f.clock.Set(time.Date(f.visit.Year(), f.visit.Month(), f.visit.Day(), 0, 0, 0, 0, f.loc))
	if st := f.do("cashier", http.MethodPost, "/v1/refunds", refund.Request{OrderNumber: day.Number}, &body); st != http.StatusConflict ||
		body.Code != "refund_window_closed" {
		t.Fatalf("refund at the start of the visit day: %d %+v", st, body)
	}

	// Bad input and roles.
	for _, c := range []struct {
		token string
		body  any
		want  int
	}{
		{"cashier", map[string]any{"order_number": day.Number, "bogus": 1}, http.StatusBadRequest},
		{"cashier", refund.Request{}, http.StatusBadRequest},
		{"cashier", refund.Request{OrderNumber: day.Number, TicketIDs: []string{"xyz"}}, http.StatusBadRequest},
		{"cashier", refund.Request{OrderNumber: "nope"}, http.StatusNotFound},
		{"finance", refund.Request{OrderNumber: day.Number}, http.StatusForbidden},
		{"nobody", refund.Request{OrderNumber: day.Number}, http.StatusUnauthorized},
	} {
		if st := f.do(c.token, http.MethodPost, "/v1/refunds", c.body, nil); st != c.want {
			t.Errorf("%s %+v: %d, want %d", c.token, c.body, st, c.want)
		}
	}
}

func TestPolicyFee(t *testing.T) {
	for _, c := range []struct {
		p     refund.Policy
		price int64
		want  int64
	}{
		{refund.Policy{FeeMinor: 500, FeePercent: 10}, 10000, 1500},
		{refund.Policy{FeePercent: 10}, 999, 99}, // rounded down
		{refund.Policy{FeeMinor: 5000, FeePercent: 60}, 10000, 10000},
		{refund.Policy{FeePercent: 100}, 1, 1},
		{refund.Policy{}, 10000, 0},
		{refund.Policy{FeeMinor: 100}, 0, 0},
	} {
		if got := c.p.Fee(c.price); got != c.want {
			t.Errorf("%+v of %d: %d, want %d", c.p, c.price, got, c.want)
		}
	}
	loc, _ := time.LoadLocation(parkTZ)
	visit := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	p := refund.Policy{Refundable: true, UntilHours: 24}
	if dl := p.Deadline(visit, loc); !dl.Equal(time.Date(2026, 11, 21, 0, 0, 0, 0, loc)) {
		t.Fatalf("deadline %v", dl)
	}
	p.UntilHours = -10 // until 10:00 on the day
	if err := p.Check(time.Date(2026, 11, 22, 9, 59, 0, 0, loc), visit, loc, "t"); err != nil {
		t.Fatal(err)
	}
	if err := p.Check(time.Date(2026, 11, 22, 10, 0, 0, 0, loc), visit, loc, "t"); err == nil {
		t.Fatal("refund allowed after the deadline")
	}
}

func TestReprintReplacesTheCodeAtTheGate(t *testing.T) {
	f := newFix(t, true)
	s := f.sell(order{product: "day", tickets: 1, method: "cash"})
	id := ticket.FormatID(s.Tickets[0].ID)

	var bad struct{ Code string }
	if st := f.do("cashier", http.MethodPost, "/v1/tickets/"+id+"/reprint", refund.ReasonBody{}, &bad); st != http.StatusBadRequest {
		t.Fatalf("reprint without a reason: %d", st)
	}
	if st := f.do("dist1", http.MethodPost, "/v1/tickets/"+id+"/reprint", refund.ReasonBody{Reason: "lost"}, nil); st != http.StatusForbidden {
		t.Fatalf("reprint by a distributor: %d", st)
	}
	var out refund.Reprinted
	if st := f.do("cashier", http.MethodPost, "/v1/tickets/"+id+"/reprint",
		refund.ReasonBody{Reason: "print lost; holder showed ID card"}, &out); st != http.StatusOK {
		t.Fatalf("reprint: %d", st)
	}
	if out.Version != 2 || out.OldVersion != 1 || out.Code == s.Tickets[0].Code || out.TicketID != id {
		t.Fatalf("reprint: %+v", out)
	}
	if tk := f.ticket(s.Tickets[0].ID); tk.Version != 2 || tk.Code != out.Code || tk.Status != "active" {
		t.Fatalf("ticket: %+v", tk)
	}
	var version int64
	var reason string
	var userID int64
	if err := f.pool.QueryRow(f.ctx, `SELECT new_version, reason, user_id FROM reprints WHERE ticket_id = $1`, s.Tickets[0].ID).
		Scan(&version, &reason, &userID); err != nil || version != 2 || userID != f.users["cash1"] || reason == "" {
		t.Fatalf("reprints row: %d %q %d %v", version, reason, userID, err)
	}
	if f.audits("ticket.reprint") != 1 {
		t.Fatal("no audit entry")
	}
	var ov int64
	if err := f.pool.QueryRow(f.ctx, `SELECT version FROM outbox WHERE kind = 'issue' AND ticket_id = $1 AND sent_at IS NULL`,
		s.Tickets[0].ID).Scan(&ov); err != nil || ov != 2 {
		t.Fatalf("outbox issue row: %d %v", ov, err)
	}

	f.relay()
	if d := f.park.scan(f.gateTk, "g1", s.Tickets[0].Code); d.Result != "deny" || d.Reason != "replaced" {
		t.Fatalf("old code: %+v", d)
	}
	if d := f.park.scan(f.gateTk, "g1", out.Code); d.Result != "admit" {
		t.Fatalf("new code: %+v", d)
	}

	// A refunded ticket cannot be reprinted.
	s2 := f.sell(order{product: "day", tickets: 1, method: "cash"})
	if st, body := f.refundTickets("cashier", s2); st != http.StatusOK {
		t.Fatalf("refund: %d %+v", st, body)
	}
	if st := f.do("cashier", http.MethodPost, "/v1/tickets/"+ticket.FormatID(s2.Tickets[0].ID)+"/reprint",
		refund.ReasonBody{Reason: "lost"}, &bad); st != http.StatusConflict || bad.Code != "ticket_not_reprintable" {
		t.Fatalf("reprint of a refunded ticket: %d %+v", st, bad)
	}
}

func TestRefundReadsAndDistributorIsolation(t *testing.T) {
	f := newFix(t, false)
	s := f.sell(order{product: "day", tickets: 1, method: "provider", distributor: 1})
	// No cluster: the refund stays pending.
	st, body := f.refundTickets("dist1", s)
	if st != http.StatusAccepted {
		t.Fatalf("refund: %d", st)
	}
	id := itoa(body.Refunds[0].ID)
	var one refund.Refund
	if st := f.do("dist1", http.MethodGet, "/v1/refunds/"+id, nil, &one); st != http.StatusOK || one.OrderNumber != s.Number {
		t.Fatalf("own refund: %d %+v", st, one)
	}
	if st := f.do("dist2", http.MethodGet, "/v1/refunds/"+id, nil, nil); st != http.StatusNotFound {
		t.Fatalf("other distributor's refund: %d", st)
	}
	if st := f.do("dist2", http.MethodGet, "/v1/refunds?order="+s.Number, nil, nil); st != http.StatusNotFound {
		t.Fatalf("other distributor's list: %d", st)
	}
	var list refund.RefundsBody
	if st := f.do("finance", http.MethodGet, "/v1/refunds?order="+s.Number, nil, &list); st != http.StatusOK || len(list.Refunds) != 1 {
		t.Fatalf("finance list: %d %+v", st, list)
	}
	if st := f.do("admin", http.MethodGet, "/v1/refunds/abc", nil, nil); st != http.StatusBadRequest {
		t.Fatalf("bad id: %d", st)
	}
}

func TestStaleVersionIsBumpedUntilTheRevokeIsNewer(t *testing.T) {
	f := newFix(t, true)
	s := f.sell(order{product: "day", tickets: 1, method: "cash"})
	// The cluster holds version 3 of the ticket while the database says 1
	// (they disagree); a revoke at version 2 answers stale.
	signer, err := keys.Active(f.ctx, f.pool, testKEK)
	if err != nil {
		t.Fatal(err)
	}
	tj := s.Tickets[0].JSON
	tj.Version = 3
	if tj.Code, err = signer.Sign(code.Claims{TicketID: s.Tickets[0].ID, Version: 3, Kind: uint8(ticket.Single),
		ValidFrom: tj.ValidFrom, ValidUntil: tj.ValidUntil}); err != nil {
		t.Fatal(err)
	}
	f.park.issue(tj)

	if st, body := f.refundTickets("cashier", s); st != http.StatusAccepted || body.Refunds[0].Status != refund.StatusPendingRevoke {
		t.Fatalf("refund: %d %+v", st, body)
	}
	later := f.clock.Now()
	for i := 0; i < 5 && f.ticket(s.Tickets[0].ID).Status != "refunded"; i++ {
		later = later.Add(time.Hour)
		if _, err := f.api.Retrier().RetryDue(f.ctx, later); err != nil {
			t.Fatal(err)
		}
	}
	if tk := f.ticket(s.Tickets[0].ID); tk.Status != "refunded" || tk.Version != 4 {
		t.Fatalf("ticket: %+v, want refunded at version 4", tk)
	}
	if d := f.park.scan(f.gateTk, "g1", tj.Code); d.Reason != "revoked" {
		t.Fatalf("scan: %+v", d)
	}
}

// TestRefundGoesBackThroughTheSettlingPayment: an order with an earlier
// provider payment that did not settle it (a duplicate refunded as such, or
// a short one, refunded or still due) refunds through the payment that
// settled it: the ticket is revoked in the cluster and the money goes back,
// instead of a refund stuck in pending_revoke on "would exceed payment".
func TestRefundGoesBackThroughTheSettlingPayment(t *testing.T) {
	f := newFix(t, true)
	for _, before := range []string{"duplicate", "underpaid", "underpaid_due"} {
		s := f.sell(order{product: "day", tickets: 1, method: "provider", before: before})
		status, body := f.refundTickets("admin", s)
		if status != http.StatusOK || len(body.Refunds) != 1 {
			t.Fatalf("%s: refund: %d %+v", before, status, body)
		}
		r := body.Refunds[0]
		if r.Status != refund.StatusRefunded || r.Money != refund.MoneyPaid || r.AmountMinor != 8500 {
			t.Fatalf("%s: refund %+v", before, r)
		}
		if refunded, st := f.payment(s.PaymentID); refunded != 8500 || st != "partially_refunded" {
			t.Fatalf("%s: settling payment refunded %d, %s", before, refunded, st)
		}
		if st := f.ticket(s.Tickets[0].ID).Status; st != "refunded" {
			t.Fatalf("%s: ticket %s", before, st)
		}
	}
	if n := f.audits("refund.complete"); n != 3 {
		t.Fatalf("%d refunds completed, want 3", n)
	}
}

// TestMoneyIsCheckedBeforeTheClusterRevokes: when the payment cannot pay
// a refund back, the request is refused (409) before the cluster is asked,
// and a pending refund found in that state is refused without a revoke:
// the ticket stays valid at the gate and active in sales.
func TestMoneyIsCheckedBeforeTheClusterRevokes(t *testing.T) {
	f := newFix(t, true)
	s := f.sell(order{product: "day", tickets: 1, method: "provider"})
	f.exec(`UPDATE payments SET refunded_minor = amount_minor - 100, status = 'partially_refunded' WHERE id = $1`, s.PaymentID)
	var p web.ProblemBody
	if status := f.do("admin", http.MethodPost, "/v1/refunds", refund.Request{OrderNumber: s.Number}, &p); status != http.StatusConflict ||
		p.Code != "payment_cannot_cover" {
		t.Fatalf("refund beyond the payment: %d %+v", status, p)
	}
	if st := f.ticket(s.Tickets[0].ID).Status; st != "active" {
		t.Fatalf("ticket %s after a refused request", st)
	}
	// A pending refund left from before the check (written directly, as an
	// older version left them): the retrier refuses it without a revoke.
	f.exec(`INSERT INTO refunds (order_id, ticket_id, status, amount_minor, currency, next_attempt_at)
		VALUES ($1, $2, 'pending_revoke', 8500, 'CNY', $3)`, s.OrderID, s.Tickets[0].ID, f.clock.Now().Add(-time.Minute))
	f.exec(`UPDATE tickets SET status = 'refund_pending' WHERE id = $1`, s.Tickets[0].ID)
	if _, err := f.api.Retrier().RetryDue(f.ctx, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	var status, why string
	if err := f.pool.QueryRow(f.ctx, `SELECT status, refused_reason FROM refunds WHERE ticket_id = $1`, s.Tickets[0].ID).
		Scan(&status, &why); err != nil {
		t.Fatal(err)
	}
	if status != refund.StatusRefused || why != "payment_cannot_cover" {
		t.Fatalf("pending refund: %s %s", status, why)
	}
	if st := f.ticket(s.Tickets[0].ID).Status; st != "active" {
		t.Fatalf("ticket %s, want active", st)
	}
	// The cluster never revoked it: the code still admits.
	if res := f.park.scan(f.gateTk, "g1", s.Tickets[0].Code); res.Result != "admit" {
		t.Fatalf("scan after the refused refund: %+v", res)
	}
}
