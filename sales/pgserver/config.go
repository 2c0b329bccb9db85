package pgserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"time"
)

// Superuser is the role initdb creates; every DSN the server hands out
// connects as it (trust authentication, no password).
const Superuser = "admit"

// Errors. Each is wrapped with %w and more detail.
var (
	// ErrInvalidConfig: Config.Validate found a problem.
	ErrInvalidConfig = errors.New("pgserver: invalid config")
	// ErrNoBinaries: initdb, pg_ctl or postgres could not be found.
	ErrNoBinaries = errors.New("pgserver: PostgreSQL server binaries not found")
	// ErrNoPostgresUser: the process is root and there is no "postgres" OS
	// user to run the server as (PostgreSQL refuses to run as root).
	ErrNoPostgresUser = errors.New("pgserver: running as root needs a \"postgres\" OS user")
	// ErrDirUnreachable: the OS user the server runs as cannot enter a parent
	// of the data directory.
	ErrDirUnreachable = errors.New("pgserver: data directory not reachable by the server's OS user")
	// ErrNotDataDir: the data directory has files but no PG_VERSION.
	ErrNotDataDir = errors.New("pgserver: directory is neither empty nor a PostgreSQL data directory")
	// ErrStartFailed: the server did not come up; the error carries the
	// tail of postgres.log.
	ErrStartFailed = errors.New("pgserver: server did not start")
	// ErrStopFailed: pg_ctl stop failed and the server still runs.
	ErrStopFailed = errors.New("pgserver: server did not stop")
	// ErrStopped: the call needs a running server and Stop was called.
	ErrStopped = errors.New("pgserver: server stopped")
	// ErrInvalidName: a database name that PostgreSQL would reject or
	// silently truncate.
	ErrInvalidName = errors.New("pgserver: invalid database name")
)

// Config says where and how to run one server.
type Config struct {
	// Dir is the data directory (PGDATA). It is initdb'd when missing or
	// empty, and reused as it is when it holds a data directory. The
	// server's log (postgres.log) and Unix socket live in it too.
	Dir string

	// Port is the TCP port; 0 picks a free one.
	Port int

	// Host is the one address the server listens on and DSNs name.
	// Empty means 127.0.0.1.
	Host string

	// BinDir holds initdb, pg_ctl and postgres. Empty searches PATH, then
	// /usr/lib/postgresql/<version>/bin (highest version first).
	BinDir string

	// NoSync makes a throwaway server fast: initdb --no-sync and fsync,
	// synchronous_commit and full_page_writes off. An OS crash can lose
	// or corrupt its data; a process crash cannot. For tests, not for
	// data that is kept.
	NoSync bool

	// StartTimeout bounds Start (initdb, start, first connection) when
	// the context has no earlier deadline. 0 means 60s.
	StartTimeout time.Duration

	// Logger gets start/stop events. Nil means slog.Default().
	Logger *slog.Logger

	// Settings are extra server settings, each passed as -c key=value.
	// Port, listen_addresses and unix_socket_directories come from the
	// fields above and may not be set here.
	Settings map[string]string
}

// DefaultConfig returns a config for a server in dir on a free port of
// 127.0.0.1.
func DefaultConfig(dir string) Config {
	return Config{Dir: dir, Host: "127.0.0.1", StartTimeout: 60 * time.Second}
}

var (
	settingName = regexp.MustCompile(`^[a-z_][a-z0-9_.]*$`)
	hostName    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]*$`)
)

// reservedSettings are derived from Config fields.
var reservedSettings = map[string]string{
	"port":                    "Port",
	"listen_addresses":        "Host",
	"unix_socket_directories": "Dir",
	"data_directory":          "Dir",
	"config_file":             "Dir",
	"hba_file":                "Dir",
	"external_pid_file":       "Dir",
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return fmt.Errorf("%w: Dir is empty", ErrInvalidConfig)
	case strings.ContainsAny(c.Dir, "\"$`\\\n\r\x00"):
		// pg_ctl puts the path in double quotes on a /bin/sh command line.
		return fmt.Errorf("%w: Dir %q has a character pg_ctl cannot quote (\" $ ` \\ or a control character)", ErrInvalidConfig, c.Dir)
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("%w: port %d must be 0-65535", ErrInvalidConfig, c.Port)
	case c.Host != "" && net.ParseIP(c.Host) == nil && !hostName.MatchString(c.Host):
		return fmt.Errorf("%w: host %q must be one IP address or host name", ErrInvalidConfig, c.Host)
	case c.StartTimeout < 0:
		return fmt.Errorf("%w: start timeout %v is negative", ErrInvalidConfig, c.StartTimeout)
	}
	for k, v := range c.Settings {
		if !settingName.MatchString(k) {
			return fmt.Errorf("%w: setting name %q", ErrInvalidConfig, k)
		}
		if field, ok := reservedSettings[k]; ok {
			return fmt.Errorf("%w: setting %q comes from Config.%s", ErrInvalidConfig, k, field)
		}
		for _, r := range v {
			if r == 0 || r == '\n' || r == '\r' {
				return fmt.Errorf("%w: setting %q has a control character", ErrInvalidConfig, k)
			}
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 60 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
