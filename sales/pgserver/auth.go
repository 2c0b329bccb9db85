package pgserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Authentication. Every connection, over TCP and over the Unix socket,
// authenticates with scram-sha-256: pg_hba.conf is written by Start and
// trusts nobody. The superuser's password is generated at initdb and kept
// in SuperuserPasswordFile (0600) in the data directory; an application
// role made by AppDatabase has its own, in <role>.password next to it. The
// Unix socket lives in the data directory, which PostgreSQL keeps 0700.
// A data directory from an older version (trust, no password file) gets a
// password and the new pg_hba.conf at its next Start.

// SuperuserPasswordFile is the file in the data directory holding the
// superuser's password.
const SuperuserPasswordFile = "superuser.password"

// ErrInvalidRole: a role name AppDatabase will not use.
var ErrInvalidRole = errors.New("pgserver: invalid role name")

var roleName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// hbaConf is the whole of pg_hba.conf: passwords for everyone, everywhere.
const hbaConf = `# Written by admit's pgserver at every start; edits are lost.
# TYPE  DATABASE  USER  ADDRESS  METHOD
local   all       all            scram-sha-256
host    all       all   all      scram-sha-256
`

func newPassword() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return hex.EncodeToString(b)
}

// readPassword returns the password in path, "" when there is no file.
func readPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("pgserver: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// writePassword writes pw to path, readable by its owner only.
func writePassword(path, pw string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(pw+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	return nil
}

// writeHBA writes pg_hba.conf and reports whether it changed.
func (s *Server) writeHBA() (bool, error) {
	path := filepath.Join(s.dir, "pg_hba.conf")
	if b, err := os.ReadFile(path); err == nil && string(b) == hbaConf {
		return false, nil
	}
	if err := os.WriteFile(path, []byte(hbaConf), 0o600); err != nil {
		return false, fmt.Errorf("pgserver: pg_hba.conf: %w", err)
	}
	if as := s.run.as; as != nil {
		if err := os.Chown(path, int(as.uid), int(as.gid)); err != nil {
			return false, fmt.Errorf("pgserver: pg_hba.conf: %w", err)
		}
	}
	return true, nil
}

// secure runs once the server accepts connections: a data directory from
// an older version (no password file: trust) gets a superuser password,
// then pg_hba.conf is made what hbaConf says and reloaded when it changed.
func (s *Server) secure(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgserver: securing the server: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if s.password == "" {
		pw := newPassword()
		if _, err := conn.Exec(ctx, "ALTER ROLE "+pgx.Identifier{Superuser}.Sanitize()+" PASSWORD '"+pw+"'"); err != nil {
			return fmt.Errorf("pgserver: set the superuser's password: %w", err)
		}
		if err := writePassword(filepath.Join(s.dir, SuperuserPasswordFile), pw); err != nil {
			return err
		}
		s.password = pw
		s.log.Warn("pgserver: the data directory trusted every local user; it now takes passwords",
			"password_file", filepath.Join(s.dir, SuperuserPasswordFile))
	}
	changed, err := s.writeHBA()
	if err != nil {
		return err
	}
	if changed {
		if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
			return fmt.Errorf("pgserver: reload pg_hba.conf: %w", err)
		}
	}
	return nil
}

// dsn is a URL for database as user with password over TCP.
func (s *Server) dsn(user, password, database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     net.JoinHostPort(s.host, strconv.Itoa(s.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	if password == "" {
		u.User = url.User(user)
	}
	return u.String()
}

// DSN returns a URL connecting to database as the superuser over TCP,
// password included: give it to tests and tools, not to applications (see
// AppDatabase).
func (s *Server) DSN(database string) string { return s.dsn(Superuser, s.password, database) }

// PasswordFile returns the file with the superuser's password.
func (s *Server) PasswordFile() string { return filepath.Join(s.dir, SuperuserPasswordFile) }

// AppDatabase makes database (unless it exists) owned by role, a login
// role without any superuser power (no SUPERUSER, CREATEDB, CREATEROLE,
// REPLICATION), whose password is generated on first use and kept in
// <role>.password (0600) in the data directory. Objects the superuser
// owned in the database's public schema (a database from an older
// version) are given to role. Other roles may not connect to it, and
// nobody but the superuser to the maintenance databases. It returns
// role's DSN, password included.
func (s *Server) AppDatabase(ctx context.Context, database, role string) (string, error) {
	if !roleName.MatchString(role) || role == Superuser {
		return "", fmt.Errorf("%w: %q", ErrInvalidRole, role)
	}
	if err := s.CreateDatabase(ctx, database); err != nil {
		return "", err
	}
	pwPath := filepath.Join(s.dir, role+".password")
	pw, err := readPassword(pwPath)
	if err != nil {
		return "", err
	}
	if pw == "" {
		pw = newPassword()
		if err := writePassword(pwPath, pw); err != nil {
			return "", err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r, db := pgx.Identifier{role}.Sanitize(), pgx.Identifier{database}.Sanitize()
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgserver: app database %q: %w", database, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role).Scan(&exists); err != nil {
		return "", fmt.Errorf("pgserver: app role %q: %w", role, err)
	}
	verb := "ALTER"
	if !exists {
		verb = "CREATE"
	}
	for _, q := range []string{
		verb + " ROLE " + r + " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD '" + pw + "'",
		"ALTER DATABASE " + db + " OWNER TO " + r,
		"REVOKE ALL ON DATABASE " + db + " FROM PUBLIC",
		"REVOKE CONNECT, TEMPORARY ON DATABASE postgres FROM PUBLIC",
		"REVOKE CONNECT, TEMPORARY ON DATABASE template1 FROM PUBLIC",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return "", fmt.Errorf("pgserver: app database %q: %s: %w", database, strings.SplitN(q, " PASSWORD", 2)[0], err)
		}
	}
	// Hand over what the superuser made in the database.
	dconn, err := pgx.Connect(ctx, s.DSN(database))
	if err != nil {
		return "", fmt.Errorf("pgserver: app database %q: %w", database, err)
	}
	defer dconn.Close(context.WithoutCancel(ctx))
	if _, err := dconn.Exec(ctx, `ALTER SCHEMA public OWNER TO `+r+`;
DO $$
DECLARE o record;
BEGIN
	FOR o IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relowner = 'admit'::regrole AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
	LOOP
		EXECUTE format('ALTER %s public.%I OWNER TO `+r+`',
			CASE o.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, o.relname);
	END LOOP;
	FOR o IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relowner = 'admit'::regrole AND c.relkind = 'S'
	LOOP
		EXECUTE format('ALTER SEQUENCE public.%I OWNER TO `+r+`', o.relname);
	END LOOP;
	FOR o IN SELECT p.oid::regprocedure AS sig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = 'public' AND p.proowner = 'admit'::regrole
	LOOP
		EXECUTE format('ALTER ROUTINE %s OWNER TO `+r+`', o.sig);
	END LOOP;
	FOR o IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
		WHERE n.nspname = 'public' AND t.typowner = 'admit'::regrole AND t.typtype IN ('e', 'd', 'r', 'm')
	LOOP
		EXECUTE format('ALTER TYPE public.%I OWNER TO `+r+`', o.typname);
	END LOOP;
END
$$`); err != nil {
		return "", fmt.Errorf("pgserver: app database %q: hand over its objects: %w", database, err)
	}
	return s.dsn(role, pw, database), nil
}
