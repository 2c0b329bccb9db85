package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/admitpark/admit/sales/report"
	"github.com/admitpark/admit/sales/salesclient"
)

// newSalesReportCmd is `admit sales report NAME`: a report from the sales
// API (GET /v1/reports/{name}) to stdout or a file, as a finance or admin
// user. The session token comes from $ADMIT_SALES_TOKEN or --token-file,
// or a login with --user and $ADMIT_SALES_PASSWORD; never from argv.
func newSalesReportCmd() *cobra.Command {
	var salesURL, park, from, to, format, period, groupBy, out, tokenFile, user string
	cmd := &cobra.Command{
		Use:   "report NAME",
		Short: "Write a report (" + strings.Join(report.Names, ", ") + ") as JSON, CSV or XLSX",
		Long: `Write a report of the sales service to stdout or --out, as it streams in.

Reports: revenue (by --period day, month or year; --group-by any of
park, business_unit, sales_point, cashier, product, channel, method,
distributor), sold-entered, flow, group-settlement, shifts. Days are in the
park's time zone; money is in minor units of the park's currency.

Credentials (finance or admin): $ADMIT_SALES_TOKEN or --token-file with a
session token from POST /v1/login, or --user with the password in
$ADMIT_SALES_PASSWORD.

  admit sales report revenue --park sunny --from 2026-12-01 --to 2026-12-31 --group-by sales_point,method --format xlsx --out dec.xlsx`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != report.FormatJSON && format != report.FormatCSV && format != report.FormatXLSX {
				return fmt.Errorf("--format must be json, csv or xlsx, not %q", format)
			}
			if format == report.FormatXLSX && out == "" && isTerminal(os.Stdout) {
				return errors.New("an XLSX report is binary: give --out FILE or redirect stdout")
			}
			c, err := salesclient.New(salesclient.Config{URL: salesURL, Timeout: 30 * time.Second})
			if err != nil {
				return err
			}
			token := os.Getenv("ADMIT_SALES_TOKEN")
			if tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return err
				}
				token = strings.TrimSpace(string(b))
			}
			if user != "" {
				pw := os.Getenv("ADMIT_SALES_PASSWORD")
				if pw == "" {
					return errors.New("--user needs the password in $ADMIT_SALES_PASSWORD")
				}
				res, err := c.Login(cmd.Context(), user, pw)
				if err != nil {
					return fmt.Errorf("log in as %s: %w", user, err)
				}
				token = res.Token
			}
			if token == "" {
				return errors.New("no credentials: set $ADMIT_SALES_TOKEN, --token-file, or --user with $ADMIT_SALES_PASSWORD")
			}
			q := url.Values{"park": {park}, "format": {format}}
			for k, v := range map[string]string{"from": from, "to": to, "period": period, "group_by": groupBy} {
				if v != "" {
					q.Set(k, v)
				}
			}
			var w io.Writer = cmd.OutOrStdout()
			var file *os.File
			if out != "" {
				// Into a temporary file first: a failed report leaves no
				// half-written file under the name asked for.
				if file, err = os.CreateTemp(filepath.Dir(out), ".report-*"); err != nil {
					return err
				}
				defer os.Remove(file.Name())
				defer file.Close()
				w = file
			}
			bw := bufio.NewWriterSize(w, 64<<10)
			if err := c.WithToken(token).Report(cmd.Context(), args[0], q, bw); err != nil {
				return err
			}
			if err := bw.Flush(); err != nil {
				return err
			}
			if file != nil {
				if err := file.Close(); err != nil {
					return err
				}
				if err := os.Rename(file.Name(), out); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", out)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&salesURL, "sales", envOr("ADMIT_SALES_URL", "http://127.0.0.1:7401"), "the sales service's URL (default $ADMIT_SALES_URL)")
	fl.StringVar(&park, "park", "", "park id (required)")
	fl.StringVar(&from, "from", "", "first day YYYY-MM-DD in the park's time zone (default today)")
	fl.StringVar(&to, "to", "", "last day YYYY-MM-DD, inclusive (default --from)")
	fl.StringVar(&format, "format", "json", "json, csv or xlsx")
	fl.StringVar(&period, "period", "", "revenue: day (default), month or year")
	fl.StringVar(&groupBy, "group-by", "", "revenue: comma-separated dimensions")
	fl.StringVar(&out, "out", "", "write to this file instead of stdout")
	fl.StringVar(&tokenFile, "token-file", "", "file with a session token (default $ADMIT_SALES_TOKEN)")
	fl.StringVar(&user, "user", "", "log in as this user (password in $ADMIT_SALES_PASSWORD)")
	_ = cmd.MarkFlagRequired("park")
	return cmd
}
