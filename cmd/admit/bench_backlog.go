package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/admitpark/admit/validator/agent"
	"github.com/admitpark/admit/validator/gateapi"
)

// newBenchBacklogCmd is `admit bench backlog`: how fast offline backlogs
// are reconciled once the cluster is back.
func newBenchBacklogCmd(f *apiFlags) *cobra.Command {
	var codesFile, dataDir string
	var agents, batch int
	cmd := &cobra.Command{
		Use:   "backlog",
		Short: "Reconcile offline backlogs: fill N gate agents' stores with offline admits, start them, time the upload",
		Long: `Registers --agents gates (bench-agent-1…) in the zone main, writes one offline
admit per code of --codes (admit tickets load) into their stores, round
robin, then starts the agents against --cluster and reports how long the
backlogs take to reach the cluster (scans/s). Each agent uploads in order,
--batch scans per POST /v1/scans, all agents at once.`,
		Example: `  admit tickets load --count 1000000 --out codes.txt
  admit bench backlog --codes codes.txt --agents 20 --data-dir /tmp/backlog`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataDir == "" {
				return errors.New("--data-dir is required (the agents' stores go there)")
			}
			admin, err := f.gates("")
			if err != nil {
				return err
			}
			codes, err := readCodes(codesFile)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			tokens := make([]string, agents)
			for i := range tokens {
				g, err := admin.AddGate(ctx, gateapi.GateJSON{ID: fmt.Sprintf("bench-agent-%d", i+1), Zone: "main", Direction: "in"})
				if err != nil {
					return err
				}
				tokens[i] = g.Token
			}
			start := time.Now()
			per := make([][]*agent.Record, agents)
			at := time.Now().Add(-time.Hour)
			run := at.Unix() % 100000 // scan ids of their own: an earlier run's would be rescans
			for i, c := range codes {
				k := i % agents
				per[k] = append(per[k], &agent.Record{Seq: uint64(len(per[k]) + 1), ScanID: fmt.Sprintf("ba%d-%d:%d", run, k+1, len(per[k])),
					Code: c, Admit: true, DeviceTime: at.Add(time.Duration(i) * time.Millisecond).UnixMilli()})
			}
			for k, recs := range per {
				st, err := agent.OpenStore(filepath.Join(dataDir, fmt.Sprintf("agent-%d", k+1)))
				if err != nil {
					return err
				}
				last, _ := st.LastSeq() // a store used before numbers on
				for i, r := range recs {
					r.Seq = last + uint64(i) + 1
				}
				for len(recs) > 0 {
					n := min(len(recs), 50000)
					if err := st.Commit(recs[:n]); err != nil {
						st.Close()
						return err
					}
					recs = recs[n:]
				}
				st.Close()
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d offline scans written to %d agents' stores in %v\n", len(codes), agents, time.Since(start).Round(time.Millisecond))

			runCtx, stop := context.WithCancel(context.Background())
			defer stop()
			var wg sync.WaitGroup
			list := make([]*agent.Agent, agents)
			for k := range list {
				cfg := agent.DefaultConfig()
				cfg.ClusterURLs, cfg.Gate, cfg.GateToken = admin.URLs(), fmt.Sprintf("bench-agent-%d", k+1), tokens[k]
				cfg.DataDir, cfg.UploadBatch, cfg.Probe = filepath.Join(dataDir, fmt.Sprintf("agent-%d", k+1)), batch, 100*time.Millisecond
				cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
				a, err := agent.New(cfg)
				if err != nil {
					return err
				}
				list[k] = a
			}
			start = time.Now()
			for _, a := range list {
				wg.Add(1)
				go func() { defer wg.Done(); a.Run(runCtx) }()
			}
			defer wg.Wait()
			defer stop()
			for {
				left := 0
				online := 0
				for _, a := range list {
					n, err := a.Backlog()
					if err != nil {
						return err
					}
					left += n
					if a.Online() {
						online++
					}
				}
				if left == 0 && online == agents {
					break
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(20 * time.Millisecond):
				}
			}
			d := time.Since(start)
			fmt.Fprintf(cmd.OutOrStdout(), "%d offline scans from %d agents reconciled in %v: %.0f scans/s\n",
				len(codes), agents, d.Round(time.Millisecond), float64(len(codes))/d.Seconds())
			return nil
		},
	}
	cmd.Flags().StringVar(&codesFile, "codes", "codes.txt", "file of ticket codes, one per line (admit tickets load --out)")
	cmd.Flags().IntVar(&agents, "agents", 20, "gate agents")
	cmd.Flags().IntVar(&batch, "batch", 1000, "scans per upload request")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "directory for the agents' stores (required)")
	return cmd
}

func readCodes(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			out = append(out, s)
		}
	}
	return out, sc.Err()
}
