package web

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// UnavailableRetryAfter is what a 503 for a database outage tells the
// caller to wait.
const UnavailableRetryAfter = 5 * time.Second

// Unavailable reports whether err means the database cannot be reached or
// is not accepting work right now (connect failures, lost connections,
// shutdown, too many connections, a timed-out wait for a connection), as
// opposed to a bug or a refusal: the request may succeed later, so it is
// answered 503 with Retry-After rather than 500.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case len(pe.Code) == 5 && pe.Code[:2] == "08": // connection_exception
			return true
		case pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", pe.Code == "53300": // shutdown, cannot connect now, too many connections
			return true
		}
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// ServiceUnavailable answers 503 with Retry-After and a message that names
// nothing of the server's setup (no DSN, user, host or address).
func ServiceUnavailable(w http.ResponseWriter) {
	SetRetryAfter(w, UnavailableRetryAfter)
	JSON(w, http.StatusServiceUnavailable, ProblemBody{
		Error: "the service cannot reach its database right now; try again shortly", Code: "unavailable"})
}

// SetRetryAfter sets the Retry-After header to d in whole seconds, rounded
// up (at least 1).
func SetRetryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(d.Seconds())))))
}
