package refund

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/admitpark/admit/sales/web"
)

// Sentinel errors. Refusals are also *web.Problem (errors.As) with the HTTP
// status and a machine code.
var (
	ErrInvalid       = errors.New("invalid input")
	ErrNotFound      = errors.New("not found")
	ErrNotRefundable = errors.New("not refundable")
	ErrWindowClosed  = errors.New("refund window closed")
	ErrTicketState   = errors.New("the ticket's state does not allow this")
	ErrAlreadyUsed   = errors.New("ticket already used")
	ErrConflict      = errors.New("conflict")
	// ErrClusterUnavailable: no cluster node could be reached, or the
	// cluster answered 5xx (no leader, outcome unknown). Retry later.
	ErrClusterUnavailable = errors.New("cluster unavailable")
	// ErrClusterRefused: the cluster answered 4xx (bad token, bad request):
	// a configuration or program error, retried like an outage.
	ErrClusterRefused = errors.New("cluster refused the request")
)

func problem(sentinel error, status int, code, format string, args ...any) error {
	return fmt.Errorf("%w: %w", sentinel, web.Problemf(status, code, format, args...))
}

func invalid(code, format string, args ...any) error {
	return problem(ErrInvalid, http.StatusBadRequest, code, format, args...)
}

func notFound(code, format string, args ...any) error {
	return problem(ErrNotFound, http.StatusNotFound, code, format, args...)
}

func forbidden(format string, args ...any) error {
	return problem(web.ErrForbidden, http.StatusForbidden, "forbidden", format, args...)
}
