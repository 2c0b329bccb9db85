package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/admitpark/admit/cluster/localproc"
	"github.com/admitpark/admit/sales/auth"
	"github.com/admitpark/admit/sales/db"
	"github.com/admitpark/admit/sales/demo"
	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/pgserver"
	"github.com/admitpark/admit/sales/salesclient"
)

// devAppRole is the dev database's application role (no superuser).
const devAppRole = "admit_app"

// startDevSales starts a PostgreSQL kept in <data-dir>/pg, migrates it,
// creates the first admin, and starts `admit sales` as a supervised child.
// It returns lines to print.
func startDevSales(ctx context.Context, f *devFlags, exe string, env []string, clusterURLs, token string) (*pgserver.Server, *localproc.Process, []string, error) {
	// PostgreSQL refuses to run as root, so as root pgserver runs it as the
	// postgres user, who must be able to enter the data directory admit dev
	// made 0750: search only (o+x), nothing listed or read (the secrets in it
	// are 0600).
	if os.Geteuid() == 0 {
		if fi, err := os.Stat(f.dataDir); err == nil && fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(f.dataDir, fi.Mode().Perm()|0o001); err != nil {
				return nil, nil, nil, err
			}
		}
	}
	pgcfg := pgserver.DefaultConfig(filepath.Join(f.dataDir, "pg"))
	pgcfg.Port = f.pgPort
	pgcfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	pg, err := pgserver.Start(ctx, pgcfg)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("start PostgreSQL (make deps installs it): %w", err)
	}
	fail := func(err error) (*pgserver.Server, *localproc.Process, []string, error) {
		pg.Stop()
		return nil, nil, nil, err
	}
	// The service connects as admit_app, which owns the admit database and
	// nothing else; its password is in <data-dir>/pg/admit_app.password.
	dsn, err := pg.AppDatabase(ctx, "admit", devAppRole)
	if err != nil {
		return fail(err)
	}
	pool, err := db.Open(ctx, dsn, db.DefaultPoolConfig())
	if err != nil {
		return fail(err)
	}
	_, err = db.Migrate(ctx, pool)
	pool.Close()
	if err != nil {
		return fail(err)
	}
	res, err := salesInit(ctx, dsn)
	if err != nil {
		return fail(err)
	}
	created, err := demo.Setup(ctx, dsn)
	if err != nil {
		return fail(err)
	}
	passwordFile := filepath.Join(f.dataDir, "sales-admin-password")
	if res.Created {
		if err := os.WriteFile(passwordFile, []byte(res.Password+"\n"), 0o600); err != nil {
			return fail(err)
		}
	}
	password, _ := os.ReadFile(passwordFile)
	adminLine := fmt.Sprintf("  sales admin: user admin, one-time password %s (in %s; change it at POST /v1/me/password)",
		strings.TrimRight(string(password), "\r\n"), passwordFile)
	if len(password) > 0 {
		if changed, err := devAdminPasswordChanged(ctx, dsn); err == nil && changed {
			os.Remove(passwordFile)
			adminLine = "  sales admin: user admin (the one-time password was changed; its file is deleted)"
		} else {
			go removeWhenChanged(ctx, dsn, passwordFile)
		}
	}
	// The signing keys' key-encryption key, made on the first run.
	kekFile := filepath.Join(f.dataDir, "sales-kek")
	if _, err := os.Stat(kekFile); errors.Is(err, fs.ErrNotExist) {
		if _, err := keys.GenerateKEKFile(kekFile); err != nil {
			return fail(err)
		}
	}
	// Secrets go through the environment and files, never argv.
	salesEnv := append(slices.Clone(env), "ADMIT_PG_DSN="+dsn)

	dir := filepath.Join(f.dataDir, "sales")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fail(err)
	}
	url := fmt.Sprintf("http://%s:%d", f.host, f.salesPort)
	n, err := localproc.Start(localproc.Config{Name: "sales", Bin: exe, Env: salesEnv, LogPath: filepath.Join(dir, "node.log"),
		ParentDeathSignal: syscall.SIGTERM, Args: []string{"sales",
			"--http-addr", fmt.Sprintf("%s:%d", f.host, f.salesPort),
			"--cluster", clusterURLs, "--cluster-park", demo.Park, "--admin-token-file", filepath.Join(f.dataDir, "admin-token"),
			"--key-file", kekFile, "--secret-file", filepath.Join(f.dataDir, "sales-secret"),
			"--test-payments", "--test-payment-secret-file", filepath.Join(f.dataDir, "sales-test-payment-secret"), "--sync"}})
	if err != nil {
		return fail(err)
	}
	client, err := salesclient.New(salesclient.DefaultConfig(url))
	if err != nil {
		n.Stop()
		return fail(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = client.WaitReady(wctx, 100*time.Millisecond)
	cancel()
	if err != nil {
		n.Stop()
		return fail(fmt.Errorf("sales did not start (see %s): %w", n.LogPath(), err))
	}
	lines := []string{
		fmt.Sprintf("  sales  http %s  pid %d  log %s", url, n.Pid(), n.LogPath()),
		fmt.Sprintf("  web console  %s/  (admin: every screen; cashier %q password %q: the box office)", url, demo.Cashier, demo.CashierPassword),
		fmt.Sprintf("  postgres  %s  (role %s, password in %s; superuser's in %s; data in %s)",
			redactDSN(dsn), devAppRole, filepath.Join(pg.Dir(), devAppRole+".password"), pg.PasswordFile(), pgcfg.Dir),
		adminLine,
		fmt.Sprintf("  demo park %q: zones main and coaster, gates north-1, north-2, coaster-1, window %s,", demo.Park, demo.Window),
		fmt.Sprintf("    products adult-day, child-day, day-pass, annual, family-4; cashier %q password %q", demo.Cashier, demo.CashierPassword),
	}
	if created {
		id, code, err := demo.SellSample(ctx, client)
		if err != nil {
			lines = append(lines, "  (selling a sample ticket failed: "+err.Error()+")")
		} else {
			lines = append(lines,
				fmt.Sprintf("  a sample ticket was just sold at %s for cash; scan it at a gate (twice: admit, then already_used):", demo.Window),
				fmt.Sprintf("    ./bin/admit scan '%s' --gate north-1", code),
				"  and see its entry in sales:",
				fmt.Sprintf("    T=$(curl -s %s/v1/login -d '{\"username\":\"%s\",\"password\":\"%s\"}' | grep -o '\"token\": *\"[^\"]*\"' | cut -d'\"' -f4)",
					url, demo.Cashier, demo.CashierPassword),
				fmt.Sprintf("    curl -s %s/v1/tickets/%s -H \"Authorization: Bearer $T\"", url, id))
		}
	}
	return pg, n, lines, nil
}

// redactDSN drops the password from a URL DSN, for printing.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unprintable DSN)"
	}
	return u.Redacted()
}

// devAdminPasswordChanged reports whether the first admin has changed the
// one-time password.
func devAdminPasswordChanged(ctx context.Context, dsn string) (bool, error) {
	pool, err := db.Open(ctx, dsn, db.PoolConfig{MaxConns: 1, ConnectTimeout: 5 * time.Second})
	if err != nil {
		return false, err
	}
	defer pool.Close()
	var must bool
	err = pool.QueryRow(ctx, `SELECT must_change_password FROM users WHERE username = $1`, auth.InitialAdmin).Scan(&must)
	return err == nil && !must, err
}

// removeWhenChanged deletes the used one-time password file once the admin
// has changed the password (checked every 2 s until ctx ends).
func removeWhenChanged(ctx context.Context, dsn, path string) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if changed, err := devAdminPasswordChanged(ctx, dsn); err == nil && changed {
			if err := os.Remove(path); err == nil {
				fmt.Fprintf(os.Stderr, "admit dev: the admin's one-time password was changed; deleted %s\n", path)
			}
			return
		}
	}
}
