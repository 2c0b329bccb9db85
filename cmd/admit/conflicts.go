package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/admitpark/admit/validator/gateapi"
)

// newConflictsCmd is `admit conflicts`: the offline admits that met
// another admit of the same ticket, as GET /v1/conflicts lists them.
func newConflictsCmd() *cobra.Command {
	f := &apiFlags{}
	var after string
	var limit int
	cmd := &cobra.Command{
		Use:   "conflicts",
		Short: "List tickets let in twice by offline gates (offline admits that met another admit)",
		Long: `List the conflicts the cluster recorded: an offline gate admitted a ticket
that had already been admitted (by another offline gate or a live one), so
the ticket went in twice. Each line shows both admits, their gates, device
times and log times. Conflicts are kept as long as entry events
(the node's --scan-retention); sales keeps them for good in entry_events.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out gateapi.ConflictsResponse
			err := f.gateCall(cmd, "", func(ctx context.Context, c *gateapi.Client) (err error) {
				out, err = c.Conflicts(ctx, after, limit)
				return err
			})
			if err != nil {
				return err
			}
			return f.print(cmd, out, func(w io.Writer) { printConflicts(w, out) })
		},
	}
	addAPIFlags(cmd, f)
	cmd.Flags().StringVar(&after, "after", "", "list conflicts after this cursor (the last line's, to read on)")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many (1-1000)")
	return cmd
}

func printConflicts(w io.Writer, r gateapi.ConflictsResponse) {
	if len(r.Conflicts) == 0 {
		fmt.Fprintf(w, "no conflicts listed (%d recorded in all)\n", r.Total)
		return
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CURSOR\tTICKET\tZONE\tCLUSTER SAID\tOFFLINE ADMIT (gate, device time, log time)\tMET (gate, device time, log time)")
	for _, c := range r.Conflicts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Cursor, c.TicketID, c.Zone, c.Reason, conflictScan(c.Scan), conflictScan(c.Other))
	}
	tw.Flush()
	fmt.Fprintf(w, "%d recorded in all; next: --after %s\n", r.Total, r.Next)
}

func conflictScan(s gateapi.ConflictScan) string {
	dt := "-"
	if !s.DeviceTime.IsZero() {
		dt = s.DeviceTime.Format(time.RFC3339)
	}
	id := s.ScanID
	if id == "" {
		id = "(event purged)"
	}
	return fmt.Sprintf("%s %s, %s, %s", s.Gate, id, dt, s.At.Format(time.RFC3339))
}

// scanCredential is the credential `admit scan` sends for --card,
// --id-card or --ticket-number (at most one of them), nil for none.
func scanCredential(card, idCard, number string) (*gateapi.Credential, error) {
	var c *gateapi.Credential
	for _, k := range []struct{ kind, v string }{
		{gateapi.CredentialCard, card}, {gateapi.CredentialIDCard, idCard}, {gateapi.CredentialTicketNumber, number},
	} {
		if k.v == "" {
			continue
		}
		if c != nil {
			return nil, errors.New("give one of --card, --id-card and --ticket-number")
		}
		c = &gateapi.Credential{Kind: k.kind, Value: k.v}
	}
	return c, nil
}
