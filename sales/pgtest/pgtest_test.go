package pgtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/admitpark/admit/sales/db"
	"github.com/admitpark/admit/sales/pgserver"
)

func TestMain(m *testing.M) { os.Exit(Run(m)) }

func TestNewDBMigrated(t *testing.T) {
	pool := NewDB(t)
	all, err := db.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	current, pending, err := db.Status(t.Context(), pool)
	if err != nil || current != len(all) || len(pending) != 0 {
		t.Fatalf("status = %d, %d pending, %v; want %d", current, len(pending), err, len(all))
	}
}

func databaseExists(t *testing.T, name string) bool {
	t.Helper()
	var ok bool
	err := shared.admin.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&ok)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestDatabasesAreSeparateAndDropped(t *testing.T) {
	names := make([]string, 4)
	t.Run("group", func(t *testing.T) {
		for i := range names {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				pool := NewDB(t)
				if err := pool.QueryRow(t.Context(), "SELECT current_database()").Scan(&names[i]); err != nil {
					t.Fatal(err)
				}
				// A table of its own: no other test sees it.
				if _, err := pool.Exec(t.Context(), "CREATE TABLE mine (id int)"); err != nil {
					t.Fatal(err)
				}
				if !databaseExists(t, names[i]) {
					t.Fatalf("%s not found", names[i])
				}
			})
		}
	})
	seen := map[string]bool{}
	for _, n := range names {
		if n == "" || seen[n] {
			t.Fatalf("names %v", names)
		}
		seen[n] = true
		if databaseExists(t, n) {
			t.Fatalf("%s still exists after its test", n)
		}
	}
}

// TestNewDSNDropsWithOpenConnections: a test that leaks a connection does
// not make the drop fail; the drop ends the connection.
func TestNewDSNDropsWithOpenConnections(t *testing.T) {
	var (
		pool *pgxpool.Pool
		conn *pgxpool.Conn
	)
	t.Run("leak", func(t *testing.T) {
		dsn := NewDSN(t)
		var err error
		if pool, err = db.Open(t.Context(), dsn, db.DefaultPoolConfig()); err != nil {
			t.Fatal(err)
		}
		if conn, err = pool.Acquire(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
	if pool == nil || conn == nil {
		t.FailNow()
	}
	defer pool.Close()
	defer conn.Release()
	if _, err := conn.Exec(t.Context(), "SELECT 1"); err == nil {
		t.Fatal("the leaked connection outlived its database")
	}
}

func TestRunRequired(t *testing.T) {
	shared.mu.Lock()
	shared.running = false
	shared.mu.Unlock()
	defer func() {
		shared.mu.Lock()
		shared.running = true
		shared.mu.Unlock()
	}()
	if _, _, err := server(t.Context()); !errors.Is(err, ErrNoRun) {
		t.Fatalf("err = %v, want ErrNoRun", err)
	}
}

func TestWithDatabase(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:p@h:5/db?sslmode=disable":          "postgres://u:p@h:5/x?sslmode=disable",
		"postgresql://u@h/db?dbname=other&sslmode=allow": "postgresql://u@h/x?sslmode=allow",
		"postgres://u@h":          "postgres://u@h/x",
		"host=h user=u dbname=db": "host=h user=u dbname=db dbname=x",
	} {
		got, err := withDatabase(in, "x")
		if err != nil || got != want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := withDatabase("postgres://u:secret@h/%zz", "x"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("bad URL: err = %v", err)
	}
}

// TestReapOrphans leaves a server the way a killed test binary would (its
// owner pid dead) and checks that the next start stops and removes it,
// while a directory whose owner lives is kept. It uses a parent directory
// of its own: test binaries running at the same time reap the temp
// directory.
func TestReapOrphans(t *testing.T) {
	parent := t.TempDir()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	deadPid := cmd.Process.Pid

	orphan, err := os.MkdirTemp(parent, dirPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(orphan, ownerFile), []byte(fmt.Sprint(deadPid)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := pgserver.DefaultConfig(filepath.Join(orphan, "pgdata"))
	cfg.NoSync = true
	cfg.Logger = logger
	srv, err := pgserver.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })

	living, err := os.MkdirTemp(parent, dirPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(living, ownerFile), []byte(fmt.Sprint(os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}

	reapOrphans(parent)

	if _, err := os.Stat(orphan); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("orphan directory still there: %v", err)
	}
	if _, err := db.Open(t.Context(), srv.DSN("postgres"), db.DefaultPoolConfig()); err == nil {
		t.Fatal("orphaned server still answers")
	}
	if _, err := os.Stat(living); err != nil {
		t.Fatalf("living owner's directory removed: %v", err)
	}
}
