package pgserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// installHint is what an error tells a person to do when the binaries are
// missing.
const installHint = "install them with `apt-get install -y postgresql` (Debian/Ubuntu) or set Config.BinDir"

// findBinaries returns the directory holding initdb, pg_ctl and postgres.
func findBinaries(binDir string) (string, error) {
	need := []string{"initdb", "pg_ctl", "postgres"}
	has := func(dir string) bool {
		for _, n := range need {
			fi, err := os.Stat(filepath.Join(dir, n))
			if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				return false
			}
		}
		return true
	}
	if binDir != "" {
		if has(binDir) {
			return binDir, nil
		}
		return "", fmt.Errorf("%w: %s lacks one of %s; %s", ErrNoBinaries, binDir, strings.Join(need, ", "), installHint)
	}
	var tried []string
	// On PATH, possibly as symlinks (Debian links them from /usr/local/bin);
	// the real directory is where the three live together.
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
		if has(filepath.Dir(p)) {
			return filepath.Dir(p), nil
		}
		tried = append(tried, filepath.Dir(p))
	} else {
		tried = append(tried, "PATH")
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return versionOf(b) - versionOf(a) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	tried = append(tried, "/usr/lib/postgresql/*/bin")
	return "", fmt.Errorf("%w: need %s, looked in %s; %s", ErrNoBinaries, strings.Join(need, ", "), strings.Join(tried, ", "), installHint)
}

// versionOf returns the major version in /usr/lib/postgresql/<v>/bin, or 0.
func versionOf(binDir string) int {
	v, _ := strconv.Atoi(strings.SplitN(filepath.Base(filepath.Dir(binDir)), ".", 2)[0])
	return v
}

// osUser is the unprivileged user the server's processes run as when this
// process is root.
type osUser struct {
	name   string
	uid    uint32
	gid    uint32
	groups []uint32
}

// serverUser returns nil when the process is not root (the server runs as
// the current user), else the "postgres" user.
func serverUser() (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("%w: %v; `apt-get install -y postgresql` creates it (or `useradd --system postgres`)", ErrNoPostgresUser, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("%w: postgres uid/gid: %v", ErrNoPostgresUser, err)
	}
	if uid == 0 {
		return nil, fmt.Errorf("%w: the postgres user has uid 0", ErrNoPostgresUser)
	}
	ou := &osUser{name: u.Username, uid: uint32(uid), gid: uint32(gid)}
	gids, _ := u.GroupIds()
	for _, g := range gids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			ou.groups = append(ou.groups, uint32(n))
		}
	}
	if !slices.Contains(ou.groups, ou.gid) {
		ou.groups = append(ou.groups, ou.gid)
	}
	return ou, nil
}

// canSearch reports whether u may enter the directory fi.
func (u *osUser) canSearch(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true // not a Unix file system: let the server report it
	}
	perm := fi.Mode().Perm()
	switch {
	case st.Uid == u.uid:
		return perm&0o100 != 0
	case slices.Contains(u.groups, st.Gid):
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}

// ensureReachable makes sure u can enter every parent of dir. A parent
// that is not searchable and lies inside the temp directory (such as the
// 0700 directory testing.T.TempDir makes) gets o+x; any other such parent
// is an error that says what to do, since changing modes outside the temp
// directory would surprise the person who owns it.
func ensureReachable(dir string, u *osUser, log *slog.Logger) error {
	tmp := os.TempDir()
	if real, err := filepath.EvalSymlinks(tmp); err == nil {
		tmp = real
	}
	var parents []string
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		parents = append(parents, p)
		if p == filepath.Dir(p) {
			break
		}
	}
	slices.Reverse(parents) // from the root down
	for _, p := range parents {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("pgserver: %w", err)
		}
		if u.canSearch(fi) {
			continue
		}
		if !strings.HasPrefix(p, tmp+string(filepath.Separator)) {
			return fmt.Errorf("%w: the %s user (uid %d) cannot enter %s (mode %v); run `chmod o+x %s` or put the data directory where it can",
				ErrDirUnreachable, u.name, u.uid, p, fi.Mode().Perm(), p)
		}
		if err := os.Chmod(p, fi.Mode().Perm()|0o001); err != nil {
			return fmt.Errorf("%w: chmod o+x %s: %v", ErrDirUnreachable, p, err)
		}
		log.Info("pgserver: made temp directory searchable for the server's OS user", "dir", p, "user", u.name)
	}
	return nil
}

// chownTree gives everything under dir to u.
func chownTree(dir string, u *osUser) error {
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(u.uid), int(u.gid))
	})
}

// ownedBy reports whether fi belongs to uid.
func ownedBy(fi fs.FileInfo, uid uint32) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return !ok || st.Uid == uid
}

// realPath returns dir made absolute with the symlinks of its existing
// part resolved, so permission checks and pid-file comparisons see the
// path the server sees.
func realPath(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	var rest []string
	p := abs
	for {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(append([]string{real}, rest...)...), nil
		}
		if p == filepath.Dir(p) {
			return abs, nil
		}
		rest = append([]string{filepath.Base(p)}, rest...)
		p = filepath.Dir(p)
	}
}

// runner runs the PostgreSQL tools as the server's OS user.
type runner struct {
	binDir string
	as     *osUser // nil: as this process's user
}

// run runs tool with args and returns its combined output. detach puts
// the tool (and so a server it starts) in its own process group, so a
// Ctrl-C aimed at this process does not reach the server: its owner stops
// it with Stop, in order.
func (r runner) run(ctx context.Context, detach bool, tool string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(r.binDir, tool), args...)
	cmd.Dir = "/" // the server's user may not be able to enter our working directory
	cmd.Env = serverEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	attr := &syscall.SysProcAttr{Setpgid: detach}
	if r.as != nil {
		attr.Credential = &syscall.Credential{Uid: r.as.uid, Gid: r.as.gid, Groups: r.as.groups}
	}
	cmd.SysProcAttr = attr
	err := cmd.Run()
	s := strings.TrimSpace(out.String())
	if err != nil {
		what := tool
		if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			what += " " + args[0]
		}
		return s, fmt.Errorf("%s: %w: %s", what, err, s)
	}
	return s, nil
}

// serverEnv is this process's environment without PG* variables, which
// would otherwise steer the tools (PGDATA, PGPORT, PGHOST, ...).
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return env
}

// shellQuote quotes s for the /bin/sh that pg_ctl runs postgres with.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
