package payment

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/admitpark/admit/sales/web"
)

func newTP(t *testing.T) *TestProvider {
	t.Helper()
	p, err := NewTestProvider([]byte("a shared secret of some length"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTestProviderWebhookRoundTrip(t *testing.T) {
	p := newTP(t)
	st, err := p.Start(context.Background(), StartRequest{OrderNumber: "S20261122-000001", AmountMinor: 12000, Currency: "CNY"})
	if err != nil || !strings.HasPrefix(st.ProviderRef, "test_") || !strings.HasSuffix(st.PayURL, st.ProviderRef) {
		t.Fatalf("Start: %+v, %v", st, err)
	}
	h, body := p.Webhook(st.ProviderRef, StatusSucceeded, 12000)
	ev, err := p.VerifyWebhook(h, body)
	if err != nil || ev != (Event{ProviderRef: st.ProviderRef, Status: StatusSucceeded, AmountMinor: 12000}) {
		t.Fatalf("VerifyWebhook: %+v, %v", ev, err)
	}
	// Another secret, a changed body, a missing or malformed header: refused.
	other, _ := NewTestProvider([]byte("another shared secret entirely"))
	if _, err := other.VerifyWebhook(h, body); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("other secret: %v", err)
	}
	changed := []byte(strings.Replace(string(body), "12000", "12001", 1))
	if _, err := p.VerifyWebhook(h, changed); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("changed body: %v", err)
	}
	for _, sig := range []string{"", "zz", strings.Repeat("0", 64), strings.Repeat("0", 63)} {
		hh := h.Clone()
		hh.Set(SignatureHeader, sig)
		if _, err := p.VerifyWebhook(hh, body); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("signature %q: %v", sig, err)
		}
	}
	// Signed but meaningless: an error, not ErrBadSignature.
	h2, b2 := p.Webhook(st.ProviderRef, "maybe", 1)
	if _, err := p.VerifyWebhook(h2, b2); err == nil || errors.Is(err, ErrBadSignature) {
		t.Fatalf("bad status: %v", err)
	}
	if _, err := NewTestProvider([]byte("short")); err == nil {
		t.Fatal("short secret accepted")
	}
}

func TestTestProviderRefund(t *testing.T) {
	p := newTP(t)
	ctx := context.Background()
	st, _ := p.Start(ctx, StartRequest{OrderNumber: "x", AmountMinor: 500, Currency: "CNY"})
	if err := p.Refund(ctx, "test_unknown", 100, "r0"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("unknown ref: %v", err)
	}
	p.FailRefunds(true)
	if err := p.Refund(ctx, st.ProviderRef, 100, "r1"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("failing: %v", err)
	}
	if len(p.Refunds()) != 0 {
		t.Fatal("a failed refund was recorded")
	}
	p.FailRefunds(false)
	for range 3 {
		if err := p.Refund(ctx, st.ProviderRef, 100, "r1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Refund(ctx, st.ProviderRef, 200, "r2"); err != nil {
		t.Fatal(err)
	}
	if rs := p.Refunds(); len(rs) != 2 {
		t.Fatalf("refunds %+v: want r1 once and r2", rs)
	}
}

func TestRegistryAndReadWebhook(t *testing.T) {
	p := newTP(t)
	if _, err := NewRegistry(p, p); err == nil {
		t.Fatal("duplicate provider accepted")
	}
	reg, err := NewRegistry(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := reg.Names(); len(got) != 1 || got[0] != "test" {
		t.Fatalf("names %v", got)
	}
	read := func(name string, h http.Header, body string) error {
		r := httptest.NewRequest("POST", "/v1/payments/webhook/"+name, strings.NewReader(body))
		r.Header = h
		_, _, err := ReadWebhook(httptest.NewRecorder(), r, reg, name)
		return err
	}
	h, body := p.Webhook("test_1", StatusSucceeded, 1)
	if err := read("test", h, string(body)); err != nil {
		t.Fatal(err)
	}
	wantProblem := func(err error, status int, code string) {
		t.Helper()
		var pr *web.Problem
		if !errors.As(err, &pr) || pr.Status != status || pr.Code != code {
			t.Fatalf("err %v, want %d %s", err, status, code)
		}
	}
	wantProblem(read("nope", h, string(body)), 404, "unknown_provider")
	wantProblem(read("test", h, string(body)+" "), 401, "bad_signature")
	wantProblem(read("test", h, strings.Repeat("x", MaxWebhookBody+1)), 413, "body_too_large")
	h3, b3 := p.Webhook("", StatusSucceeded, 1)
	wantProblem(read("test", h3, string(b3)), 400, "bad_webhook")
}
