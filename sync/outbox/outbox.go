package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/admitpark/admit/validator/ticket"
)

// Tx is what the Write functions need: the caller's pgx.Tx (normally, so
// the row commits with the change it describes) or a pool.
type Tx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// DB is what the relay's side needs: a *pgxpool.Pool (or a pgx.Tx, whose
// Begin is a savepoint).
type DB interface {
	Tx
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Begin(ctx context.Context) (pgx.Tx, error)
}

// WriteIssue adds an issue row for t (ticket_id and version from t) after
// checking that the cluster would accept it (ErrInvalidTicket). The row's
// park_id is t.Park (the park whose cluster must learn the ticket; ""
// leaves it NULL: the default cluster). createdAt is the row's created_at;
// zero means now() (the transaction's start).
func WriteIssue(ctx context.Context, tx Tx, t Ticket, createdAt time.Time) (seq int64, err error) {
	if err := t.Validate(); err != nil {
		return 0, err
	}
	id, err := ticket.ParseID(t.ID)
	if err != nil { // Validate checked it
		return 0, fmt.Errorf("%w: %v", ErrInvalidTicket, err)
	}
	return insert(ctx, tx, KindIssue, t.Park, &id, t.Version, t, createdAt)
}

// WriteRevoke adds a revoke row for the ticket of park at c.Version,
// unless the outbox already holds one for this ticket and version (sent or
// not): a second would change nothing. seq is 0 when no row was written.
func WriteRevoke(ctx context.Context, tx Tx, park string, ticketID [16]byte, c Change) (seq int64, err error) {
	if c.Version == 0 {
		return 0, fmt.Errorf("%w: a revoke needs a version", ErrPayload)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return 0, err
	}
	err = tx.QueryRow(ctx, `INSERT INTO outbox (kind, ticket_id, version, payload, park_id)
		SELECT 'revoke', $1, $2, $3, $4 WHERE NOT EXISTS (
			SELECT 1 FROM outbox WHERE kind = 'revoke' AND ticket_id = $1 AND version = $2)
		RETURNING seq`, ticketID, int64(c.Version), payload, parkArg(park)).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("outbox revoke: %w", err)
	}
	return seq, nil
}

// WriteUpdate adds an update row (suspend, resume, extend) for the ticket
// of park.
func WriteUpdate(ctx context.Context, tx Tx, park string, ticketID [16]byte, c Change) (seq int64, err error) {
	if c.Version == 0 || c.Op == "" {
		return 0, fmt.Errorf(`%w: an update needs a version and an op`, ErrPayload)
	}
	return insert(ctx, tx, KindUpdate, park, &ticketID, c.Version, c, time.Time{})
}

// WriteConfigure adds a configure row; its park_id is c.Park ("" leaves it
// NULL: the default cluster). Keys must be Ed25519 public keys in standard
// base64 with distinct ids.
func WriteConfigure(ctx context.Context, tx Tx, c Configure) (seq int64, err error) {
	if c.empty() {
		return 0, fmt.Errorf("%w: an empty configure", ErrPayload)
	}
	if err := c.validateKeys(); err != nil {
		return 0, err
	}
	return insert(ctx, tx, KindConfigure, c.Park, nil, 0, c, time.Time{})
}

// parkArg is park as a query argument: NULL when "".
func parkArg(park string) any {
	if park == "" {
		return nil
	}
	return park
}

func insert(ctx context.Context, tx Tx, kind, park string, ticketID *[16]byte, version uint64, payload any, createdAt time.Time) (int64, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return 0, fmt.Errorf("outbox %s payload: %w", kind, err)
	}
	var tid, ver, at any // NULL unless set
	if ticketID != nil {
		tid, ver = *ticketID, int64(version)
	}
	if !createdAt.IsZero() {
		at = createdAt
	}
	var seq int64
	if err := tx.QueryRow(ctx, `INSERT INTO outbox (kind, ticket_id, version, payload, created_at, park_id)
		VALUES ($1, $2, $3, $4, coalesce($5::timestamptz, now()), $6) RETURNING seq`, kind, tid, ver, b, at, parkArg(park)).Scan(&seq); err != nil {
		return 0, fmt.Errorf("outbox %s: %w", kind, err)
	}
	return seq, nil
}

// Row is one outbox row as the relay reads it.
type Row struct {
	Seq       int64
	CreatedAt time.Time
	Kind      string
	TicketID  [16]byte // zero unless HasTicket
	HasTicket bool
	Version   int64  // the ticket's version after the row; 0 for configure
	Payload   []byte // JSON, as stored; decode with Decode*
	Park      string // park_id: the park whose cluster must learn the row; "" (NULL) the default cluster
}

// Route says which rows one relay sends: those of one park (Park), or, for
// the default cluster (Park ""), the rows with no park and those of every
// park not in Except (the parks that have a cluster of their own).
type Route struct {
	Park   string
	Except []string
}

