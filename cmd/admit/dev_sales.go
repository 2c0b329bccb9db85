package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/admitpark/admit/cluster/httpapi"
	"github.com/admitpark/admit/sales/db"
	"github.com/admitpark/admit/sales/pgserver"
)

// startDevSales starts a PostgreSQL kept in <data-dir>/pg, migrates it,
// creates the first admin, and starts `admit sales` as a supervised child.
// It returns lines to print.
func startDevSales(ctx context.Context, f *devFlags, exe string, env []string, clusterURLs, token string) (*pgserver.Server, *devNode, []string, error) {
	pgcfg := pgserver.DefaultConfig(filepath.Join(f.dataDir, "pg"))
	pgcfg.Port = f.pgPort
	pgcfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	pg, err := pgserver.Start(ctx, pgcfg)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("start PostgreSQL (make deps installs it): %w", err)
	}
	fail := func(err error) (*pgserver.Server, *devNode, []string, error) {
		pg.Stop()
		return nil, nil, nil, err
	}
	if err := pg.CreateDatabase(ctx, "admit"); err != nil {
		return fail(err)
	}
	dsn := pg.DSN("admit")
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
	demo, err := setupDemo(ctx, dsn)
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

	dir := filepath.Join(f.dataDir, "sales")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fail(err)
	}
	url := fmt.Sprintf("http://%s:%d", f.host, f.salesPort)
	n := &devNode{id: "sales", httpURL: url, dir: dir, args: []string{"sales",
		"--pg-dsn", dsn, "--http-addr", fmt.Sprintf("%s:%d", f.host, f.salesPort),
		"--cluster", clusterURLs, "--cluster-token", token,
		"--secret-file", filepath.Join(f.dataDir, "sales-secret"), "--test-payments", "--sync"}}
	if err := n.start(exe, env); err != nil {
		return fail(err)
	}
	if err := waitHealthy(ctx, url, 30*time.Second); err != nil {
		n.terminate()
		return fail(fmt.Errorf("sales did not start (see %s): %w", filepath.Join(dir, "node.log"), err))
	}
	lines := []string{
		fmt.Sprintf("  sales  http %s  pid %d  log %s", url, n.pid(), filepath.Join(dir, "node.log")),
		fmt.Sprintf("  postgres  %s  (data in %s)", dsn, pgcfg.Dir),
		fmt.Sprintf("  sales admin: user admin, one-time password %s (in %s; change it at POST /v1/me/password)", string(trimNL(password)), passwordFile),
		fmt.Sprintf("  demo park %q: zones main and coaster, gates north-1, north-2, coaster-1, window window-1,", demoPark),
		fmt.Sprintf("    products adult-day, child-day, day-pass, annual, family-4; cashier %q password %q", demoCashier, demoCashierPassword),
	}
	if demo {
		id, code, err := sellSample(ctx, url)
		if err != nil {
			lines = append(lines, "  (selling a sample ticket failed: "+err.Error()+")")
		} else {
			lines = append(lines,
				"  a sample ticket was just sold at window-1 for cash; scan it at a gate (twice: admit, then already_used):",
				fmt.Sprintf("    ./bin/admit scan '%s' --gate north-1", code),
				"  and see its entry in sales:",
				fmt.Sprintf("    T=$(curl -s %s/v1/login -d '{\"username\":\"%s\",\"password\":\"%s\"}' | grep -o '\"token\": *\"[^\"]*\"' | cut -d'\"' -f4)",
					url, demoCashier, demoCashierPassword),
				fmt.Sprintf("    curl -s %s/v1/tickets/%s -H \"Authorization: Bearer $T\"", url, id))
		}
	}
	return pg, n, lines, nil
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func waitHealthy(ctx context.Context, url string, timeout time.Duration) error {
	client, err := httpapi.NewClient(url, "")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := client.Do(ctx, "GET", "/readyz", nil, nil)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}
