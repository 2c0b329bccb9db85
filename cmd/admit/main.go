// Command admit is the one binary of the admit ticketing system: cluster
// nodes, the sales service, sync, operations (cluster, gates, zones,
// tickets, scans), a local park for trying it out (dev), drills and
// benchmarks. Each subcommand wires packages together and prints; the
// logic lives in the packages.
package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "admit:", err)
		os.Exit(1)
	}
}

type globalFlags struct {
	logLevel  string
	logFormat string
}

func newRootCmd() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "admit",
		Short:         "Ticketing for theme parks: a Raft cluster at the gates, sales on PostgreSQL",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	root.AddCommand(
		newNodeCmd(g),
		newClusterCmd(),
		withAgent(newGateCmd(), g),
		newZoneCmd(),
		newTicketsCmd(),
		newScanCmd(),
		newConflictsCmd(),
		newSalesCmd(g),
		newSyncCmd(g),
		newDevCmd(),
		newBenchCmd(),
		newDrillCmd(),
		newVersionCmd(),
	)
	return root
}

func (g *globalFlags) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(g.logFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: use text or json", g.logFormat)
	}
}