// where is the route's condition on outbox.park_id, with its one argument
// as $n.
func (r Route) where(n int) (string, any) {
	if r.Park != "" {
		return fmt.Sprintf("park_id = $%d", n), r.Park
	}
	except := r.Except
	if except == nil {
		except = []string{}
	}
	return fmt.Sprintf("(park_id IS NULL OR NOT park_id = ANY($%d::text[]))", n), except
}

// Ticket returns the row's ticket id as 32 hex digits, "" if none.
func (r Row) Ticket() string {
	if !r.HasTicket {
		return ""
	}
	return ticket.FormatID(r.TicketID)
}

// LoadUnsent reads up to limit unsent rows of every park in seq order. No
// high-water mark: a row that committed late with a lower seq is read by
// the next call.
func LoadUnsent(ctx context.Context, db DB, limit int) ([]Row, error) {
	return load(ctx, db, "true", nil, limit)
}

// LoadUnsentFor reads up to limit unsent rows of route in seq order, as
// LoadUnsent does.
func LoadUnsentFor(ctx context.Context, db DB, route Route, limit int) ([]Row, error) {
	cond, arg := route.where(2)
	return load(ctx, db, cond, arg, limit)
}

func load(ctx context.Context, db DB, cond string, arg any, limit int) ([]Row, error) {
	args := []any{limit}
	if arg != nil {
		args = append(args, arg)
	}
	rows, err := db.Query(ctx, `SELECT seq, created_at, kind, ticket_id, version, payload, coalesce(park_id, '')
		FROM outbox WHERE sent_at IS NULL AND `+cond+` ORDER BY seq LIMIT $1`, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Row, error) {
		var o Row
		var id pgtype.UUID
		var version pgtype.Int8
		err := row.Scan(&o.Seq, &o.CreatedAt, &o.Kind, &id, &version, &o.Payload, &o.Park)
		o.TicketID, o.HasTicket, o.Version = id.Bytes, id.Valid, version.Int64
		return o, err
	})
}

// IssuePending reports whether an unsent issue row for the ticket is left.
func IssuePending(ctx context.Context, db DB, ticketID [16]byte) (bool, error) {
	var pending bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM outbox
		WHERE kind = 'issue' AND ticket_id = $1 AND sent_at IS NULL)`, ticketID).Scan(&pending)
	return pending, err
}

// Backlog counts the unsent rows.
func Backlog(ctx context.Context, db DB) (int64, error) {
	var n int64
	err := db.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&n)
	return n, err
}

// BacklogFor counts the unsent rows of route.
func BacklogFor(ctx context.Context, db DB, route Route) (int64, error) {
	cond, arg := route.where(1)
	var n int64
	err := db.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL AND `+cond, arg).Scan(&n)
	return n, err
}

// MarkSent sets sent_at on the rows of seqs (the cluster acknowledged
// them) in one transaction. It returns, for each row it marked (not those
// marked already), its age in seconds from created_at.
func MarkSent(ctx context.Context, db DB, seqs []int64) ([]float64, error) {
	var ages []float64
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) (err error) {
		ages, err = markSent(ctx, tx, seqs, "")
		return err
	})
	return ages, err
}

// GiveUp marks row sent without an acknowledgement, with note (the
// cluster's outcome: why it was given up) in outbox.note and an audit_log
// entry (action sync.outbox.given_up, object outbox/seq), in one
// transaction. It returns the row's age as MarkSent does.
func GiveUp(ctx context.Context, db DB, row Row, note string) ([]float64, error) {
	if note == "" {
		return nil, fmt.Errorf("outbox: GiveUp needs a note")
	}
	details, err := json.Marshal(map[string]any{
		"kind": row.Kind, "ticket": row.Ticket(), "outcome": note, "payload": json.RawMessage(row.Payload),
	})
	if err != nil {
		return nil, fmt.Errorf("audit details: %w", err)
	}
	var ages []float64
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if ages, err = markSent(ctx, tx, []int64{row.Seq}, note); err != nil {
			return err
		}
		// The row sales/audit.Record writes for a system principal (no
		// user, no API key, no remote address); sync does not link sales.
		_, err := tx.Exec(ctx, `INSERT INTO audit_log (user_id, api_key_id, action, object_type, object_id, details, remote_addr)
			VALUES (NULL, NULL, 'sync.outbox.given_up', 'outbox', $1, $2, '')`, fmt.Sprint(row.Seq), details)
		return err
	})
	return ages, err
}

func markSent(ctx context.Context, tx pgx.Tx, seqs []int64, note string) ([]float64, error) {
	// One time for the batch (the statement's), whatever order the plan
	// updates the rows in: ordered by (sent_at, seq), rows read as sent in
	// seq order.
	res, err := tx.Query(ctx, `UPDATE outbox SET sent_at = statement_timestamp(), note = nullif($2, '')
		WHERE seq = ANY($1) AND sent_at IS NULL
		RETURNING extract(epoch FROM clock_timestamp() - created_at)::float8`, seqs, note)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(res, pgx.RowTo[float64])
}
