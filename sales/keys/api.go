package keys

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/web"
)

// RotateAPI serves POST /v1/keys/rotate (admin): a new active signing key;
// the retired one keeps verifying its codes until they expire (see
// clusterKeys). The new public key set reaches every park's cluster
// through the outbox (configure rows), and the parks' gate agents from the
// cluster.
type RotateAPI struct {
	Pool Beginner
	KEK  *KEK
	Log  *slog.Logger
}

// RotateResult answers POST /v1/keys/rotate and `admit sales keys rotate`.
type RotateResult struct {
	KeyID   uint8   `json:"key_id"`   // the new active key
	Retired []uint8 `json:"retired"`  // the key(s) it replaced
	Sent    []uint8 `json:"verifies"` // the set the clusters verify with now
}

// Routes registers the route.
func (a *RotateAPI) Routes(mux *http.ServeMux, authn web.Authenticator) {
	mux.Handle("POST /v1/keys/rotate", web.Authenticated(authn, web.Require(a.handleRotate, web.RoleAdmin)))
}

func (a *RotateAPI) handleRotate(w http.ResponseWriter, r *http.Request) {
	// No parameters: an empty body or {}.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1024))
	if err != nil {
		web.Error(w, http.StatusRequestEntityTooLarge, "request body too large: send nothing or {}")
		return
	}
	if b := bytes.TrimSpace(body); len(b) > 0 {
		var none struct{}
		if err := web.DecodeBytes(b, &none); err != nil {
			web.Error(w, http.StatusBadRequest, "rotate takes no parameters: send nothing or {} (%v)", err)
			return
		}
	}
	p, _ := web.PrincipalFrom(r.Context())
	res, err := RotateRecorded(r.Context(), a.Pool, a.KEK, p)
	if err != nil {
		web.Fail(w, a.Log, err)
		return
	}
	web.JSON(w, http.StatusOK, res)
}

// RotateRecorded rotates in one transaction with an audit row by p.
func RotateRecorded(ctx context.Context, db Beginner, kek *KEK, p web.Principal) (RotateResult, error) {
	var res RotateResult
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM signing_keys WHERE active`)
		if err != nil {
			return err
		}
		old, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		if res.KeyID, err = Rotate(ctx, tx, kek); err != nil {
			return err
		}
		for _, id := range old {
			res.Retired = append(res.Retired, uint8(id))
		}
		set, err := clusterKeys(ctx, tx)
		if err != nil {
			return err
		}
		for _, k := range set {
			res.Sent = append(res.Sent, k.ID)
		}
		return audit.Record(ctx, tx, p, "keys.rotate", "signing_key", strconv.Itoa(int(res.KeyID)), res)
	})
	return res, err
}
