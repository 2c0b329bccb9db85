package shift

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/admitpark/admit/sales/web"
)

// Sentinel errors; refusals are also *web.Problem (errors.As).
var (
	ErrNoOpenShift = errors.New("no open shift")
	ErrNotFound    = errors.New("shift not found")
	ErrState       = errors.New("the shift's state does not allow this")
	ErrInvalid     = errors.New("invalid input")
	ErrForbidden   = errors.New("forbidden")
)

func problem(sentinel error, status int, code, format string, args ...any) error {
	return fmt.Errorf("%w: %w", sentinel, web.Problemf(status, code, format, args...))
}

func invalid(code, format string, args ...any) error {
	return problem(ErrInvalid, http.StatusBadRequest, code, format, args...)
}

func forbidden(format string, args ...any) error {
	return problem(ErrForbidden, http.StatusForbidden, "forbidden", format, args...)
}

func notFound(id int64) error {
	return problem(ErrNotFound, http.StatusNotFound, "unknown_shift", "no shift %d", id)
}
