package pgserver

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// connects says whether dsn logs in.
func connects(t *testing.T, dsn string) error {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		return err
	}
	conn.Close(t.Context())
	return nil
}

// TestEveryConnectionNeedsAPassword is the probe's trust: any local user
// used to connect as superuser without a password. Now TCP and the Unix
// socket both want the generated password, kept in a 0600 file.
func TestEveryConnectionNeedsAPassword(t *testing.T) {
	s := start(t, testConfig(t))
	fi, err := os.Stat(s.PasswordFile())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v %v", fi, err)
	}
	if err := connects(t, s.DSN("postgres")); err != nil {
		t.Fatalf("with the password: %v", err)
	}
	noPassword := s.dsn(Superuser, "", "postgres")
	if err := connects(t, noPassword); err == nil {
		t.Fatal("connected over TCP without a password")
	}
	sock := "host=" + s.Dir() + " port=" + itoa(s.Port()) + " user=" + Superuser + " dbname=postgres sslmode=disable"
	if err := connects(t, sock); err == nil {
		t.Fatal("connected over the Unix socket without a password")
	}
	if fi, err := os.Stat(s.Dir()); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("socket directory mode %v, %v: want 0700", fi.Mode().Perm(), err)
	}
}

// TestAppDatabaseRoleIsNoSuperuser: the application's role owns its
// database and nothing else: it can migrate (create tables), but cannot
// read other databases, run programs, or read server files.
func TestAppDatabaseRoleIsNoSuperuser(t *testing.T) {
	s := start(t, testConfig(t))
	dsn, err := s.AppDatabase(t.Context(), "app", "app_role")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := s.AppDatabase(t.Context(), "app", "app_role"); err != nil || again != dsn {
		t.Fatalf("AppDatabase again: %v (dsn changed: %v)", err, again != dsn)
	}
	execSQL(t, dsn, `CREATE TABLE t (x int); INSERT INTO t VALUES (1)`)
	if n := query(t, dsn, `SELECT count(*) FROM pg_roles WHERE rolname = current_user AND (rolsuper OR rolcreatedb OR rolcreaterole)`); n != 0 {
		t.Fatal("the app role has superuser powers")
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	for _, q := range []string{
		`COPY (SELECT 1) TO PROGRAM 'id'`,
		`SELECT pg_read_file('postgresql.conf')`,
		`SELECT rolpassword FROM pg_authid`,
	} {
		_, err := conn.Exec(t.Context(), q)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" { // insufficient_privilege
			t.Errorf("%s: %v, want insufficient_privilege", q, err)
		}
	}
	other := strings.Replace(dsn, "/app?", "/postgres?", 1)
	if err := connects(t, other); err == nil {
		t.Error("the app role connected to the maintenance database")
	}
	fi, err := os.Stat(filepath.Join(s.Dir(), "app_role.password"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("app password file: %v %v", fi, err)
	}
	if _, err := s.AppDatabase(t.Context(), "app", "Bad Role"); !errors.Is(err, ErrInvalidRole) {
		t.Fatalf("bad role: %v", err)
	}
}

// TestOldTrustDirectoryGetsAPassword: a data directory from an older
// version (trust, no password file) takes passwords after its next Start,
// and the superuser's tables are handed to the app role.
func TestOldTrustDirectoryGetsAPassword(t *testing.T) {
	cfg := testConfig(t)
	s, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Make it what an older version left: trust, no password file, the
	// superuser owning the app's tables.
	execSQL(t, s.DSN("postgres"), `CREATE DATABASE legacy`)
	execSQL(t, s.DSN("legacy"), `CREATE TABLE orders (id bigserial PRIMARY KEY);
		CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'`)
	if err := os.WriteFile(filepath.Join(s.Dir(), "pg_hba.conf"), []byte("local all all trust\nhost all all all trust\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s.run.as != nil {
		os.Chown(filepath.Join(s.Dir(), "pg_hba.conf"), int(s.run.as.uid), int(s.run.as.gid))
	}
	execSQL(t, s.DSN("postgres"), `SELECT pg_reload_conf()`)
	os.Remove(s.PasswordFile())
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}

	s = start(t, cfg)
	if _, err := os.Stat(s.PasswordFile()); err != nil {
		t.Fatalf("no password file after the upgrade: %v", err)
	}
	if err := connects(t, s.dsn(Superuser, "", "postgres")); err == nil {
		t.Fatal("still trusts connections without a password")
	}
	dsn, err := s.AppDatabase(t.Context(), "legacy", "legacy_app")
	if err != nil {
		t.Fatal(err)
	}
	execSQL(t, dsn, `INSERT INTO orders DEFAULT VALUES; ALTER TABLE orders ADD COLUMN x int; SELECT f()`)
}

func itoa(n int) string { return strconv.Itoa(n) }
