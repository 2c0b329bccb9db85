package payment

import (
	"errors"
	"io"
	"net/http"

	"github.com/admitpark/admit/sales/web"
)

// MaxWebhookBody bounds a provider callback.
const MaxWebhookBody = 64 << 10

// ReadWebhook reads a callback from the provider called name and verifies
// it. The request is anonymous: the signature is its only authentication.
// Errors are *web.Problem: 404 unknown_provider, 413 body_too_large, 401
// bad_signature, 400 bad_webhook (signed, but not a usable event).
func ReadWebhook(w http.ResponseWriter, r *http.Request, reg *Registry, name string) (Provider, Event, error) {
	p, ok := reg.Get(name)
	if !ok {
		return nil, Event{}, web.Problemf(http.StatusNotFound, "unknown_provider",
			"no payment provider %q is configured (configured: %v)", name, reg.Names())
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, Event{}, web.Problemf(http.StatusRequestEntityTooLarge, "body_too_large",
				"webhook body over %d bytes", MaxWebhookBody)
		}
		return nil, Event{}, web.Problemf(http.StatusBadRequest, "bad_webhook", "read webhook body: %v", err)
	}
	ev, err := p.VerifyWebhook(r.Header, body)
	switch {
	case errors.Is(err, ErrBadSignature):
		return nil, Event{}, web.Problemf(http.StatusUnauthorized, "bad_signature", "%v", err)
	case err != nil:
		return nil, Event{}, web.Problemf(http.StatusBadRequest, "bad_webhook", "%v", err)
	}
	return p, ev, nil
}
