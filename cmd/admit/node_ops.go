package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/admitpark/admit/cluster/httpapi"
)

// nodeSalesToken resolves `admit node --sales-token` / `--sales-token-file`
// (default $ADMIT_SALES_TOKEN): the sales service's scoped token, or ""
// for none (then only the admin token works; see validator/gate
// Config.SalesToken for what it may call).
func nodeSalesToken(flag, file, admin string) (string, error) {
	token := flag
	switch {
	case flag != "" && file != "":
		return "", errors.New("--sales-token and --sales-token-file exclude each other")
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--sales-token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
		if token == "" {
			return "", fmt.Errorf("--sales-token-file %s is empty", file)
		}
	case token == "":
		token = os.Getenv("ADMIT_SALES_TOKEN")
	}
	switch {
	case token == "":
		return "", nil
	case len(token) < 16:
		return "", errors.New("the sales token must be at least 16 characters (e.g. openssl rand -hex 24)")
	case token == admin:
		return "", errors.New("the sales token must differ from the admin token: it is the narrower credential")
	}
	return token, nil
}

// listenOps serves ops (metrics, pprof, health) on addr, with the main
// server's settings otherwise; the returned func stops it.
func listenOps(scfg httpapi.ServerConfig, addr string, ops *httpapi.Router) (stop func(), err error) {
	if err := hostPort("ops-addr", addr); err != nil {
		return nil, err
	}
	scfg.Addr = addr
	srv, err := httpapi.Listen(scfg, ops.Serve)
	if err != nil {
		return nil, fmt.Errorf("listen on ops address %s: %w", addr, err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}
