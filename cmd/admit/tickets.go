package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/admitpark/admit/bench/load"
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
			client, err := f.gates("")
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
			client, err := f.gates("")
			if err != nil {
				return err
			}
			ctx, cancel := f.ctx(cmd)
			defer cancel()
			v, err := client.Ticket(ctx, strings.TrimSpace(args[0]))
			if err != nil {
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
