package main

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/admitpark/admit/bench/load"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

func newTicketsCmd() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{Use: "tickets", Short: "Load synthetic tickets; show a ticket's state"}
	addAPIFlags(cmd, f)

	o := load.DefaultOptions(0)
	var out, kind string
	var validFor time.Duration
	loadCmd := &cobra.Command{
		Use:   "load",
		Short: "Issue synthetic tickets with real signed codes straight into the cluster",
		Long: `Issue synthetic tickets straight into the cluster, in batches, and write
their codes one per line to --out. For tests, demos and benchmarks; real
tickets come from the sales service.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if o.Kind, err = ticket.ParseKind(kind); err != nil {
				return fmt.Errorf("--kind: %w", err)
			}
			o.ValidUntil = o.ValidFrom.Add(time.Hour + validFor)
			client, err := f.client()
			if err != nil {
				return err
			}
			fh, err := os.Create(out)
			if err != nil {
				return err
			}
			defer fh.Close()
			p := newProgress(cmd, "tickets", o.Count)
			res, err := load.Run(cmd.Context(), client, o, fh, p.update)
			p.done()
			if err != nil {
				return fmt.Errorf("after %d tickets: %w", res.Issued+res.Stale, err)
			}
			if err := fh.Close(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "issued %d tickets (%d already there) in %v, %.0f tickets/s; codes in %s\n",
				res.Issued, res.Stale, res.Duration.Round(time.Millisecond), float64(res.Issued+res.Stale)/res.Duration.Seconds(), out)
			return nil
		},
	}
	fl := loadCmd.Flags()
	fl.IntVar(&o.Count, "count", 1000, "how many tickets")
	fl.StringVar(&out, "out", "codes.txt", "file for the codes, one per line")
	fl.IntVar(&o.BatchSize, "batch", o.BatchSize, "tickets per request")
	fl.IntVar(&o.Workers, "workers", o.Workers, "requests in flight")
	fl.StringVar(&o.Product, "product", o.Product, "product name on the tickets")
	fl.StringVar(&kind, "kind", "single", "single, multi, day_pass, period or group")
	fl.Uint16Var(&o.Entries, "entries", 0, "entries (multi) or persons (group)")
	fl.StringSliceVar(&o.Zones, "zones", nil, "zones the tickets are valid in (default: every zone)")
	fl.DurationVar(&validFor, "valid-for", 23*time.Hour, "validity from now (they start an hour ago)")

	show := &cobra.Command{
		Use:   "show CODE|ID",
		Short: "Show a ticket and where it was used",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var v gateapi.TicketView
			if err := f.call(cmd, http.MethodGet, gateapi.PathTickets+url.PathEscape(strings.TrimSpace(args[0])), nil, &v); err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), v)
			}
			w := cmd.OutOrStdout()
			t := v.Ticket
			fmt.Fprintf(w, "ticket %s  version %d  %s  %s  %s\n", t.ID, t.Version, t.Product, t.Kind, strings.ToUpper(t.Status))
			if t.Entries > 0 {
				fmt.Fprintf(w, "entries/persons: %d\n", t.Entries)
			}
			fmt.Fprintf(w, "valid: %s to %s\n", timeOr(t.ValidFrom, "open"), timeOr(t.ValidUntil, "open"))
			if len(t.Zones) > 0 {
				fmt.Fprintf(w, "zones: %s\n", strings.Join(t.Zones, ", "))
			}
			if v.CodeCurrent != nil && !*v.CodeCurrent {
				fmt.Fprintln(w, "this code is NOT the ticket's current one (replaced by a reprint, or forged)")
			}
			if !v.Used {
				fmt.Fprintln(w, "not used yet")
			} else {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ZONE\tUSED\tINSIDE\tFIRST ENTRY\tAT\tLAST ENTRY\tAT")
				for _, z := range v.Zones {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\n", z.Zone, z.Used, z.Inside, timeOr(z.FirstEntryAt, "-"), z.FirstEntryGate, timeOr(z.LastEntryAt, "-"), z.LastEntryGate)
				}
				tw.Flush()
			}
			fmt.Fprintf(w, "(state as of log index %d on the node asked)\n", v.AppliedIndex)
			return nil
		},
	}
	cmd.AddCommand(loadCmd, show)
	return cmd
}

func timeOr(t time.Time, none string) string {
	if t.IsZero() {
		return none
	}
	return t.Format("2006-01-02 15:04:05 MST")
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
	fi, err := os.Stderr.Stat()
	term := err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("CI") == ""
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
