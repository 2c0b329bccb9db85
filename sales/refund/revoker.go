package refund

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/admitpark/admit/cluster/httpapi"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// Outcomes of a revoke, as the cluster names them.
const (
	OutcomeRevoked     = "revoked"      // revoked now, or already
	OutcomeAlreadyUsed = "already_used" // refused: the ticket entered a zone
	OutcomeUnknown     = "unknown"      // the cluster does not have the ticket (yet)
	OutcomeStale       = "stale"        // the cluster has this version or a newer one
)

// RevokeResult is the cluster's answer to a revoke.
type RevokeResult struct {
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
// cluster's nodes with the admin token. It tries the nodes in order and
// moves on when one cannot be reached or answers 5xx (a node cut off from
// the others answers 503 while the rest may have a leader).
type ClusterRevoker struct {
	nodes []*httpapi.Client
}

// NewClusterRevoker takes the nodes' URLs comma-separated
// ("http://10.0.0.1:7101,http://10.0.0.2:7101"), the cluster's admin token
// and a timeout per node call.
func NewClusterRevoker(urls, adminToken string, timeout time.Duration) (*ClusterRevoker, error) {
	all, err := httpapi.NewClient(urls, adminToken)
	if err != nil {
		return nil, err
	}
	if adminToken == "" {
		return nil, errors.New("refund: the cluster's admin token is required")
	}
	if timeout <= 0 {
		return nil, errors.New("refund: the cluster call timeout must be positive")
	}
	r := &ClusterRevoker{}
	hc := &http.Client{Timeout: timeout}
	for _, u := range all.URLs {
		r.nodes = append(r.nodes, &httpapi.Client{URLs: []string{u}, AdminToken: adminToken, HTTP: hc})
	}
	return r, nil
}

// Revoke asks the cluster to revoke the ticket at version.
func (r *ClusterRevoker) Revoke(ctx context.Context, id [16]byte, version uint64) (RevokeResult, error) {
	path := gateapi.PathTickets + ticket.FormatID(id) + gateapi.PathTicketRevoke
	var errs []error
	for _, node := range r.nodes {
		var resp gateapi.ChangeResponse
		err := node.Do(ctx, http.MethodPost, path, gateapi.ChangeRequest{Version: version}, &resp)
		if err == nil {
			switch resp.Outcome {
			case OutcomeRevoked, OutcomeAlreadyUsed, OutcomeUnknown, OutcomeStale:
				return RevokeResult{Outcome: resp.Outcome, FirstEntryAt: resp.FirstEntryAt,
					FirstEntryGate: resp.FirstEntryGate, Zone: resp.Zone}, nil
			}
			return RevokeResult{}, fmt.Errorf("%w: %s answered outcome %q", ErrClusterRefused, node.URLs[0], resp.Outcome)
		}
		var apiErr *httpapi.APIError
		if errors.As(err, &apiErr) && apiErr.Status < 500 {
			return RevokeResult{}, fmt.Errorf("%w: %w", ErrClusterRefused, err)
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return RevokeResult{}, fmt.Errorf("%w: %w", ErrClusterUnavailable, errors.Join(errs...))
}
