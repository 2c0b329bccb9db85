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
// the ticket used if it is not, and say whether it exists. The EXISTS sees
// the row as it was before the UPDATE, so it tells already_used from
// unknown; a concurrent scan of the same ticket makes the UPDATE wait and
// re-check NOT used, so only one of them admits.
const scanSQL = `WITH u AS (UPDATE tickets SET used = true, used_at = now() WHERE id = $1 AND NOT used RETURNING 1)
SELECT EXISTS (SELECT 1 FROM u), EXISTS (SELECT 1 FROM tickets WHERE id = $1)`

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
		fmt.Sprintf("client: pgx v5 pool of %d connections shared by the simulated gates (statements prepared and cached)", p.conns))
	return systemInfo{
		Version: "PostgreSQL " + ver + ", client pgx v5",
		PerScan: "one statement in autocommit: WITH u AS (UPDATE tickets SET used = true, used_at = now() WHERE id = $1 AND NOT used RETURNING 1) " +
			"SELECT EXISTS (SELECT 1 FROM u), EXISTS (SELECT 1 FROM tickets WHERE id = $1); an already-used ticket writes nothing",
		Durability: "single server, no replica: each admitting commit waits for its WAL fdatasync (synchronous_commit=on); concurrent commits share flushes",
		Settings:   settings,
		Endpoints:  []string{fmt.Sprintf("127.0.0.1:%d", srv.Port())},
	}, nil
}

func (p *pgSystem) load(ctx context.Context, ts *ticketSet) error {
	_, err := p.pool.Exec(ctx, `DROP TABLE IF EXISTS tickets;
CREATE TABLE tickets (id uuid PRIMARY KEY, used boolean NOT NULL DEFAULT false, used_at timestamptz) WITH (fillfactor = 70)`)
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

type pgConn struct{ t *pgTarget }

func (c *pgConn) Close() error { return nil }

func (c *pgConn) Do(ctx context.Context, r *loadgen.Request) error {
	ctx, cancel := context.WithDeadline(ctx, r.Deadline)
	defer cancel()
	for i, code := range r.Codes {
		id, err := c.t.ts.id(code)
		if err != nil {
			return &loadgen.AttemptError{Kind: "not_in_set", Msg: err.Error()}
		}
		var admitted, exists bool
		if err := c.t.pool.QueryRow(ctx, scanSQL, id).Scan(&admitted, &exists); err != nil {
			return pgError(err)
		}
		switch {
		case admitted:
			r.Results[i] = loadgen.Result{Decision: loadgen.Admit}
		case exists:
			r.Results[i] = loadgen.Result{Decision: loadgen.Deny, Reason: "already_used"}
		default:
			r.Results[i] = loadgen.Result{Decision: loadgen.Deny, Reason: "unknown"}
		}
	}
	return nil
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
