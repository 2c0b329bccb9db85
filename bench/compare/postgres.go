package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/admitpark/admit/bench/loadgen"
	"github.com/admitpark/admit/sales/pgserver"
)

// pgSystem is one throwaway PostgreSQL server (sales/pgserver, the
// machine's binaries) with durable commits: fsync and synchronous_commit
// on, full_page_writes on. Tickets are rows of one table keyed by the
// ticket id.
type pgSystem struct {
	binDir string
	conns  int // pool size the simulated gates share
	srv    *pgserver.Server
	pool   *pgxpool.Pool
}

// pgSettings are passed to the server explicitly (they are PostgreSQL's
// defaults too), so the report says what ran.
var pgSettings = map[string]string{
	"fsync":              "on",
	"synchronous_commit": "on",
	"full_page_writes":   "on",
	"wal_sync_method":    "fdatasync",
	"max_connections":    "200",
	"shared_buffers":     "256MB",
}

// scanSQL is one scan in one statement (one round trip, autocommit): mark
// the ticket used if it is not, say whether it exists, and record the
// entry event (admit records one for every scan, admitted or denied). The
// EXISTS sees the row as it was before the UPDATE, so it tells
// already_used from unknown; a concurrent scan of the same ticket makes
// the UPDATE wait and re-check NOT used, so only one of them admits.
const scanSQL = `WITH u AS (UPDATE tickets SET used = true, used_at = now() WHERE id = $1 AND NOT used RETURNING 1),
k AS (SELECT EXISTS (SELECT 1 FROM u) AS admitted, EXISTS (SELECT 1 FROM tickets WHERE id = $1) AS known),
e AS (INSERT INTO entry_events (ticket_id, gate, scan_id, result)
      SELECT $1, $2, $3, CASE WHEN admitted THEN 'admit' WHEN known THEN 'already_used' ELSE 'unknown' END FROM k)
SELECT admitted, known FROM k`

// scanBatchSQL is a batch of scans in one statement: $1 the ticket ids,
// $2 the scan ids (in request order), $3 the gate. One UPDATE marks every
// unused ticket of the batch, one INSERT records an entry event per scan,
// and the answer has one row per scan in request order. A ticket twice in
// a batch admits once (its first scan); the others are already_used.
const scanBatchSQL = `WITH s AS (SELECT id, scan_id, n FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS s(id, scan_id, n)),
u AS (UPDATE tickets SET used = true, used_at = now() WHERE id = ANY($1::uuid[]) AND NOT used RETURNING id),
r AS (SELECT s.n, s.id, s.scan_id,
             u.id IS NOT NULL AND row_number() OVER (PARTITION BY s.id ORDER BY s.n) = 1 AS admitted,
             t.id IS NOT NULL AS known
      FROM s LEFT JOIN u ON u.id = s.id LEFT JOIN tickets t ON t.id = s.id),
e AS (INSERT INTO entry_events (ticket_id, gate, scan_id, result)
      SELECT id, $3, scan_id, CASE WHEN admitted THEN 'admit' WHEN known THEN 'already_used' ELSE 'unknown' END FROM r)
SELECT admitted, known FROM r ORDER BY n`

func (p *pgSystem) name() string { return "postgres" }

func (p *pgSystem) start(ctx context.Context, dir string) (systemInfo, error) {
	cfg := pgserver.DefaultConfig(dir + "/pgdata")
	cfg.BinDir = p.binDir
	cfg.Settings = pgSettings
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.StartTimeout = pgStartTimeout
	srv, err := pgserver.Start(ctx, cfg)
	if err != nil {
		return systemInfo{}, err
	}
	p.srv = srv
	if err := srv.CreateDatabase(ctx, "bench"); err != nil {
		return systemInfo{}, err
	}
	pc, err := pgxpool.ParseConfig(srv.DSN("bench"))
	if err != nil {
		return systemInfo{}, err
	}
	pc.MaxConns, pc.MinConns = int32(p.conns), int32(p.conns)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return systemInfo{}, err
	}
	p.pool = pool
	var ver string
	if err := pool.QueryRow(ctx, "SELECT current_setting('server_version')").Scan(&ver); err != nil {
		return systemInfo{}, err
	}
	var settings []string
	for _, k := range slices.Sorted(maps.Keys(pgSettings)) {
		settings = append(settings, k+"="+pgSettings[k])
	}
	settings = append(settings, "other settings: PostgreSQL defaults (commit_delay 0, checkpoint_timeout 5min, max_wal_size 1GB)",
		"table: tickets (id uuid primary key, used bool, used_at timestamptz) WITH (fillfactor = 70), loaded with COPY, then VACUUM ANALYZE and CHECKPOINT",
		"table: entry_events (seq bigserial primary key, ticket_id uuid, gate text, scan_id text, result text, at timestamptz default now()): one row per scan, as admit records an entry event per scan",
		fmt.Sprintf("client: pgx v5 pool of %d connections shared by the simulated gates (statements prepared and cached)", p.conns))
	return systemInfo{
		Version: "PostgreSQL " + ver + ", client pgx v5",
		PerScan: "one statement in autocommit: WITH u AS (UPDATE tickets SET used = true, used_at = now() WHERE id = $1 AND NOT used RETURNING 1), " +
			"k AS (SELECT EXISTS (SELECT 1 FROM u), EXISTS (SELECT 1 FROM tickets WHERE id = $1)), e AS (INSERT INTO entry_events … FROM k) SELECT … FROM k: " +
			"the compare-and-swap and the entry event; an already-used ticket writes only its event. " +
			"Batched: one statement per request, UPDATE … WHERE id = ANY($1) AND NOT used RETURNING id and one INSERT of an event per scan in the same statement",
		Durability: "single server, no replica: each admitting commit waits for its WAL fdatasync (synchronous_commit=on); concurrent commits share flushes",
		Settings:   settings,
		Endpoints:  []string{fmt.Sprintf("127.0.0.1:%d", srv.Port())},
	}, nil
}

