package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/admitpark/admit/sales/member"
	"github.com/admitpark/admit/sales/salesclient"
)

// salesCall holds what every call of the sales API from the CLI needs:
// its URL and the caller's credentials, never from argv.
type salesCall struct {
	url, tokenFile, user string
}

func (s *salesCall) flags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&s.url, "sales", envOr("ADMIT_SALES_URL", "http://127.0.0.1:7401"), "the sales service's URL (default $ADMIT_SALES_URL)")
	fl.StringVar(&s.tokenFile, "token-file", "", "file with a session token (default $ADMIT_SALES_TOKEN)")
	fl.StringVar(&s.user, "user", "", "log in as this user (password in $ADMIT_SALES_PASSWORD)")
}

// client logs in as asked and returns a client with the session token.
func (s *salesCall) client(cmd *cobra.Command, timeout time.Duration) (*salesclient.Client, error) {
	c, err := salesclient.New(salesclient.Config{URL: s.url, Timeout: timeout})
	if err != nil {
		return nil, err
	}
	token := os.Getenv("ADMIT_SALES_TOKEN")
	if s.tokenFile != "" {
		b, err := os.ReadFile(s.tokenFile)
		if err != nil {
			return nil, err
		}
		token = strings.TrimSpace(string(b))
	}
	if s.user != "" {
		pw := os.Getenv("ADMIT_SALES_PASSWORD")
		if pw == "" {
			return nil, errors.New("--user needs the password in $ADMIT_SALES_PASSWORD")
		}
		res, err := c.Login(cmd.Context(), s.user, pw)
		if err != nil {
			return nil, fmt.Errorf("log in as %s: %w", s.user, err)
		}
		token = res.Token
	}
	if token == "" {
		return nil, errors.New("no credentials: set $ADMIT_SALES_TOKEN, --token-file, or --user with $ADMIT_SALES_PASSWORD")
	}
	return c.WithToken(token), nil
}

// newSalesMembersCmd is `admit sales members import|export`.
func newSalesMembersCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "members", Short: "Import and export members (customer records) and issue their cards"}
	var imp salesCall
	var park string
	importCmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import members from a CSV or XLSX file (rows with card_number open cards)",
		Long: `Upload a CSV (UTF-8) or XLSX file of members to the sales service, as an admin.

The first row names the columns: name (required), phone, category
(ordinary, vip, annual, ...), id_number, photo_ref, note, card_number,
card_expires_on. A member with the same phone or ID number is updated, not
duplicated. A row with card_number opens that card in --park (batch issue).
Good rows are written; each bad row is listed with its line and reason and
written not at all. The exit status is 1 when any row was bad.

  admit sales members import customers.csv --park sunny --user admin`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			c, err := imp.client(cmd, 5*time.Minute)
			if err != nil {
				return err
			}
			res, err := c.ImportMembers(cmd.Context(), data, park)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%d rows: %d members created, %d updated, %d cards opened, %d bad rows\n",
				res.Rows, res.Created, res.Updated, res.Cards, len(res.Errors))
			for _, e := range res.Errors {
				fmt.Fprintf(out, "line %d: %s\n", e.Line, e.Reason)
			}
			if len(res.Errors) > 0 {
				return fmt.Errorf("%d bad rows were left out", len(res.Errors))
			}
			return nil
		},
	}
	imp.flags(importCmd)
	importCmd.Flags().StringVar(&park, "park", "", "park of the cards opened by rows with card_number")

	var exp salesCall
	var format, out string
	exportCmd := &cobra.Command{
		Use:   "export",
		Short: "Export every member as CSV or XLSX (admin or finance)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != member.FormatCSV && format != member.FormatXLSX {
				return fmt.Errorf("--format must be csv or xlsx, not %q", format)
			}
			if format == member.FormatXLSX && out == "" && isTerminal(os.Stdout) {
				return errors.New("XLSX is binary: give --out FILE or redirect stdout")
			}
			c, err := exp.client(cmd, 5*time.Minute)
			if err != nil {
				return err
			}
			var w io.Writer = cmd.OutOrStdout()
			var file *os.File
			if out != "" {
				// A temporary file first: a failed export leaves no half-written file.
				if file, err = os.CreateTemp(filepath.Dir(out), ".members-*"); err != nil {
					return err
				}
				defer os.Remove(file.Name())
				defer file.Close()
				w = file
			}
			bw := bufio.NewWriter(w)
			if err := c.ExportMembers(cmd.Context(), format, bw); err != nil {
				return err
			}
			if err := bw.Flush(); err != nil {
				return err
			}
			if file != nil {
				if err := file.Close(); err != nil {
					return err
				}
				return os.Rename(file.Name(), out)
			}
			return nil
		},
	}
	exp.flags(exportCmd)
	exportCmd.Flags().StringVar(&format, "format", "csv", "csv or xlsx")
	exportCmd.Flags().StringVar(&out, "out", "", "write to this file instead of stdout")
	cmd.AddCommand(importCmd, exportCmd)
	return cmd
}

// newSalesCardCmd is `admit sales card lost NUMBER`.
func newSalesCardCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "card", Short: "Member and IC cards"}
	var call salesCall
	lost := &cobra.Command{
		Use:   "lost NUMBER",
		Short: "Report a card lost: it is frozen and its passes are denied at every gate",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := call.client(cmd, 30*time.Second)
			if err != nil {
				return err
			}
			res, err := c.ReportCardLost(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "card %s is %s; %d tickets suspended at the gates: %s\n",
				res.Card.Number, res.Card.Status, len(res.Suspended), strings.Join(res.Suspended, " "))
			return nil
		},
	}
	call.flags(lost)
	cmd.AddCommand(lost)
	return cmd
}
