package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/admitpark/admit/validator/gateapi"
	"github.com/spf13/cobra"
)

func newGateCmd() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{Use: "gate", Short: "Register gates (turnstiles, handhelds) and their tokens"}
	addAPIFlags(cmd, f)

	var g gateapi.GateJSON
	add := &cobra.Command{
		Use:   "add",
		Short: "Register a gate in a zone; prints the gate's token once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out gateapi.GateJSON
			err := f.gateCall(cmd, "", func(ctx context.Context, c *gateapi.Client) (err error) {
				out, err = c.AddGate(ctx, g)
				return err
			})
			if err != nil {
				return err
			}
			return f.print(cmd, out, func(w io.Writer) {
				fmt.Fprintf(w, "gate %s added in zone %s (direction %s)\ntoken, shown only now: %s\n", out.ID, out.Zone, out.Direction, out.Token)
			})
		},
	}
	add.Flags().StringVar(&g.ID, "id", "", "gate id, e.g. north-1 (required)")
	add.Flags().StringVar(&g.Zone, "zone", "main", "zone the gate checks; created if new")
	add.Flags().StringVar(&g.Direction, "direction", "both", "in, out or both")
	add.MarkFlagRequired("id")

	list := &cobra.Command{
		Use:   "list",
		Short: "List gates",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out gateapi.GatesResponse
			err := f.gateCall(cmd, "", func(ctx context.Context, c *gateapi.Client) (err error) {
				out.Gates, err = c.Gates(ctx)
				return err
			})
			if err != nil {
				return err
			}
			return f.print(cmd, out, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "GATE\tZONE\tDIRECTION")
				for _, g := range out.Gates {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", g.ID, g.Zone, g.Direction)
				}
				tw.Flush()
			})
		},
	}
	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a gate; its token stops working",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := f.gateCall(cmd, "", func(ctx context.Context, c *gateapi.Client) error { return c.RemoveGate(ctx, args[0]) })
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "gate %s removed\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(add, list, remove)
	return cmd
}

func newZoneCmd() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{Use: "zone", Short: "Zones (main gate, attractions) with occupancy caps"}
	addAPIFlags(cmd, f)
	var z gateapi.ZoneJSON
	set := &cobra.Command{
		Use:   "set",
		Short: "Create or change a zone's cap and warning level",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := f.gateCall(cmd, "", func(ctx context.Context, c *gateapi.Client) error { return c.SetZone(ctx, z) })
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "zone %s: cap %d, warn %d (0 = none)\n", z.ID, z.Cap, z.Warn)
			return nil
		},
	}
	set.Flags().StringVar(&z.ID, "id", "", "zone id (required)")
	set.Flags().Uint32Var(&z.Cap, "cap", 0, "most visitors inside at once (0: no cap)")
	set.Flags().Uint32Var(&z.Warn, "warn", 0, "occupancy that raises a warning (0: none)")
	set.MarkFlagRequired("id")
	list := &cobra.Command{
		Use:   "list",
		Short: "List zones with their occupancy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out gateapi.ZonesResponse
			err := f.gateCall(cmd, "", func(ctx context.Context, c *gateapi.Client) (err error) {
				out.Zones, err = c.Zones(ctx)
				return err
			})
			if err != nil {
				return err
			}
			return f.print(cmd, out, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ZONE\tINSIDE\tCAP\tWARN")
				for _, z := range out.Zones {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", z.ID, z.Occupancy, z.Cap, z.Warn)
				}
				tw.Flush()
			})
		},
	}
	cmd.AddCommand(set, list)
	return cmd
}

func newScanCmd() *cobra.Command {
	f := &apiFlags{}
	var req gateapi.ScanRequest
	var gateToken, card, idCard, number string
	cmd := &cobra.Command{
		Use:   "scan CODE | --card N | --id-card N | --ticket-number N",
		Short: "Scan a ticket code (or a card, ID card, typed ticket number) at a gate, as a handheld does",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if req.Credential, err = scanCredential(card, idCard, number); err != nil {
				return err
			}
			if (len(args) == 1) == (req.Credential != nil) {
				return errors.New("give a CODE or one of --card, --id-card, --ticket-number")
			}
			if len(args) == 1 {
				req.Code = strings.TrimSpace(args[0])
			}
			if req.ScanID == "" {
				raw := make([]byte, 8)
				rand.Read(raw)
				req.ScanID = "cli-" + hex.EncodeToString(raw)
			}
			if gateToken == "" {
				gateToken = os.Getenv("ADMIT_GATE_TOKEN")
			}
			var out gateapi.ScanResponse
			// The gate's own token, when given, instead of the admin's.
			err = f.gateCall(cmd, gateToken, func(ctx context.Context, c *gateapi.Client) (err error) {
				out, err = c.Scan(ctx, req)
				return err
			})
			if err != nil {
				return err
			}
			return f.print(cmd, out, func(w io.Writer) { printDecision(w, out) })
		},
	}
	addAPIFlags(cmd, f)
	cmd.Flags().StringVar(&req.Gate, "gate", "", "gate id (required)")
	cmd.Flags().StringVar(&req.Direction, "direction", "", "in or out (default: the gate's)")
	cmd.Flags().Uint16Var(&req.Persons, "persons", 0, "persons passing on a group ticket (default 1)")
	cmd.Flags().StringVar(&req.ScanID, "scan-id", "", "scan id; reuse one to retry a scan (default: a new random id)")
	cmd.Flags().StringVar(&gateToken, "gate-token", "", "the gate's token (default $ADMIT_GATE_TOKEN, else the admin token)")
	cmd.Flags().StringVar(&card, "card", "", "scan a member or IC card by its number or UID instead of a code")
	cmd.Flags().StringVar(&idCard, "id-card", "", "scan an ID card (real-name tickets) by its number instead of a code")
	cmd.Flags().StringVar(&number, "ticket-number", "", "scan the 12-digit number printed on a ticket instead of a code")
	cmd.MarkFlagRequired("gate")
	return cmd
}

// gateCall makes one gate API call bounded by --timeout.
func (f *apiFlags) gateCall(cmd *cobra.Command, gateToken string, call func(context.Context, *gateapi.Client) error) error {
	c, err := f.gates(gateToken)
	if err != nil {
		return err
	}
	ctx, cancel := f.ctx(cmd)
	defer cancel()
	return call(ctx, c)
}

func printDecision(w io.Writer, d gateapi.ScanResponse) {
	entries := fmt.Sprintf("%d/%d", d.EntriesUsed, d.EntriesAllowed)
	if d.EntriesAllowed == 0 {
		entries = fmt.Sprintf("%d/unlimited", d.EntriesUsed)
	}
	rescan := ""
	if d.Rescan {
		rescan = " (repeated scan id: original decision)"
	}
	if d.Offline {
		rescan += " (offline: decided by the gate agent, uploaded later)"
	}
	if d.Result == "admit" {
		fmt.Fprintf(w, "ADMIT%s  %s  ticket %s  entries %s\n", rescan, d.Product, d.TicketID, entries)
	} else {
		fmt.Fprintf(w, "DENY %s%s", d.Reason, rescan)
		if d.TicketID != "" {
			fmt.Fprintf(w, "  %s  ticket %s  entries %s", d.Product, d.TicketID, entries)
		}
		fmt.Fprintln(w)
	}
	if d.FirstEntryAt != "" {
		fmt.Fprintf(w, "  first entry %s at %s\n", d.FirstEntryAt, d.FirstEntryGate)
	}
	if d.ZoneWarning {
		fmt.Fprintln(w, "  zone occupancy at warning level")
	}
}
