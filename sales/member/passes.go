package member

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/admitpark/admit/sales/credential"
	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sync/outbox"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// Passes are tickets bound to a card (tickets.card_id), sold through
// orders with the card named on the order line: the card is one of their
// credentials at the gates.

// suspendPasses suspends every active ticket bound to card, in tx: version
// up by one and an outbox update row (op suspend) each. The relay sends
// it as soon as tx commits (LISTEN/NOTIFY), so the gates answer
// "suspended" for the card and the ticket's code.
func suspendPasses(ctx context.Context, tx pgx.Tx, cardID int64) ([]string, error) {
	rows, err := tx.Query(ctx, `UPDATE tickets SET status = 'suspended', version = version + 1
		WHERE card_id = $1 AND status = 'active' RETURNING id, version, park_id`, cardID)
	if err != nil {
		return nil, err
	}
	type bumped struct {
		id      pgtype.UUID
		version int64
		park    string
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (bumped, error) {
		var b bumped
		err := r.Scan(&b.id, &b.version, &b.park)
		return b, err
	})
	if err != nil {
		return nil, err
	}
	ids := []string{}
	for _, b := range list {
		if _, err := outbox.WriteUpdate(ctx, tx, b.park, b.id.Bytes,
			outbox.Change{Version: uint64(b.version), Op: gateapi.OpSuspend}); err != nil {
			return nil, err
		}
		ids = append(ids, ticket.FormatID(b.id.Bytes))
	}
	return ids, nil
}

// rebindPasses binds the still valid tickets of card oldID to newID and
// sends each as a new version (a new code, the new card among its
// credentials, active again if the loss had suspended it): the old card
// opens nothing, the new one admits with the entries left (the cluster
// keeps a ticket's use across versions).
func (a *API) rebindPasses(ctx context.Context, tx pgx.Tx, oldID, newID int64) ([]string, error) {
	rows, err := tx.Query(ctx, `UPDATE tickets SET card_id = $2, status = 'active'
		WHERE card_id = $1 AND status IN ('active', 'suspended') AND valid_until > $3 RETURNING id`, oldID, newID, a.now())
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, pgx.RowTo[pgtype.UUID])
	if err != nil {
		return nil, err
	}
	ids := []string{}
	if len(list) == 0 {
		return ids, nil
	}
	signer, err := keys.Active(ctx, tx, a.cfg.KEK)
	if err != nil {
		return nil, err
	}
	for _, id := range list {
		t, err := credential.NewVersion(ctx, tx, signer, signer.KeyID, id.Bytes)
		if err != nil {
			return nil, err
		}
		if _, err := outbox.WriteIssue(ctx, tx, t, time.Time{}); err != nil {
			return nil, err
		}
		ids = append(ids, t.ID)
	}
	return ids, nil
}
