package db

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migration is one schema change, from the file NNNN_name.sql.
type Migration struct {
	Version int    // NNNN
	Name    string // name
	File    string // NNNN_name.sql, for messages
	SQL     string
}

// migrationLockKey is the pg_advisory_xact_lock key every migrator takes
// ("admit_db" in ASCII). Advisory locks are per database.
const migrationLockKey int64 = 0x61646d69745f6462

var migrationFile = regexp.MustCompile(`^([0-9]{4,})_([A-Za-z0-9][A-Za-z0-9_-]*)\.sql$`)

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

// embedded returns the migrations compiled into the binary.
func embedded() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // a constant, valid path
	}
	return sub
}

// Migrations returns the migrations compiled into this binary, by version.
func Migrations() ([]Migration, error) {
	return loadMigrations(embedded())
}

// loadMigrations reads the *.sql files at the root of fsys.
func loadMigrations(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadMigration, err)
	}
	var ms []Migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		m := migrationFile.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("%w: file %q: want NNNN_name.sql (at least 4 digits, then letters, digits, _ or -)", ErrBadMigration, e.Name())
		}
		v, err := strconv.Atoi(m[1])
		if err != nil {
			return nil, fmt.Errorf("%w: file %q: %w", ErrBadMigration, e.Name(), err)
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadMigration, err)
		}
		if strings.TrimSpace(string(b)) == "" {
			return nil, fmt.Errorf("%w: file %q is empty", ErrBadMigration, e.Name())
		}
		ms = append(ms, Migration{Version: v, Name: m[2], File: e.Name(), SQL: string(b)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range ms {
		if i > 0 && m.Version == ms[i-1].Version {
			return nil, fmt.Errorf("%w: version %d twice: %s and %s", ErrBadMigration, m.Version, ms[i-1].File, m.File)
		}
		if m.Version != i+1 {
			return nil, fmt.Errorf("%w: %s: versions must run 1, 2, 3, ... without gaps; want version %d here", ErrBadMigration, m.File, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("%w: no NNNN_name.sql files", ErrBadMigration)
	}
	return ms, nil
}

// Migrate brings the database up to this binary's schema and returns the
// versions it applied, in order (none when it was up to date). Each
// migration runs in its own transaction together with its row in
// schema_migrations, under a transaction-level advisory lock, so
// concurrent migrators (several processes starting at once) apply each
// migration exactly once and all succeed. A database migrated by a newer
// binary is refused with ErrSchemaTooNew, and nothing is changed. A failing
// migration is rolled back completely and reported with ErrMigrationFailed,
// its version and file; the ones before it stay applied.
func Migrate(ctx context.Context, pool *pgxpool.Pool) (applied []int, err error) {
	return migrateFS(ctx, pool, embedded())
}

// migrateFS is Migrate with the migrations read from the root of fsys.
func migrateFS(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS) ([]int, error) {
	all, err := loadMigrations(fsys)
	if err != nil {
		return nil, err
	}
	var applied []int
	for {
		v, err := migrateStep(ctx, pool, all)
		if err != nil || v == 0 {
			return applied, err
		}
		applied = append(applied, v)
	}
}

// migrateStep applies the first pending migration, if any, in one
// transaction holding the migration lock. It returns the version it
// applied, 0 when none was pending.
func migrateStep(ctx context.Context, pool *pgxpool.Pool, all []Migration) (version int, err error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("db: migrate: %w", err)
	}
	defer func() {
		// After Commit this is a no-op; on a cancelled ctx it still ends
		// the transaction (or pgx closes the connection).
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey); err != nil {
		return 0, fmt.Errorf("db: migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, createMigrationsTable); err != nil {
		return 0, fmt.Errorf("db: migrate: %w", err)
	}
	current, err := currentVersion(ctx, tx, all)
	if err != nil {
		return 0, err
	}
	if current == len(all) {
		if err := tx.Commit(ctx); err != nil { // keeps schema_migrations
			return 0, fmt.Errorf("db: migrate: %w", err)
		}
		return 0, nil
	}
	m := all[current]
	if _, err := tx.Exec(ctx, m.SQL); err != nil {
		return 0, migrationError(m, err)
	}
	if st := tx.Conn().PgConn().TxStatus(); st != 'T' {
		return 0, migrationError(m, fmt.Errorf("the file ended the transaction itself (transaction status %q): migrations must not BEGIN, COMMIT or ROLLBACK", st))
	}
	if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())", m.Version, m.Name); err != nil {
		return 0, migrationError(m, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, migrationError(m, err)
	}
	return m.Version, nil
}

// Status returns the database's schema version (0 before the first
// migration) and the migrations Migrate would apply. It changes nothing.
// A database newer than this binary gives its version and ErrSchemaTooNew.
func Status(ctx context.Context, pool *pgxpool.Pool) (current int, pending []Migration, err error) {
	return statusFS(ctx, pool, embedded())
}

func statusFS(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS) (int, []Migration, error) {
	all, err := loadMigrations(fsys)
	if err != nil {
		return 0, nil, err
	}
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return 0, nil, fmt.Errorf("db: status: %w", err)
	}
	if !exists {
		return 0, all, nil
	}
	current, err := currentVersion(ctx, pool, all)
	if err != nil {
		return current, nil, err
	}
	return current, all[current:], nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// currentVersion reads schema_migrations and checks it against all: the
// versions must be 1..current under the names this binary has. On
// ErrSchemaTooNew it returns the database's highest version.
func currentVersion(ctx context.Context, q querier, all []Migration) (int, error) {
	type row struct {
		Version int
		Name    string
	}
	rows, err := q.Query(ctx, "SELECT version, name FROM schema_migrations ORDER BY version")
	if err != nil {
		return 0, fmt.Errorf("db: schema_migrations: %w", err)
	}
	recorded, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		return 0, fmt.Errorf("db: schema_migrations: %w", err)
	}
	if n := len(recorded); n > 0 && recorded[n-1].Version > len(all) {
		top := recorded[n-1]
		return top.Version, fmt.Errorf("%w: the database is at version %d (%s), this binary knows versions up to %d: run a newer admit",
			ErrSchemaTooNew, top.Version, top.Name, len(all))
	}
	for i, r := range recorded {
		if r.Version != i+1 {
			return 0, fmt.Errorf("%w: schema_migrations lacks version %d", ErrSchemaMismatch, i+1)
		}
		if m := all[i]; r.Name != m.Name {
			return 0, fmt.Errorf("%w: version %d was applied as %q, this binary has %s", ErrSchemaMismatch, r.Version, r.Name, m.File)
		}
	}
	return len(recorded), nil
}

// migrationError names the migration, and the line when PostgreSQL gave a
// position.
func migrationError(m Migration, err error) error {
	where := m.File
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Position > 0 {
		where += ":" + strconv.Itoa(lineAt(m.SQL, int(pgErr.Position)))
	}
	return fmt.Errorf("%w: version %d (%s): %w", ErrMigrationFailed, m.Version, where, err)
}

// lineAt returns the 1-based line of the pos'th character (1-based, in
// characters as PostgreSQL counts them) of sql.
func lineAt(sql string, pos int) int {
	line, n := 1, 0
	for _, r := range sql {
		n++
		if n >= pos {
			break
		}
		if r == '\n' {
			line++
		}
	}
	return line
}
