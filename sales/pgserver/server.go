package pgserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Server is one PostgreSQL server running in a data directory.
type Server struct {
	cfg     Config
	dir     string // absolute, symlinks resolved
	host    string
	port    int
	logPath string
	run     runner
	log     *slog.Logger

	password string // the superuser's; "" until known (see secure)

	mu      sync.Mutex
	stopped bool
}

// stopTimeout bounds pg_ctl stop.
const stopTimeout = 60 * time.Second

// errPortTaken marks a start that failed because another process took the
// free port between our probe and the server's bind.
var errPortTaken = errors.New("port already in use")

// Start brings up a server in cfg.Dir: it initdb's the directory when it is
// missing or empty, starts the server with pg_ctl and returns once the
// server accepts connections. A server already running in the directory
// (postmaster.pid names a live process) is adopted when it listens where
// cfg asks (cfg.Port 0 matches any port), else stopped and started again.
// The returned Server's Stop stops it either way.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()

	binDir, err := findBinaries(cfg.BinDir)
	if err != nil {
		return nil, err
	}
	as, err := serverUser()
	if err != nil {
		return nil, err
	}
	dir, err := realPath(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("pgserver: data dir: %w", err)
	}
	s := &Server{
		cfg:     cfg,
		dir:     dir,
		host:    cfg.Host,
		logPath: filepath.Join(dir, "postgres.log"),
		run:     runner{binDir: binDir, as: as},
		log:     cfg.Logger.With("pgdata", dir),
	}
	if err := s.prepareDir(ctx); err != nil {
		return nil, err
	}
	if s.password, err = readPassword(filepath.Join(dir, SuperuserPasswordFile)); err != nil {
		return nil, err
	}
	if s.password != "" { // else the old pg_hba.conf stays until secure has set a password
		if _, err := s.writeHBA(); err != nil {
			return nil, err
		}
	}
	if ok, err := s.adopt(ctx); err != nil || ok {
		if err == nil {
			err = s.secure(ctx)
		}
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	for attempt := 1; ; attempt++ {
		err := s.start(ctx)
		if err == nil {
			if err := s.secure(ctx); err != nil {
				_ = s.Stop()
				return nil, err
			}
			return s, nil
		}
		if cfg.Port != 0 || attempt == 3 || !errors.Is(err, errPortTaken) {
			return nil, err
		}
		s.log.Warn("pgserver: free port was taken before the server bound it; trying another", "err", err)
	}
}

// prepareDir makes sure s.dir is a data directory the server's user owns
// and can reach, running initdb when it is missing or empty.
func (s *Server) prepareDir(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Dir(s.dir), 0o755); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	if s.run.as != nil {
		if err := ensureReachable(s.dir, s.run.as, s.log); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(s.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s.initdb(ctx)
	case err != nil:
		return fmt.Errorf("pgserver: %w", err)
	case slices.ContainsFunc(entries, func(e fs.DirEntry) bool { return e.Name() == "PG_VERSION" }):
		if as := s.run.as; as != nil {
			if fi, err := os.Stat(s.dir); err == nil && !ownedBy(fi, as.uid) {
				s.log.Info("pgserver: giving the data directory to the server's OS user", "user", as.name)
				if err := chownTree(s.dir, as); err != nil {
					return fmt.Errorf("pgserver: chown data dir: %w", err)
				}
			}
		}
		return nil
	case len(entries) > 0:
		return fmt.Errorf("%w: %s (move its files away or choose another Dir)", ErrNotDataDir, s.dir)
	}
	return s.initdb(ctx)
}