func (p *pgSystem) load(ctx context.Context, ts *ticketSet) error {
	_, err := p.pool.Exec(ctx, `DROP TABLE IF EXISTS tickets, entry_events;
CREATE TABLE tickets (id uuid PRIMARY KEY, used boolean NOT NULL DEFAULT false, used_at timestamptz) WITH (fillfactor = 70);
CREATE TABLE entry_events (seq bigserial PRIMARY KEY, ticket_id uuid NOT NULL, gate text NOT NULL, scan_id text NOT NULL,
  result text NOT NULL, at timestamptz NOT NULL DEFAULT now())`)
	if err != nil {
		return err
	}
	rows := make([][]any, len(ts.IDs))
	for i, id := range ts.IDs {
		rows[i] = []any{id}
	}
	n, err := p.pool.CopyFrom(ctx, pgx.Identifier{"tickets"}, []string{"id"}, pgx.CopyFromRows(rows))
	if err != nil {
		return err
	}
	if int(n) != len(ts.IDs) {
		return fmt.Errorf("copied %d of %d tickets", n, len(ts.IDs))
	}
	for _, q := range []string{"VACUUM ANALYZE tickets", "CHECKPOINT"} {
		if _, err := p.pool.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

func (p *pgSystem) target(_ context.Context, _ loadgen.Config, ts *ticketSet) (loadgen.Target, error) {
	return &pgTarget{pool: p.pool, ts: ts}, nil
}

func (p *pgSystem) stop() {
	if p.pool != nil {
		p.pool.Close()
	}
	if p.srv != nil {
		if err := p.srv.Stop(); err != nil {
			slog.Warn("postgres did not stop", "err", err)
		}
	}
}

// pgTarget scans with scanSQL; every worker shares the pool.
type pgTarget struct {
	pool *pgxpool.Pool
	ts   *ticketSet
}

func (t *pgTarget) Conn(int) (loadgen.Conn, error) { return &pgConn{t: t}, nil }

type pgConn struct {
	t       *pgTarget
	ids     [][16]byte // a batch's, reused
	scanIDs []string
}

func (c *pgConn) Close() error { return nil }

func (c *pgConn) Do(ctx context.Context, r *loadgen.Request) error {
	ctx, cancel := context.WithDeadline(ctx, r.Deadline)
	defer cancel()
	if len(r.Codes) > 1 {
		return c.doBatch(ctx, r)
	}
	for i, code := range r.Codes {
		id, err := c.t.ts.id(code)
		if err != nil {
			return &loadgen.AttemptError{Kind: "not_in_set", Msg: err.Error()}
		}
		var admitted, exists bool
		if err := c.t.pool.QueryRow(ctx, scanSQL, id, r.Gate, r.ScanID(i)).Scan(&admitted, &exists); err != nil {
			return pgError(err)
		}
		r.Results[i] = pgResult(admitted, exists)
	}
	return nil
}

// doBatch decides the whole request with scanBatchSQL.
func (c *pgConn) doBatch(ctx context.Context, r *loadgen.Request) error {
	c.ids, c.scanIDs = c.ids[:0], c.scanIDs[:0]
	for i, code := range r.Codes {
		id, err := c.t.ts.id(code)
		if err != nil {
			return &loadgen.AttemptError{Kind: "not_in_set", Msg: err.Error()}
		}
		c.ids, c.scanIDs = append(c.ids, id), append(c.scanIDs, r.ScanID(i))
	}
	rows, err := c.t.pool.Query(ctx, scanBatchSQL, c.ids, c.scanIDs, r.Gate)
	if err != nil {
		return pgError(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var admitted, exists bool
		if err := rows.Scan(&admitted, &exists); err != nil {
			return pgError(err)
		}
		if n < len(r.Results) {
			r.Results[n] = pgResult(admitted, exists)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return pgError(err)
	}
	if n != len(r.Codes) {
		clear(r.Results)
		return &loadgen.AttemptError{Kind: "pg_reply", Msg: fmt.Sprintf("%d rows for %d scans", n, len(r.Codes))}
	}
	return nil
}

func pgResult(admitted, exists bool) loadgen.Result {
	switch {
	case admitted:
		return loadgen.Result{Decision: loadgen.Admit}
	case exists:
		return loadgen.Result{Decision: loadgen.Deny, Reason: "already_used"}
	default:
		return loadgen.Result{Decision: loadgen.Deny, Reason: "unknown"}
	}
}

// pgError names a failed scan. None is retried, for the reason etcdError
// gives.
func pgError(err error) error {
	kind := "pg_error"
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
		kind = "timeout"
	case errors.As(err, &pe):
		kind = "pg_" + strings.ToLower(pe.Code)
	}
	return &loadgen.AttemptError{Kind: kind, Msg: err.Error()}
}

// pgStartTimeout bounds the server start (initdb included).
const pgStartTimeout = 2 * time.Minute
