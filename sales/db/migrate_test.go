package db

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/admitpark/admit/sales/pgserver"
)

// The tests' PostgreSQL: the server ADMIT_TEST_PG names, or a throwaway
// pgserver started on first use and stopped by TestMain. (sales/pgtest
// would do this, but it imports this package, and these tests need the
// unexported migrateFS.)
var testPG struct {
	once  sync.Once
	err   error
	srv   *pgserver.Server
	dir   string
	admin string // DSN to run CREATE/DROP DATABASE from
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testPG.srv != nil {
		if err := testPG.srv.Stop(); err != nil {
			slog.Error("db tests: stopping PostgreSQL", "err", err)
			code = max(code, 1)
		}
	}
	if testPG.dir != "" {
		if err := os.RemoveAll(testPG.dir); err != nil {
			slog.Error("db tests: removing PostgreSQL's directory", "err", err)
		}
	}
	os.Exit(code)
}

func startPG() {
	if dsn := os.Getenv("ADMIT_TEST_PG"); dsn != "" {
		testPG.admin = dsn
		return
	}
	// The layout of sales/pgtest's throwaway servers (admit-pgtest-*/pgdata
	// with owner.pid), so that if this binary dies before TestMain stops
	// the server, the next pgtest user stops and removes it.
	dir, err := os.MkdirTemp("", "admit-pgtest-")
	if err != nil {
		testPG.err = err
		return
	}
	testPG.dir = dir
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(fmt.Sprint(os.Getpid())), 0o644); err != nil {
		testPG.err = err
		return
	}
	cfg := pgserver.DefaultConfig(filepath.Join(dir, "pgdata"))
	cfg.NoSync = true
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	testPG.srv, testPG.err = pgserver.Start(ctx, cfg)
	if testPG.err == nil {
		testPG.admin = testPG.srv.DSN("postgres")
	}
}

// withDatabase returns dsn naming database name instead.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("ADMIT_TEST_PG: %w", err)
		}
		u.Path, u.RawPath = "/"+name, ""
		q := u.Query()
		q.Del("dbname")
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return dsn + " dbname=" + name, nil // key=value: the last one wins
}

