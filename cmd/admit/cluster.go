package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/adminclient"
	"github.com/admitpark/admit/cluster/httpapi"
)

func newClusterCmd() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Operate a running cluster: status, join, remove, transfer-leadership, snapshot; make its certificates",
	}
	addAPIFlags(cmd, f)

	status := &cobra.Command{
		Use:   "status",
		Short: "Show every member: state, suffrage, term, indexes, last contact",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.admin()
			if err != nil {
				return err
			}
			st, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			return f.print(cmd, st, func(w io.Writer) { printStatus(w, st) })
		},
	}

	var nonvoter bool
	join := &cobra.Command{
		Use:   "join ID RAFT_ADDR",
		Short: "Add a node to the cluster (it must be running)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.adminCall(cmd, func(ctx context.Context, c *adminclient.Client) error {
				return c.Join(ctx, httpapi.JoinRequest{ID: args[0], RaftAddr: args[1], Nonvoter: nonvoter})
			}, map[string]string{"joined": args[0]}, fmt.Sprintf("node %s joined", args[0]))
		},
	}
	join.Flags().BoolVar(&nonvoter, "nonvoter", false, "add as a non-voting member (replicates, does not vote)")

	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a node from the cluster",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.adminCall(cmd, func(ctx context.Context, c *adminclient.Client) error {
				return c.Remove(ctx, args[0])
			}, map[string]string{"removed": args[0]}, fmt.Sprintf("node %s removed", args[0]))
		},
	}

	var to string
	transfer := &cobra.Command{
		Use:   "transfer-leadership",
		Short: "Hand leadership to another node (--to ID, or the most up-to-date follower)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out adminclient.TransferReply
			err := f.adminCall(cmd, func(ctx context.Context, c *adminclient.Client) (err error) {
				out, err = c.TransferLeadership(ctx, to)
				return err
			}, nil, "")
			if err != nil {
				return err
			}
			return f.print(cmd, out, func(w io.Writer) {
				fmt.Fprintf(w, "leadership transferred in %.1f ms; the leader is now %s\n", out.TookMs, orNone(out.Leader))
			})
		},
	}
	transfer.Flags().StringVar(&to, "to", "", "node id to hand leadership to")

	var node string
	snapshot := &cobra.Command{
		Use:   "snapshot",
		Short: "Take a snapshot now on every member (or --node ID), compacting the Raft log",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out adminclient.SnapshotReply
			err := f.adminCall(cmd, func(ctx context.Context, c *adminclient.Client) (err error) {
				out, err = c.Snapshot(ctx, node)
				return err
			}, nil, "")
			if err != nil && len(out.Snapshots) == 0 {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), out)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NODE\tSNAPSHOT\tINDEX\tTERM\tSIZE")
			for _, s := range out.Snapshots {
				fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\n", s.Node, s.ID, s.Index, s.Term, s.Size)
			}
			for id, e := range out.Errors {
				fmt.Fprintf(w, "%s\tFAILED: %s\t\t\t\n", id, e)
			}
			w.Flush()
			return err
		},
	}
	snapshot.Flags().StringVar(&node, "node", "", "only this member")

	cmd.AddCommand(status, join, remove, transfer, snapshot, newCertsCmd())
	return cmd
}

// adminCall makes one admin call bounded by --timeout; then, unless done
// is "", it prints reply as JSON with --json, else done.
func (f *apiFlags) adminCall(cmd *cobra.Command, call func(context.Context, *adminclient.Client) error, reply any, done string) error {
	c, err := f.admin()
	if err != nil {
		return err
	}
	ctx, cancel := f.ctx(cmd)
	defer cancel()
	if err := call(ctx, c); err != nil || done == "" {
		return err
	}
	return f.print(cmd, reply, func(w io.Writer) { fmt.Fprintln(w, done) })
}

func printStatus(w io.Writer, st cluster.Status) {
	if st.Leader == "" {
		fmt.Fprintf(w, "NO LEADER: the cluster cannot admit or issue tickets (asked %s)\n\n", st.AskedNode)
	} else {
		fmt.Fprintf(w, "leader: %s (%s), asked %s\n\n", st.Leader, st.LeaderAddr, st.AskedNode)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSUFFRAGE\tTERM\tLAST INDEX\tCOMMIT\tAPPLIED\tLAST CONTACT\tRAFT ADDR\tHTTP")
	voters := 0
	for _, m := range st.Members {
		if m.Suffrage == "voter" {
			voters++
		}
		contact := "-"
		switch {
		case m.State == "unreachable":
			contact = "?"
		case m.State == "leader":
			contact = "(leader)"
		case m.LastContactMs < 0:
			contact = "never"
		default:
			contact = fmt.Sprintf("%.0fms ago", m.LastContactMs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", m.ID, strings.ToUpper(m.State[:1])+m.State[1:],
			m.Suffrage, m.Term, m.LastIndex, m.CommitIndex, m.AppliedIndex, contact, m.RaftAddr, orNone(m.APIAddr))
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d members, %d voters (quorum %d)\n", len(st.Members), voters, voters/2+1)
	for _, m := range st.Members {
		if m.Error != "" {
			fmt.Fprintf(w, "%s: %s\n", m.ID, m.Error)
		}
	}
}