// initdb creates the cluster in a sibling directory and renames it into
// place, so an interrupted initdb never leaves a half-made data directory
// that a later Start would take for a real one.
func (s *Server) initdb(ctx context.Context) error {
	tmp := s.dir + ".initdb"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	if as := s.run.as; as != nil {
		if err := os.Chown(tmp, int(as.uid), int(as.gid)); err != nil {
			return fmt.Errorf("pgserver: %w", err)
		}
	}
	// The superuser's password reaches initdb in a file beside tmp (initdb
	// wants tmp empty), readable by the server's user only.
	pw := newPassword()
	pwFile := s.dir + ".pwfile"
	if err := writePassword(pwFile, pw); err != nil {
		return err
	}
	defer os.Remove(pwFile)
	if as := s.run.as; as != nil {
		if err := os.Chown(pwFile, int(as.uid), int(as.gid)); err != nil {
			return fmt.Errorf("pgserver: %w", err)
		}
	}
	args := []string{"-D", tmp, "-U", Superuser, "--pwfile=" + pwFile, "--auth=scram-sha-256", "-E", "UTF8", "--locale=C"}
	if s.cfg.NoSync {
		args = append(args, "--no-sync")
	}
	t0 := time.Now()
	if _, err := s.run.run(ctx, false, "initdb", args...); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("%w: %w", ErrStartFailed, err)
	}
	if err := os.Remove(s.dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pgserver: %w", err)
	}
	if err := writePassword(filepath.Join(tmp, SuperuserPasswordFile), pw); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.dir); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	s.log.Info("pgserver: initdb done", "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// pidFile is what postmaster.pid says about a running server.
type pidFile struct {
	pid    int
	port   int
	listen string // first of listen_addresses
}

func readPidFile(dir string) (pidFile, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return pidFile{}, false
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 6 {
		return pidFile{}, false
	}
	pid, err1 := strconv.Atoi(strings.TrimSpace(lines[0]))
	port, err2 := strconv.Atoi(strings.TrimSpace(lines[3]))
	if err1 != nil || err2 != nil {
		return pidFile{}, false
	}
	return pidFile{pid: pid, port: port, listen: strings.TrimSpace(lines[5])}, true
}

// adopt takes over a server still running in s.dir from an earlier run, or
// stops it when it listens elsewhere. It reports whether s now runs.
func (s *Server) adopt(ctx context.Context) (bool, error) {
	pf, ok := readPidFile(s.dir)
	if !ok || !s.running(ctx) {
		return false, nil // none, or a stale pid file the server will replace
	}
	if (s.cfg.Port == 0 || s.cfg.Port == pf.port) && pf.listen == s.host {
		s.port = pf.port
		if err := s.waitReady(ctx); err != nil {
			return false, fmt.Errorf("%w: adopting the running server (pid %d): %w\npostgres.log:\n%s",
				ErrStartFailed, pf.pid, err, logTail(s.logPath, -1))
		}
		s.log.Info("pgserver: adopted the server already running in the data directory (its settings are the ones it was started with)",
			"pid", pf.pid, "port", pf.port)
		return true, nil
	}
	s.log.Info("pgserver: stopping the server already running in the data directory: it listens elsewhere",
		"pid", pf.pid, "port", pf.port, "listen", pf.listen)
	return false, s.stop(ctx, "fast")
}

// start runs pg_ctl start and waits for the first connection.
func (s *Server) start(ctx context.Context) error {
	port := s.cfg.Port
	if port == 0 {
		p, err := freePort(s.host)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrStartFailed, err)
		}
		port = p
	}
	// The Unix socket path must fit sun_path (108 bytes); without it the
	// server is still reachable over TCP, which is all DSN uses.
	sockDir := s.dir
	if len(sockDir)+len("/.s.PGSQL.65535") >= 108 {
		sockDir = ""
	}
	settings := map[string]string{}
	if s.cfg.NoSync {
		settings["fsync"] = "off"
		settings["synchronous_commit"] = "off"
		settings["full_page_writes"] = "off"
	}
	maps.Copy(settings, s.cfg.Settings)
	opts := []string{"-p", strconv.Itoa(port), "-k", shellQuote(sockDir), "-c", shellQuote("listen_addresses=" + s.host)}
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		opts = append(opts, "-c", shellQuote(k+"="+settings[k]))
	}
	var logFrom int64
	if fi, err := os.Stat(s.logPath); err == nil {
		logFrom = fi.Size()
	}
	wait := time.Until(deadline(ctx))
	t0 := time.Now()
	_, err := s.run.run(ctx, true, "pg_ctl", "start", "-w", "-t", strconv.Itoa(max(1, int(wait.Seconds()))),
		"-D", s.dir, "-l", s.logPath, "-o", strings.Join(opts, " "))
	if err == nil {
		s.port = port
		err = s.waitReady(ctx)
	}
	if err != nil {
		tail := logTail(s.logPath, logFrom)
		// pg_ctl may have given up (or been cancelled) while the server
		// still comes up: do not leave it running without an owner.
		stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout+10*time.Second)
		defer cancel()
		if s.running(stopCtx) {
			_ = s.stop(stopCtx, "fast")
		}
		if strings.Contains(tail, "already in use") {
			err = fmt.Errorf("%w: %w", errPortTaken, err)
		}
		return fmt.Errorf("%w: on %s port %d: %w\npostgres.log (%s):\n%s", ErrStartFailed, s.host, port, err, s.logPath, tail)
	}
	s.log.Info("pgserver: ready", "host", s.host, "port", port, "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

func deadline(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(60 * time.Second)
}

// waitReady polls until the server accepts a connection or ctx ends.
func (s *Server) waitReady(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := s.ping(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for connections: %w (last attempt: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

func (s *Server) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("finding a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logTail returns the last lines of the log written since offset from
// (-1: the end of the whole file).
func logTail(path string, from int64) string {
	const maxBytes, maxLines = 8 << 10, 40
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if from < 0 || from > fi.Size() {
		from = 0
	}
	from = max(from, fi.Size()-maxBytes)
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return "(empty)"
	}
	return strings.Join(lines, "\n")
}

// running reports whether pg_ctl sees a live server in s.dir.
func (s *Server) running(ctx context.Context) bool {
	_, err := s.run.run(ctx, false, "pg_ctl", "status", "-D", s.dir)
	return err == nil
}

// stop runs pg_ctl stop with mode, falling back to immediate when a fast
// stop does not finish. A server that is not running counts as stopped.
func (s *Server) stop(ctx context.Context, mode string) error {
	t0 := time.Now()
	timeout := strconv.Itoa(int(stopTimeout.Seconds()))
	_, err := s.run.run(ctx, false, "pg_ctl", "stop", "-D", s.dir, "-m", mode, "-w", "-t", timeout)
	if err == nil {
		s.log.Info("pgserver: stopped", "mode", mode, "took", time.Since(t0).Round(time.Millisecond))
		return nil
	}
	if !s.running(ctx) {
		s.log.Warn("pgserver: server was not running at stop", "err", err)
		return nil
	}
	if mode != "immediate" {
		s.log.Warn("pgserver: stop failed; trying immediate shutdown", "mode", mode, "err", err)
		if _, err2 := s.run.run(ctx, false, "pg_ctl", "stop", "-D", s.dir, "-m", "immediate", "-w", "-t", timeout); err2 == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: %w", ErrStopFailed, err)
}

// Stop shuts the server down (pg_ctl stop -m fast) and waits for it. It is
// safe to call more than once and from several goroutines; after the first
// success it does nothing.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*stopTimeout+10*time.Second)
	defer cancel()
	if err := s.stop(ctx, "fast"); err != nil {
		return err
	}
	s.stopped = true
	return nil
}

// Port returns the TCP port the server listens on.
func (s *Server) Port() int { return s.port }

// Dir returns the data directory (absolute, symlinks resolved).
func (s *Server) Dir() string { return s.dir }

// LogPath returns the server's log file.
func (s *Server) LogPath() string { return s.logPath }

// CreateDatabase creates the database name unless it exists.
func (s *Server) CreateDatabase(ctx context.Context, name string) error {
	if name == "" || len(name) > 63 || strings.ContainsRune(name, 0) {
		return fmt.Errorf("%w: %q (1-63 bytes, no NUL)", ErrInvalidName, name)
	}
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if stopped {
		return ErrStopped
	}
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgserver: create database %q: %w", name, err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	var exists bool
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		return fmt.Errorf("pgserver: create database %q: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: a concurrent create won
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgserver: create database %q: %w", name, err)
	}
	s.log.Info("pgserver: created database", "database", name)
	return nil
}
