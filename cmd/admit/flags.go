package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/admitpark/admit/cluster/adminclient"
	"github.com/admitpark/admit/internal/httpclient"
	"github.com/admitpark/admit/validator/gateapi"
)

// Flags, environment and printing shared by the commands.

const defaultTimeout = 15 * time.Second

// apiFlags are the flags every command that calls a node takes.
type apiFlags struct {
	urls       string
	adminToken string
	json       bool
	timeout    time.Duration
	cacert     string
}

func addAPIFlags(cmd *cobra.Command, f *apiFlags) {
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.urls, "cluster", envOr("ADMIT_CLUSTER", "http://127.0.0.1:7101"), "HTTP URL of any node; comma-separate several to try in turn (default $ADMIT_CLUSTER)")
	pf.StringVar(&f.adminToken, "admin-token", "", "admin token (default $ADMIT_ADMIN_TOKEN)")
	pf.BoolVar(&f.json, "json", false, "print JSON")
	pf.DurationVar(&f.timeout, "timeout", defaultTimeout, "how long to wait for an answer")
	pf.StringVar(&f.cacert, "cacert", os.Getenv("ADMIT_CACERT"), "PEM file of the CA that signed the nodes' HTTPS certificates, e.g. the cluster CA ca.crt (default $ADMIT_CACERT)")
}

// tls returns the client TLS configuration of --cacert (nil: the system's
// roots).
func (f *apiFlags) tls() (*tls.Config, error) {
	return httpclient.TLSConfigFromCAFile(f.cacert)
}

// admin returns a client of the nodes' admin API.
func (f *apiFlags) admin() (*adminclient.Client, error) {
	urls, err := adminclient.ParseURLs(f.urls)
	if err != nil {
		return nil, err
	}
	tcfg, err := f.tls()
	if err != nil {
		return nil, err
	}
	return adminclient.New(adminclient.Config{URLs: urls, AdminToken: adminToken(f.adminToken), Timeout: f.timeout, TLS: tcfg})
}

// gates returns a client of the nodes' gate API; gateToken, when set, is
// sent with scans instead of the admin token.
func (f *apiFlags) gates(gateToken string) (*gateapi.Client, error) {
	urls, err := gateapi.ParseURLs(f.urls)
	if err != nil {
		return nil, err
	}
	tcfg, err := f.tls()
	if err != nil {
		return nil, err
	}
	return gateapi.NewClient(gateapi.Config{URLs: urls, AdminToken: adminToken(f.adminToken), GateToken: gateToken, Timeout: f.timeout,
		Transport: httpclient.NewTransport(tcfg)})
}

// ctx bounds one call by --timeout.
func (f *apiFlags) ctx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), f.timeout)
}

// print prints v as JSON with --json, else calls text.
func (f *apiFlags) print(cmd *cobra.Command, v any, text func(w io.Writer)) error {
	if f.json {
		return printJSON(cmd.OutOrStdout(), v)
	}
	text(cmd.OutOrStdout())
	return nil
}

// adminToken returns the flag's value or ADMIT_ADMIN_TOKEN.
func adminToken(flag string) string {
	if flag != "" {
		return flag
	}
	return os.Getenv("ADMIT_ADMIN_TOKEN")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func timeOr(t time.Time, none string) string {
	if t.IsZero() {
		return none
	}
	return t.Format("2006-01-02 15:04:05 MST")
}

// stamp is the time of day for lines that report events as they happen.
func stamp() string { return time.Now().Format("15:04:05.000") }

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress prints a progress line on a terminal and stays quiet elsewhere
// (CI, pipes).
type progress struct {
	mu       sync.Mutex
	cmd      *cobra.Command
	what     string
	total    int
	start    time.Time
	last     time.Time
	terminal bool
}

func newProgress(cmd *cobra.Command, what string, total int) *progress {
	term := isTerminal(os.Stderr) && os.Getenv("CI") == ""
	return &progress{cmd: cmd, what: what, total: total, start: time.Now(), terminal: term}
}

func (p *progress) update(done int) {
	if !p.terminal {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < 100*time.Millisecond && done < p.total {
		return
	}
	p.last = time.Now()
	rate := float64(done) / time.Since(p.start).Seconds()
	fmt.Fprintf(p.cmd.ErrOrStderr(), "\r%s %d/%d (%3.0f%%)  %.0f/s   ", p.what, done, p.total, 100*float64(done)/float64(p.total), rate)
}

func (p *progress) done() {
	if p.terminal {
		fmt.Fprintln(p.cmd.ErrOrStderr())
	}
}
