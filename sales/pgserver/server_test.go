package pgserver

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func testConfig(t *testing.T) Config {
	t.Helper()
	cfg := DefaultConfig(filepath.Join(t.TempDir(), "pgdata"))
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	return cfg
}

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func execSQL(t *testing.T, dsn, sql string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func query(t *testing.T, dsn, sql string) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var n int
	if err := conn.QueryRow(t.Context(), sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// TestStartStopRestart uses a directory straight from t.TempDir, whose
// 0700 parent the postgres user cannot enter when the test runs as root.
func TestStartStopRestart(t *testing.T) {
	cfg := testConfig(t)
	cfg.Dir = t.TempDir() // exists and is empty
	s := start(t, cfg)

	for range 2 { // idempotent
		if err := s.CreateDatabase(t.Context(), "shop"); err != nil {
			t.Fatal(err)
		}
	}
	if n := query(t, s.DSN("shop"), "SELECT 1"); n != 1 {
		t.Fatalf("SELECT 1 = %d", n)
	}
	execSQL(t, s.DSN("shop"), "CREATE TABLE kept (v int)")
	if n := query(t, s.DSN("shop"), "WITH ins AS (INSERT INTO kept VALUES (42) RETURNING v) SELECT count(*) FROM ins"); n != 1 {
		t.Fatalf("inserted %d rows", n)
	}
	if _, err := os.Stat(s.LogPath()); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := s.CreateDatabase(t.Context(), "late"); !errors.Is(err, ErrStopped) {
		t.Fatalf("CreateDatabase after Stop = %v, want ErrStopped", err)
	}
	if _, err := pgx.Connect(t.Context(), s.DSN("shop")); err == nil {
		t.Fatal("connected after Stop")
	}

	s2 := start(t, cfg)
	if n := query(t, s2.DSN("shop"), "SELECT v FROM kept"); n != 42 {
		t.Fatalf("kept row = %d, want 42", n)
	}
	if err := s2.Stop(); err != nil {
		t.Fatal(err)
	}
}

func TestAdoptRunningServer(t *testing.T) {
	cfg := testConfig(t)
	cfg.NoSync = true
	s1 := start(t, cfg)

	// The same directory while it runs (a crashed `admit dev`): adopted.
	s2 := start(t, cfg)
	if s2.Port() != s1.Port() {
		t.Fatalf("adopted server on port %d, running one on %d", s2.Port(), s1.Port())
	}
	if n := query(t, s2.DSN("postgres"), "SELECT 1"); n != 1 {
		t.Fatal(n)
	}

	// Asked for another port: the running one is stopped, a new one started.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg.Port = port
	s3 := start(t, cfg)
	if s3.Port() != port {
		t.Fatalf("port %d, want %d", s3.Port(), port)
	}
	if _, err := pgx.Connect(t.Context(), s1.DSN("postgres")); err == nil {
		t.Fatal("old server still answers")
	}
	if n := query(t, s3.DSN("postgres"), "SELECT 1"); n != 1 {
		t.Fatal(n)
	}
	// s1 and s2 stop at cleanup: the server is already down, which is fine.
}

func TestStartFailureShowsLog(t *testing.T) {
	cfg := testConfig(t)
	cfg.NoSync = true
	cfg.Settings = map[string]string{"shared_buffers": "plenty"}
	_, err := Start(t.Context(), cfg)
	if !errors.Is(err, ErrStartFailed) {
		t.Fatalf("err = %v, want ErrStartFailed", err)
	}
	if !strings.Contains(err.Error(), `invalid value for parameter "shared_buffers"`) {
		t.Fatalf("error lacks the log tail:\n%v", err)
	}

	// The directory is fine; a good config starts on it.
	cfg.Settings = map[string]string{"max_connections": "50", "cluster_name": `it's "admit" $HOME`}
	s := start(t, cfg)
	if n := query(t, s.DSN("postgres"), "SELECT current_setting('max_connections')::int"); n != 50 {
		t.Fatalf("max_connections = %d", n)
	}
	if n := query(t, s.DSN("postgres"), `SELECT count(*) FROM pg_settings WHERE name = 'cluster_name' AND setting = 'it''s "admit" $HOME'`); n != 1 {
		t.Fatal("cluster_name was not passed through unchanged")
	}
}

func TestMissingBinaries(t *testing.T) {
	cfg := testConfig(t)
	cfg.BinDir = t.TempDir()
	_, err := Start(t.Context(), cfg)
	if !errors.Is(err, ErrNoBinaries) || !strings.Contains(err.Error(), "apt-get install -y postgresql") {
		t.Fatalf("err = %v", err)
	}
}

func TestNotDataDir(t *testing.T) {
	cfg := testConfig(t)
	cfg.Dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(cfg.Dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(t.Context(), cfg); !errors.Is(err, ErrNotDataDir) {
		t.Fatalf("err = %v, want ErrNotDataDir", err)
	}
}

func TestValidate(t *testing.T) {
	ok := DefaultConfig("/tmp/x")
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(*Config){
		"no dir":        func(c *Config) { c.Dir = "" },
		"dir quote":     func(c *Config) { c.Dir = `/tmp/a"b` },
		"dir dollar":    func(c *Config) { c.Dir = "/tmp/$HOME" },
		"port":          func(c *Config) { c.Port = 70000 },
		"host":          func(c *Config) { c.Host = "a b" },
		"host list":     func(c *Config) { c.Host = "127.0.0.1,::1" },
		"timeout":       func(c *Config) { c.StartTimeout = -1 },
		"setting name":  func(c *Config) { c.Settings = map[string]string{"bad name": "1"} },
		"reserved":      func(c *Config) { c.Settings = map[string]string{"port": "5432"} },
		"setting value": func(c *Config) { c.Settings = map[string]string{"work_mem": "1\n2"} },
	}
	for name, mutate := range bad {
		c := ok
		mutate(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestDSN(t *testing.T) {
	s := &Server{host: "127.0.0.1", port: 5555}
	if got, want := s.DSN("sales"), "postgres://admit@127.0.0.1:5555/sales?sslmode=disable"; got != want {
		t.Fatalf("DSN = %q, want %q", got, want)
	}
	s.host = "::1"
	if got, want := s.DSN("a b"), "postgres://admit@[::1]:5555/a%20b?sslmode=disable"; got != want {
		t.Fatalf("DSN = %q, want %q", got, want)
	}
}

func TestShellQuote(t *testing.T) {
	if got, want := shellQuote("it's"), `'it'\''s'`; got != want {
		t.Fatalf("%s != %s", got, want)
	}
}
