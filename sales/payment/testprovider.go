package payment

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
)

// SignatureHeader carries the test provider's webhook signature: lower-case
// hex of HMAC-SHA256(secret, body).
const SignatureHeader = "X-Admit-Signature"

// TestProviderName is what TestProvider.Name returns.
const TestProviderName = "test"

// Event statuses a webhook may carry.
const (
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
)

// TestProvider is a provider for tests and development. It holds its
// payments and refunds in memory, signs webhooks with a shared secret, and
// produces them on demand (Webhook) where a real provider would call back
// once the buyer paid.
type TestProvider struct {
	// BaseURL prefixes pay URLs; the provider ref is appended.
	BaseURL string

	secret []byte

	mu          sync.Mutex
	started     map[string]StartRequest // by provider ref
	refunds     map[string]TestRefund   // by refund id
	failRefunds bool
}

// TestRefund is a refund the test provider accepted.
type TestRefund struct {
	RefundID    string
	ProviderRef string
	AmountMinor int64
}

// NewTestProvider returns a test provider that signs and verifies webhooks
// with secret (at least 16 bytes).
func NewTestProvider(secret []byte) (*TestProvider, error) {
	if len(secret) < 16 {
		return nil, fmt.Errorf("test provider: secret must have at least 16 bytes, has %d", len(secret))
	}
	return &TestProvider{
		BaseURL: "https://pay.test.invalid/pay/",
		secret:  bytes.Clone(secret),
		started: map[string]StartRequest{},
		refunds: map[string]TestRefund{},
	}, nil
}

// Name is "test".
func (p *TestProvider) Name() string { return TestProviderName }

// Start records the request and returns a fresh provider ref.
func (p *TestProvider) Start(ctx context.Context, r StartRequest) (Started, error) {
	if err := ctx.Err(); err != nil {
		return Started{}, err
	}
	if r.AmountMinor <= 0 {
		return Started{}, fmt.Errorf("test provider: amount must be positive, got %d", r.AmountMinor)
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Started{}, err
	}
	ref := "test_" + hex.EncodeToString(b[:])
	p.mu.Lock()
	p.started[ref] = r
	p.mu.Unlock()
	return Started{ProviderRef: ref, PayURL: p.BaseURL + ref}, nil
}

// webhookBody is what the test provider posts.
type webhookBody struct {
	ProviderRef string `json:"provider_ref"`
	Status      string `json:"status"`
	AmountMinor int64  `json:"amount_minor"`
}

func (p *TestProvider) sign(body []byte) string {
	m := hmac.New(sha256.New, p.secret)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Webhook returns the headers and body of a signed callback saying that the
// payment ref has status ("succeeded" or "failed") for amount. Tests and
// development tools post it to POST /v1/payments/webhook/test.
func (p *TestProvider) Webhook(ref, status string, amount int64) (http.Header, []byte) {
	body, _ := json.Marshal(webhookBody{ProviderRef: ref, Status: status, AmountMinor: amount})
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(SignatureHeader, p.sign(body))
	return h, body
}

// VerifyWebhook checks the signature (ErrBadSignature) and decodes the body
// strictly.
func (p *TestProvider) VerifyWebhook(h http.Header, body []byte) (Event, error) {
	got, err := hex.DecodeString(h.Get(SignatureHeader))
	if err != nil || len(got) != sha256.Size {
		return Event{}, fmt.Errorf("%w: header %s must hold 64 hex digits", ErrBadSignature, SignatureHeader)
	}
	want, _ := hex.DecodeString(p.sign(body))
	if !hmac.Equal(got, want) {
		return Event{}, ErrBadSignature
	}
	var wb webhookBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&wb); err != nil {
		return Event{}, fmt.Errorf("test provider webhook: %w", err)
	}
	if wb.ProviderRef == "" {
		return Event{}, errors.New(`test provider webhook: "provider_ref" is empty`)
	}
	if wb.Status != StatusSucceeded && wb.Status != StatusFailed {
		return Event{}, fmt.Errorf(`test provider webhook: "status" must be succeeded or failed, got %q`, wb.Status)
	}
	if wb.AmountMinor < 0 {
		return Event{}, errors.New(`test provider webhook: "amount_minor" is negative`)
	}
	return Event(wb), nil
}

// Refund records a refund once per refundID; a repeated call with the same
// id is a no-op. It fails with ErrUnavailable while FailRefunds(true) is in
// force, and with ErrUnknown for a ref this provider never started.
func (p *TestProvider) Refund(ctx context.Context, providerRef string, amountMinor int64, refundID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failRefunds {
		return fmt.Errorf("%w: test provider told to fail refunds", ErrUnavailable)
	}
	if _, ok := p.started[providerRef]; !ok {
		return fmt.Errorf("%w: provider ref %q", ErrUnknown, providerRef)
	}
	if refundID == "" || amountMinor <= 0 {
		return fmt.Errorf("test provider: refund needs an id and a positive amount")
	}
	if _, done := p.refunds[refundID]; done {
		return nil
	}
	p.refunds[refundID] = TestRefund{RefundID: refundID, ProviderRef: providerRef, AmountMinor: amountMinor}
	return nil
}

// FailRefunds makes Refund fail with ErrUnavailable (true) or work again.
func (p *TestProvider) FailRefunds(fail bool) {
	p.mu.Lock()
	p.failRefunds = fail
	p.mu.Unlock()
}

// Refunds returns the refunds accepted so far, in no particular order.
func (p *TestProvider) Refunds() []TestRefund {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]TestRefund, 0, len(p.refunds))
	for _, r := range p.refunds {
		out = append(out, r)
	}
	return out
}
