package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/admitpark/admit/bench/drill"
)

func newDrillCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "drill",
		Short: "Failure drills against a real cluster: failover under scan traffic",
	}
	cmd.AddCommand(newDrillFailoverCmd())
	return cmd
}

func newDrillFailoverCmd() *cobra.Command {
	o := drill.DefaultOptions()
	var clusterURLs, token string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "failover",
		Short: "Kill, hand over from or cut off the leader in rounds under scan traffic; check for double entries and linearizability",
		Long: `Start a local cluster of real 'admit node' processes (or use --cluster with
--admin-token, leadership transfer only), load synthetic tickets, scan them
steadily from many simulated gates through every node (a failed scan is
retried with the same scan_id on the next node), and in the middle of each
round change the leader:

  --mode kill       SIGKILL the leader, restart it, wait for the cluster to
                    settle (the default for a local cluster)
  --mode transfer   hand leadership over through the admin API (the default,
                    and the only mode, with --cluster)
  --mode partition  cut the leader off from every peer, both directions, for
                    half a round while gates keep scanning through it (they
                    must get errors, never a wrong answer), then heal and wait
                    until it follows the new leader. The local nodes run with
                    --fault-injection for this; leaderless time is until a
                    quorum of the majority side names a new leader.

Reports time without a leader, time to settle, the longest error run a gate
saw, scan counts, double entries and the linearizability check of the whole
history. Exits non-zero on a double entry or a failed check.`,
		Example: `  admit drill failover --rounds 10
  admit drill failover --mode partition --rounds 5 --json
  admit drill failover --cluster http://10.0.0.1:7101,http://10.0.0.2:7101 --admin-token $TOKEN --rounds 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if clusterURLs != "" {
				for _, u := range strings.Split(clusterURLs, ",") {
					if u = strings.TrimSpace(u); u != "" {
						if !strings.Contains(u, "://") {
							u = "http://" + u
						}
						o.Cluster = append(o.Cluster, strings.TrimRight(u, "/"))
					}
				}
				o.AdminToken = adminToken(token)
				if !cmd.Flags().Changed("mode") {
					o.Mode = "transfer"
				}
			} else {
				exe, err := os.Executable()
				if err != nil {
					return err
				}
				o.Binary = exe
			}
			if !asJSON && isTerminal(os.Stderr) {
				o.Progress = func(s string) { fmt.Fprintf(os.Stderr, "%s  %s\n", stamp(), s) }
			}
			ctx, stop := signalContext()
			defer stop()
			rep, err := drill.Run(ctx, o)
			if err != nil && rep == nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				enc.Encode(rep)
			} else {
				printDrill(out, rep)
			}
			if err != nil {
				return err
			}
			if why := rep.Failed(); why != "" {
				return fmt.Errorf("drill failed: %s", why)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&o.Nodes, "nodes", o.Nodes, "nodes of the local cluster (3 or 5)")
	fl.StringVar(&o.DataDir, "data-dir", "", "data dir of the local nodes (default: a temporary dir, removed afterwards)")
	fl.StringVar(&clusterURLs, "cluster", "", "use this existing cluster (URL[,URL…]) instead of starting one; transfer mode only")
	fl.StringVar(&token, "admin-token", "", "admin token of --cluster (or ADMIT_ADMIN_TOKEN)")
	fl.StringVar(&o.Mode, "mode", o.Mode, "kill (SIGKILL the leader and restart it), transfer (leadership transfer through the API) or partition (cut the leader off, then heal)")
	fl.IntVar(&o.Rounds, "rounds", o.Rounds, "leader changes")
	fl.DurationVar(&o.RoundTime, "round-time", o.RoundTime, "traffic per round (the leader change is in its middle; a partition lasts half of it)")
	fl.IntVar(&o.Gates, "gates", o.Gates, "simulated gates")
	fl.DurationVar(&o.Interval, "interval", o.Interval, "each gate scans this often")
	fl.IntVar(&o.Tickets, "tickets", o.Tickets, "synthetic tickets to load")
	fl.IntVar(&o.ScansPerTicket, "scans-per-ticket", o.ScansPerTicket, "gates that race for each ticket")
	fl.DurationVar(&o.Timeout, "timeout", o.Timeout, "one scan attempt's timeout")
	fl.DurationVar(&o.CheckTimeout, "check-timeout", o.CheckTimeout, "bound on the linearizability check")
	fl.StringVar(&o.HTMLPath, "html", o.HTMLPath, "where to write porcupine's visualization when the check fails")
	fl.BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func printDrill(w interface{ Write([]byte) (int, error) }, r *drill.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	settle := "settle ms"
	if r.Mode == "partition" {
		settle = "settle ms after heal"
	}
	fmt.Fprintf(tw, "round\tleader\tleaderless ms\t%s\tadmitted\tdenied\tfailed\tretries\trescans\terror run\terror run ms\t\n", settle)
	for _, rd := range r.Rounds {
		fmt.Fprintf(tw, "%d\t%s→%s\t%.0f\t%.0f\t%d\t%d\t%d\t%d\t%d\t%d\t%.0f\t%s\n", rd.Round, rd.OldLeader, rd.NewLeader,
			rd.LeaderlessMs, rd.SettleMs, rd.Admitted, rd.Denied, rd.Failed, rd.Retries, rd.Rescans, rd.MaxErrorRun, rd.MaxErrorMs, rd.Error)
	}
	t := r.Total
	fmt.Fprintf(tw, "total\t\t%.0f max\t\t%d\t%d\t%d\t%d\t%d\t%d\t%.0f\t\n", r.MaxLeaderless, t.Admitted, t.Denied, t.Failed, t.Retries, t.Rescans, r.MaxErrorRun, r.MaxErrorMs)
	tw.Flush()
	if r.Mode == "partition" {
		fmt.Fprintln(w)
		for _, rd := range r.Rounds {
			fmt.Fprintf(w, "  round %d: %s cut off for %.0f ms, stopped leading %.0f ms after the cut\n", rd.Round, rd.OldLeader, rd.PartitionMs, rd.StepDownMs)
		}
	}
	lin := "yes"
	if !r.Linearizable {
		lin = "NO (" + r.Check.Outcome + ")"
		if r.Check.HTMLPath != "" {
			lin += ", see " + r.Check.HTMLPath
		}
	}
	fmt.Fprintf(w, "\n%s drill, %d nodes, %d gates: double entries %d, linearizable %s (%d operations, %d of unknown outcome, %d tickets, checked in %s)\n",
		r.Mode, r.Nodes, r.Gates, r.DoubleEntries, lin, r.Check.Operations, r.Check.Pending, r.Check.Tickets, r.Check.Took)
	if r.DataDir != "" {
		fmt.Fprintf(w, "  node data and logs kept in %s\n", r.DataDir)
	}
	for _, e := range r.DoubleExample {
		fmt.Fprintf(w, "  double entry: %s\n", e)
	}
}
