// Package payment takes money: cash, and card or wallet payments on a
// window's own terminal, at a window (window.go), and online payments
// through a Provider (a bank card acquirer, a mobile wallet). A provider
// confirms a payment by calling the sales service back with a signed
// webhook, as real providers do; nothing is issued before that.
package payment

import (
	"context"
	"errors"
	"net/http"
)

// Provider is an online payment provider.
type Provider interface {
	// Name is the provider's id, stored in payments.provider ("test", ...).
	Name() string
	// Start asks the provider to collect an amount; the buyer pays at
	// PayURL (or scans it as a QR). ProviderRef identifies the payment.
	Start(ctx context.Context, r StartRequest) (Started, error)
	// VerifyWebhook checks a callback's signature and returns what it says.
	// A bad signature is ErrBadSignature.
	VerifyWebhook(h http.Header, body []byte) (Event, error)
	// Refund returns money of a succeeded payment. refundID is unique per
	// refund, so a retried call refunds once.
	Refund(ctx context.Context, providerRef string, amountMinor int64, refundID string) error
}

// StartRequest asks for a payment.
type StartRequest struct {
	OrderNumber string
	AmountMinor int64
	Currency    string
}

// Started is the provider's answer to Start.
type Started struct {
	ProviderRef string
	PayURL      string
}

// Event is a verified webhook.
type Event struct {
	ProviderRef string
	Status      string // succeeded or failed
	AmountMinor int64
}

// Errors of providers.
var (
	ErrBadSignature = errors.New("payment webhook signature does not verify")
	ErrUnknown      = errors.New("unknown payment")
	ErrUnavailable  = errors.New("payment provider unavailable")
)
