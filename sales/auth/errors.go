package auth

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/admitpark/admit/sales/web"
)

// Sentinel errors. Refusals are also *web.Problem (errors.As) carrying the
// HTTP status and a machine code; errors from Authenticate wrap
// web.ErrUnauthenticated or web.ErrForbidden.
var (
	ErrBadCredentials     = errors.New("wrong username or password")
	ErrThrottled          = errors.New("too many wrong passwords from this source")
	ErrDisabled           = errors.New("account disabled")
	ErrSessionExpired     = errors.New("session expired")
	ErrUnknownToken       = errors.New("unknown token")
	ErrKeyRevoked         = errors.New("API key revoked")
	ErrMustChangePassword = errors.New("password must be changed first")
	ErrWeakPassword       = errors.New("password too weak")
	ErrInvalid            = errors.New("invalid input")
	ErrNotFound           = errors.New("not found")
	ErrConflict           = errors.New("conflict")
	ErrRateLimited        = errors.New("too many login attempts")
)

// problem wraps sentinel and a web.Problem with status, code and message.
func problem(sentinel error, status int, code, format string, args ...any) error {
	return fmt.Errorf("%w: %w", sentinel, web.Problemf(status, code, format, args...))
}

func invalid(code, format string, args ...any) error {
	return problem(ErrInvalid, http.StatusBadRequest, code, format, args...)
}

func notFound(code, format string, args ...any) error {
	return problem(ErrNotFound, http.StatusNotFound, code, format, args...)
}

func conflict(code, format string, args ...any) error {
	return problem(ErrConflict, http.StatusConflict, code, format, args...)
}

// requireAdmin refuses callers that are not admin users.
func requireAdmin(by web.Principal, what string) error {
	if by.Role != web.RoleAdmin || by.UserID == 0 {
		return fmt.Errorf("%w: %w", web.ErrForbidden, web.Problemf(http.StatusForbidden, "forbidden",
			"role %q may not %s (needs admin)", by.Role, what))
	}
	return nil
}

// refusedError is an Authenticate refusal: its message is msg alone, and
// errors.Is holds for both kind (web.ErrUnauthenticated or
// web.ErrForbidden) and cause (one of the sentinels above).
type refusedError struct {
	kind, cause error
	msg         string
}

func (e *refusedError) Error() string   { return e.msg }
func (e *refusedError) Unwrap() []error { return []error{e.kind, e.cause} }

// unauthenticated builds a 401 refusal for Authenticate.
func unauthenticated(cause error, format string, args ...any) error {
	return &refusedError{kind: web.ErrUnauthenticated, cause: cause, msg: fmt.Sprintf(format, args...)}
}

// forbidden builds a 403 refusal for Authenticate.
func forbidden(cause error, format string, args ...any) error {
	return &refusedError{kind: web.ErrForbidden, cause: cause, msg: fmt.Sprintf(format, args...)}
}
