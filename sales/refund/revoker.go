package refund

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// RevokeResult is the cluster's answer to a revoke.
type RevokeResult struct {
	// Outcome is gateapi.OutcomeRevoked (revoked now, or already),
	// OutcomeAlreadyUsed (refused: the ticket entered a zone),
	// OutcomeUnknown (the cluster does not have the ticket yet) or
	// OutcomeStale (the cluster has this version or a newer one).
	Outcome        string
	FirstEntryAt   time.Time // already_used: when and where
	FirstEntryGate string
	Zone           string
}

// Revoker revokes tickets at the park's cluster. An error means the cluster
// gave no outcome: ErrClusterUnavailable (unreachable, 5xx) or
// ErrClusterRefused (4xx), wrapped.
type Revoker interface {
	Revoke(ctx context.Context, ticketID [16]byte, version uint64) (RevokeResult, error)
}

// ClusterRevoker calls POST /v1/tickets/{id}/revoke on the gate API of the
// cluster's nodes with the admin token, through a gateapi.Client: it tries
// the nodes in order and moves on when one cannot be reached or answers
// 5xx (a node cut off from the others answers 503 while the rest may have
// a leader); a 4xx is final.
//
// No answer from any node is ErrClusterUnavailable, whether the client
// says gateapi.ErrUnavailable (the revoke was not applied) or
// gateapi.ErrOutcomeUnknown (it may have been): either way the refund
// stays pending and is retried, and the retry sends the same revoke (the
// ticket's version in the database moves only on "revoked" or "stale"),
// which settles an unknown outcome as the gateapi doc asks.
type ClusterRevoker struct {
	client *gateapi.Client
}

// NewClusterRevoker takes the nodes' URLs comma-separated
// ("http://10.0.0.1:7101,http://10.0.0.2:7101"), the cluster's admin token,
// a timeout per node call, and the transport for HTTPS with the cluster's
// CA (nil: the default).
func NewClusterRevoker(urls, adminToken string, timeout time.Duration, transport http.RoundTripper) (*ClusterRevoker, error) {
	list, err := gateapi.ParseURLs(urls)
	if err != nil {
		return nil, err
	}
	if adminToken == "" {
		return nil, errors.New("refund: the cluster's admin token is required")
	}
	if timeout <= 0 {
		return nil, errors.New("refund: the cluster call timeout must be positive")
	}
	c, err := gateapi.NewClient(gateapi.Config{URLs: list, AdminToken: adminToken, Timeout: timeout, Transport: transport})
	if err != nil {
		return nil, err
	}
	return &ClusterRevoker{client: c}, nil
}

// Revoke asks the cluster to revoke the ticket at version.
func (r *ClusterRevoker) Revoke(ctx context.Context, id [16]byte, version uint64) (RevokeResult, error) {
	resp, err := r.client.Revoke(ctx, ticket.FormatID(id), gateapi.ChangeRequest{Version: version})
	if err != nil {
		if s := gateapi.StatusOf(err); s > 0 && s < 500 {
			return RevokeResult{}, fmt.Errorf("%w: %w", ErrClusterRefused, err)
		}
		// Unreachable, 5xx from every node, or no answer in time
		// (gateapi.ErrUnavailable, ErrOutcomeUnknown): see ClusterRevoker.
		return RevokeResult{}, fmt.Errorf("%w: %w", ErrClusterUnavailable, err)
	}
	switch resp.Outcome {
	case gateapi.OutcomeRevoked, gateapi.OutcomeAlreadyUsed, gateapi.OutcomeUnknown, gateapi.OutcomeStale:
		return RevokeResult{Outcome: resp.Outcome, FirstEntryAt: resp.FirstEntryAt,
			FirstEntryGate: resp.FirstEntryGate, Zone: resp.Zone}, nil
	}
	return RevokeResult{}, fmt.Errorf("%w: the cluster answered outcome %q", ErrClusterRefused, resp.Outcome)
}