// newDSN returns the DSN of a fresh, empty database, dropped at cleanup.
func newDSN(t *testing.T) string {
	t.Helper()
	testPG.once.Do(startPG)
	if testPG.err != nil {
		t.Fatalf("test PostgreSQL: %v", testPG.err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "admit_dbtest_" + hex.EncodeToString(b)
	dsn, err := withDatabase(testPG.admin, name)
	if err != nil {
		t.Fatal(err)
	}
	admin := func(ctx context.Context, sql string) error {
		conn, err := pgx.Connect(ctx, testPG.admin)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := admin(t.Context(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := admin(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database: %v", err)
		}
	})
	return dsn
}

func newPool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := Open(t.Context(), dsn, DefaultPoolConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func newDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	return newPool(t, newDSN(t))
}

var testMigrations = os.DirFS("testdata/migrations")

// sub returns the first n test migrations, plus extra files.
func sub(t *testing.T, n int, extra fstest.MapFS) fs.FS {
	t.Helper()
	out := fstest.MapFS{}
	all, err := loadMigrations(testMigrations)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range all[:n] {
		out[m.File] = &fstest.MapFile{Data: []byte(m.SQL)}
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func sqlFile(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

type recorded struct {
	Version   int
	Name      string
	AppliedAt time.Time
}

func schemaRows(t *testing.T, pool *pgxpool.Pool) []recorded {
	t.Helper()
	rows, err := pool.Query(t.Context(), "SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[recorded])
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func count(t *testing.T, pool *pgxpool.Pool, sql string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestMigrationsEmbedded(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if m.Version != i+1 || m.Name == "" || m.SQL == "" || !strings.HasSuffix(m.File, ".sql") {
			t.Fatalf("migration %d: %+v", i, m)
		}
	}
}

func TestLoadMigrations(t *testing.T) {
	ms, err := loadMigrations(fstest.MapFS{
		"0002_b.sql":  sqlFile("SELECT 2"),
		"0001_a.sql":  sqlFile("SELECT 1"),
		"0010_j.sql":  sqlFile("x"),
		"README.md":   sqlFile("ignored"),
		"0003_c.sql":  sqlFile("x"),
		"0004_d.sql":  sqlFile("x"),
		"0005_e.sql":  sqlFile("x"),
		"0006_f.sql":  sqlFile("x"),
		"0007_g.sql":  sqlFile("x"),
		"0008_h.sql":  sqlFile("x"),
		"0009_i.sql":  sqlFile("x"),
		"sub/zzz.sql": sqlFile("ignored"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 10 || ms[0].Name != "a" || ms[1].File != "0002_b.sql" || ms[9].Version != 10 {
		t.Fatalf("got %+v", ms)
	}

	bad := map[string]fstest.MapFS{
		"bad name":      {"0001_a.sql": sqlFile("x"), "2_b.sql": sqlFile("x")},
		"no name":       {"0001.sql": sqlFile("x")},
		"duplicate":     {"0001_a.sql": sqlFile("x"), "0001_b.sql": sqlFile("x")},
		"gap":           {"0001_a.sql": sqlFile("x"), "0003_c.sql": sqlFile("x")},
		"not from 1":    {"0002_b.sql": sqlFile("x")},
		"empty":         {"0001_a.sql": sqlFile(" \n\t")},
		"no migrations": {},
	}
	for name, fsys := range bad {
		if _, err := loadMigrations(fsys); !errors.Is(err, ErrBadMigration) {
			t.Errorf("%s: err = %v, want ErrBadMigration", name, err)
		}
	}
}

func TestMigrateAppliesInOrder(t *testing.T) {
	pool := newDB(t)
	ctx := t.Context()

	current, pending, err := statusFS(ctx, pool, testMigrations)
	if err != nil || current != 0 || len(pending) != 3 {
		t.Fatalf("status before = %d, %d pending, %v", current, len(pending), err)
	}
	before := time.Now().Add(-time.Minute)
	applied, err := migrateFS(ctx, pool, testMigrations)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(applied, []int{1, 2, 3}) {
		t.Fatalf("applied %v", applied)
	}
	rows := schemaRows(t, pool)
	names := []string{"create_things", "seed_things", "add_note"}
	if len(rows) != 3 {
		t.Fatalf("schema_migrations = %+v", rows)
	}
	for i, r := range rows {
		if r.Version != i+1 || r.Name != names[i] || r.AppliedAt.Before(before) {
			t.Fatalf("schema_migrations[%d] = %+v", i, r)
		}
	}
	if n := count(t, pool, "SELECT count(*) FROM things WHERE note IS NULL"); n != 1 {
		t.Fatalf("things: %d rows", n)
	}
	current, pending, err = statusFS(ctx, pool, testMigrations)
	if err != nil || current != 3 || len(pending) != 0 {
		t.Fatalf("status after = %d, %d pending, %v", current, len(pending), err)
	}

	again, err := migrateFS(ctx, pool, testMigrations)
	if err != nil || len(again) != 0 {
		t.Fatalf("second run applied %v, err %v", again, err)
	}
	if len(schemaRows(t, pool)) != 3 {
		t.Fatal("second run changed schema_migrations")
	}

	// A later binary with one more migration applies just that one.
	more := sub(t, 3, fstest.MapFS{"0004_more.sql": sqlFile("CREATE TABLE more (id int)")})
	if applied, err := migrateFS(ctx, pool, more); err != nil || !slices.Equal(applied, []int{4}) {
		t.Fatalf("applied %v, err %v", applied, err)
	}
}

// TestMigrateConcurrent runs two migrators (separate pools, as two
// processes would) on one database at once; 0002 inserts a row with a
// primary key, so applying it twice would fail.
func TestMigrateConcurrent(t *testing.T) {
	for round := range 3 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			dsn := newDSN(t)
			pools := []*pgxpool.Pool{newPool(t, dsn), newPool(t, dsn)}
			applied := make([][]int, len(pools))
			errs := make([]error, len(pools))
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, p := range pools {
				wg.Go(func() {
					<-start
					applied[i], errs[i] = migrateFS(t.Context(), p, testMigrations)
				})
			}
			close(start)
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			all := slices.Concat(applied...)
			slices.Sort(all)
			if !slices.Equal(all, []int{1, 2, 3}) {
				t.Fatalf("applied %v and %v", applied[0], applied[1])
			}
			if n := count(t, pools[0], "SELECT count(*) FROM things"); n != 1 {
				t.Fatalf("things: %d rows", n)
			}
			if n := len(schemaRows(t, pools[0])); n != 3 {
				t.Fatalf("schema_migrations: %d rows", n)
			}
		})
	}
}

func TestSchemaTooNew(t *testing.T) {
	pool := newDB(t)
	ctx := t.Context()
	if _, err := migrateFS(ctx, pool, testMigrations); err != nil {
		t.Fatal(err)
	}
	older := sub(t, 2, nil)
	applied, err := migrateFS(ctx, pool, older)
	if !errors.Is(err, ErrSchemaTooNew) || len(applied) != 0 {
		t.Fatalf("applied %v, err = %v, want ErrSchemaTooNew", applied, err)
	}
	if !strings.Contains(err.Error(), "version 3") {
		t.Fatalf("error does not name the version: %v", err)
	}
	current, _, err := statusFS(ctx, pool, older)
	if !errors.Is(err, ErrSchemaTooNew) || current != 3 {
		t.Fatalf("status = %d, %v", current, err)
	}
}

func TestSchemaMismatch(t *testing.T) {
	pool := newDB(t)
	ctx := t.Context()
	if _, err := migrateFS(ctx, pool, sub(t, 2, nil)); err != nil {
		t.Fatal(err)
	}
	// Another branch's version 2.
	other := sub(t, 1, fstest.MapFS{"0002_other.sql": sqlFile("SELECT 1"), "0003_x.sql": sqlFile("SELECT 1")})
	if _, err := migrateFS(ctx, pool, other); !errors.Is(err, ErrSchemaMismatch) || !strings.Contains(err.Error(), "0002_other.sql") {
		t.Fatalf("err = %v, want ErrSchemaMismatch naming the file", err)
	}
	if _, _, err := statusFS(ctx, pool, other); !errors.Is(err, ErrSchemaMismatch) {
		t.Fatalf("status err = %v", err)
	}
}

func TestFailingMigrationRollsBack(t *testing.T) {
	pool := newDB(t)
	ctx := t.Context()
	broken := sub(t, 1, fstest.MapFS{"0002_broken.sql": sqlFile(
		"CREATE TABLE half (id int);\n" +
			"INSERT INTO half VALUES (1);\n" +
			"INSERT INTO things (id, name) VALUES (2, 'two');\n" +
			"INSERT INTO nowhere VALUES (1);\n")})
	applied, err := migrateFS(ctx, pool, broken)
	if !errors.Is(err, ErrMigrationFailed) {
		t.Fatalf("err = %v, want ErrMigrationFailed", err)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42P01" { // undefined_table
		t.Fatalf("err = %v, want the PostgreSQL error inside", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "version 2") || !strings.Contains(msg, "0002_broken.sql:4") {
		t.Fatalf("error does not name version, file and line: %v", msg)
	}
	if !slices.Equal(applied, []int{1}) {
		t.Fatalf("applied %v, want [1]", applied)
	}
	if n := count(t, pool, "SELECT count(*) FROM things"); n != 0 {
		t.Fatalf("things has %d rows: migration 2 was not rolled back", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM pg_class WHERE relname = 'half'"); n != 0 {
		t.Fatal("table half exists: migration 2 was not rolled back")
	}
	if rows := schemaRows(t, pool); len(rows) != 1 {
		t.Fatalf("schema_migrations = %+v", rows)
	}

	// Fixed, it applies.
	if applied, err := migrateFS(ctx, pool, sub(t, 3, nil)); err != nil || !slices.Equal(applied, []int{2, 3}) {
		t.Fatalf("applied %v, err %v", applied, err)
	}
}

func TestMigrationMustNotCommit(t *testing.T) {
	pool := newDB(t)
	fsys := fstest.MapFS{"0001_sneaky.sql": sqlFile("CREATE TABLE a (id int); COMMIT; CREATE TABLE b (id int);")}
	if _, err := migrateFS(t.Context(), pool, fsys); !errors.Is(err, ErrMigrationFailed) || !strings.Contains(err.Error(), "COMMIT") {
		t.Fatalf("err = %v, want ErrMigrationFailed about COMMIT", err)
	}
	if n := count(t, pool, "SELECT count(*) FROM schema_migrations"); n != 0 {
		t.Fatalf("schema_migrations has %d rows", n)
	}
}

// TestMigrateReal applies the real migrations to an empty database.
func TestMigrateReal(t *testing.T) {
	pool := newDB(t)
	all, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	applied, err := Migrate(t.Context(), pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != len(all) || applied[len(applied)-1] != all[len(all)-1].Version {
		t.Fatalf("applied %v of %d", applied, len(all))
	}
	current, pending, err := Status(t.Context(), pool)
	if err != nil || current != len(all) || len(pending) != 0 {
		t.Fatalf("status = %d, %d pending, %v", current, len(pending), err)
	}
}

func TestOpen(t *testing.T) {
	dsn := newDSN(t)
	cfg := PoolConfig{MaxConns: 3, MinConns: 0, ConnectTimeout: 2 * time.Second}
	pool, err := Open(t.Context(), dsn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if got := pool.Config().MaxConns; got != 3 {
		t.Fatalf("MaxConns = %d", got)
	}
	var app string
	if err := pool.QueryRow(t.Context(), "SHOW application_name").Scan(&app); err != nil || app != "admit" {
		t.Fatalf("application_name = %q, %v", app, err)
	}

	// Nobody listens on a port just closed: Open fails fast, no password shown.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = Open(t.Context(), "postgres://admit:s3cret@"+addr+"/x?sslmode=disable", cfg)
	if !errors.Is(err, ErrOpen) || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err = %v", err)
	}
	_, err = Open(t.Context(), "postgres://admit:s3cret@%zz/x", cfg)
	if !errors.Is(err, ErrOpen) || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err = %v", err)
	}
}

func TestPoolConfigValidate(t *testing.T) {
	if err := DefaultPoolConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []PoolConfig{
		{MaxConns: 0, ConnectTimeout: time.Second},
		{MaxConns: 2, MinConns: 3, ConnectTimeout: time.Second},
		{MaxConns: 2, MinConns: -1, ConnectTimeout: time.Second},
		{MaxConns: 2, ConnectTimeout: 0},
	} {
		if err := c.Validate(); !errors.Is(err, ErrInvalidPoolConfig) {
			t.Errorf("%+v: err = %v", c, err)
		}
		if _, err := Open(t.Context(), "postgres://x/y", c); !errors.Is(err, ErrInvalidPoolConfig) {
			t.Errorf("Open %+v: err = %v", c, err)
		}
	}
}

func TestLineAt(t *testing.T) {
	sql := "ab\ncd\n€f\n"
	for pos, want := range map[int]int{1: 1, 3: 1, 4: 2, 7: 3, 8: 3, 9: 3} {
		if got := lineAt(sql, pos); got != want {
			t.Errorf("lineAt(%d) = %d, want %d", pos, got, want)
		}
	}
}
