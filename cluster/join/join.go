// Package join owns how a new or restarted node asks a running cluster to
// add it (modelled on rqlite's cluster/join.go): it sends the join request
// through the admin API until a node accepts it, backing off between
// attempts, and gives up at once when the cluster refuses the request
// itself (400, 401, 403), since asking again would not change the answer.
package join

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/admitpark/admit/cluster/adminclient"
	"github.com/admitpark/admit/cluster/httpapi"
)

// ErrRefused is wrapped by the error of a join the cluster refused: a bad
// request or a wrong admin token. Fix the flags and start again.
var ErrRefused = errors.New("join refused")

// Config is one node's join request and the retry policy.
type Config struct {
	// URLs of running nodes' HTTP APIs, tried in order on every attempt.
	URLs []string
	// AdminToken is the cluster's admin token.
	AdminToken string
	// ID and RaftAddr are the joining node's id and the Raft address the
	// others dial; Nonvoter adds it as a non-voting member.
	ID       string
	RaftAddr string
	Nonvoter bool
	// AttemptTimeout bounds one attempt (every URL once). Default 10 s.
	AttemptTimeout time.Duration
	// InitialBackoff is the pause after the first failed attempt; it
	// doubles after each failure up to MaxBackoff. Defaults 100 ms and 5 s.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// Logger gets a warning for each failed attempt. Default: none.
	Logger *slog.Logger
	// TLS, when set, verifies https:// URLs (the cluster's CA); nil: the
	// system's roots.
	TLS *tls.Config
}

// DefaultConfig returns the policy admit node uses; the caller fills in
// URLs, AdminToken, ID and RaftAddr.
func DefaultConfig() Config {
	return Config{AttemptTimeout: 10 * time.Second, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second}
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	switch {
	case len(c.URLs) == 0:
		return errors.New("join: no URL of a running node")
	case c.ID == "" || c.RaftAddr == "":
		return errors.New("join: the node's id and raft address are required")
	case c.AttemptTimeout <= 0:
		return fmt.Errorf("join: attempt timeout %v must be positive", c.AttemptTimeout)
	case c.InitialBackoff <= 0 || c.MaxBackoff < c.InitialBackoff:
		return fmt.Errorf("join: backoff %v up to %v: want 0 < initial <= max", c.InitialBackoff, c.MaxBackoff)
	}
	return nil
}

// Join asks the cluster to add the node until a node accepts (nil), the
// cluster refuses (an error wrapping ErrRefused and the node's
// *adminclient.Error), or ctx ends (an error wrapping ctx's error and the
// last failure). Other failures (no node reachable, no leader yet: 5xx)
// are retried with backoff: the cluster may still be electing a leader
// when the node starts.
func Join(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	client, err := adminclient.New(adminclient.Config{URLs: cfg.URLs, AdminToken: cfg.AdminToken, Timeout: cfg.AttemptTimeout, TLS: cfg.TLS})
	if err != nil {
		return err
	}
	req := httpapi.JoinRequest{ID: cfg.ID, RaftAddr: cfg.RaftAddr, Nonvoter: cfg.Nonvoter}
	backoff := cfg.InitialBackoff
	for {
		actx, cancel := context.WithTimeout(ctx, cfg.AttemptTimeout)
		err := client.Join(actx, req)
		cancel()
		if err == nil {
			return nil
		}
		if Final(err) {
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("join: %w (last attempt: %w)", ctx.Err(), err)
		}
		log.Warn("join failed; retrying", "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("join: %w (last attempt: %w)", ctx.Err(), err)
		case <-t.C:
		}
		backoff = min(backoff*2, cfg.MaxBackoff)
	}
}

// Final reports whether a join error is the cluster's final word: the
// request itself is bad (400) or the token is wrong (401, 403).
func Final(err error) bool {
	switch adminclient.StatusOf(err) {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
		return true
	}
	return false
}
