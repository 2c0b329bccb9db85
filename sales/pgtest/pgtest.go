package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/admitpark/admit/sales/db"
	"github.com/admitpark/admit/sales/pgserver"
)

// EnvDSN names the environment variable with the DSN of a server to use
// instead of a throwaway one. Its role must be allowed to CREATE DATABASE
// and DROP DATABASE ... WITH (FORCE) (PostgreSQL 13 or later).
const EnvDSN = "ADMIT_TEST_PG"

// dirPrefix names the temp directories of throwaway servers; ownerFile in
// each holds the pid of the test binary that owns it.
const (
	dirPrefix = "admit-pgtest-"
	ownerFile = "owner.pid"
)

// Errors. Each is wrapped with %w and more detail.
var (
	// ErrNoRun: NewDB or NewDSN was called in a test binary whose TestMain
	// does not call Run, which is what stops the shared server.
	ErrNoRun = errors.New("pgtest: TestMain must call os.Exit(pgtest.Run(m))")
	// ErrServer: the shared server could not be started or reached.
	ErrServer = errors.New("pgtest: no test PostgreSQL")
)

// shared is the one server of a test binary, started on first use.
var shared struct {
	mu      sync.Mutex
	running bool // inside Run
	started bool // start ran; err, srv, admin and dsnFor are set
	err     error
	dir     string
	srv     *pgserver.Server
	admin   *pgxpool.Pool // the maintenance database, for CREATE/DROP DATABASE
	dsnFor  func(database string) (string, error)
}

var logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// Run runs the tests and then stops the shared server, if one was started,
// and removes its directory. Use it in TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }
func Run(m *testing.M) int {
	shared.mu.Lock()
	shared.running = true
	shared.mu.Unlock()

	code := m.Run()

	shared.mu.Lock()
	defer shared.mu.Unlock()
	shared.running = false
	if err := shutdown(); err != nil {
		logger.Error("pgtest: shutting down the test PostgreSQL", "err", err)
		code = max(code, 1)
	}
	return code
}

// shutdown releases what start made. Called with shared.mu held.
func shutdown() error {
	var errs []error
	if shared.admin != nil {
		shared.admin.Close()
		shared.admin = nil
	}
	if shared.srv != nil {
		errs = append(errs, shared.srv.Stop())
		shared.srv = nil
	}
	if shared.dir != "" {
		errs = append(errs, os.RemoveAll(shared.dir))
		shared.dir = ""
	}
	return errors.Join(errs...)
}

// server returns the admin pool and DSN maker, starting the shared server
// on first use.
func server(ctx context.Context) (*pgxpool.Pool, func(string) (string, error), error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.running {
		return nil, nil, ErrNoRun
	}
	if !shared.started {
		shared.started = true
		shared.err = start(ctx)
		if shared.err != nil {
			_ = shutdown()
		}
	}
	return shared.admin, shared.dsnFor, shared.err
}

// start connects to EnvDSN, or starts a throwaway server. Called with
// shared.mu held.
func start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	adminDSN := os.Getenv(EnvDSN)
	if adminDSN != "" {
		shared.dsnFor = func(name string) (string, error) { return withDatabase(adminDSN, name) }
	} else {
		reapOrphans(os.TempDir())
		dir, err := os.MkdirTemp("", dirPrefix)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrServer, err)
		}
		shared.dir = dir
		if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(fmt.Sprint(os.Getpid())), 0o644); err != nil {
			return fmt.Errorf("%w: %w", ErrServer, err)
		}
		cfg := pgserver.DefaultConfig(filepath.Join(dir, "pgdata"))
		cfg.NoSync = true
		cfg.Logger = logger
		cfg.Settings = map[string]string{"max_connections": "300"}
		srv, err := pgserver.Start(ctx, cfg)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrServer, err)
		}
		shared.srv = srv
		adminDSN = srv.DSN("postgres")
		shared.dsnFor = func(name string) (string, error) { return srv.DSN(name), nil }
	}
	admin, err := db.Open(ctx, adminDSN, db.PoolConfig{MaxConns: 4, ConnectTimeout: 10 * time.Second})
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrServer, source(), err)
	}
	shared.admin = admin
	return nil
}

func source() string {
	if os.Getenv(EnvDSN) != "" {
		return "the server " + EnvDSN + " names"
	}
	return "the throwaway server"
}

// withDatabase returns dsn naming database instead of its own.
func withDatabase(dsn, database string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("%w: %s is not a valid URL", ErrServer, EnvDSN) // err would show the password
		}
		u.Path, u.RawPath = "/"+database, ""
		q := u.Query()
		q.Del("dbname") // it would override the path
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return dsn + " dbname=" + database, nil // key=value: the last one wins
}

// NewDSN creates a fresh database with a random name, migrates it with
// db.Migrate and returns its DSN. The database is dropped at the test's
// cleanup, with any connections still open to it. Failures are t.Fatal:
// a test that needs PostgreSQL never skips.
func NewDSN(t testing.TB) string {
	t.Helper()
	dsn, err := newDatabase(t)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := db.Open(t.Context(), dsn, db.PoolConfig{MaxConns: 2, ConnectTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer pool.Close()
	if _, err := db.Migrate(t.Context(), pool); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// NewDB is NewDSN with a pool (db.DefaultPoolConfig) that is closed at the
// test's cleanup, before the database is dropped.
func NewDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dsn := NewDSN(t)
	pool, err := db.Open(t.Context(), dsn, db.DefaultPoolConfig())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(pool.Close) // runs before the drop NewDSN registered
	return pool
}

// newDatabase creates an empty database and registers its drop.
func newDatabase(t testing.TB) (string, error) {
	admin, dsnFor, err := server(t.Context())
	if err != nil {
		return "", err
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "admit_test_" + hex.EncodeToString(b)
	dsn, err := dsnFor(name)
	if err != nil {
		return "", err
	}
	if _, err := admin.Exec(t.Context(), "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("pgtest: create database on %s: %w", source(), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return dsn, nil
}
