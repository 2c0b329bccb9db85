package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAgentGateTokenNeverFromTheCommandLine: the agent's gate token comes
// from --gate-token-file or $ADMIT_GATE_TOKEN; there is no flag for it.
func TestAgentGateTokenNeverFromTheCommandLine(t *testing.T) {
	if newGateAgentCmd(&globalFlags{}).Flags().Lookup("gate-token") != nil {
		t.Fatal("admit gate agent has a --gate-token flag: tokens never go on argv")
	}
	t.Setenv("ADMIT_GATE_TOKEN", "")
	if _, err := gateTokenFrom(""); err == nil || !strings.Contains(err.Error(), "ADMIT_GATE_TOKEN") {
		t.Fatalf("no token: %v", err)
	}
	t.Setenv("ADMIT_GATE_TOKEN", "gt_env")
	if tok, err := gateTokenFrom(""); err != nil || tok != "gt_env" {
		t.Fatalf("$ADMIT_GATE_TOKEN: %q %v", tok, err)
	}
	file := filepath.Join(t.TempDir(), "token")
	os.WriteFile(file, []byte("gt_file\n"), 0o600)
	if tok, err := gateTokenFrom(file); err != nil || tok != "gt_file" {
		t.Fatalf("--gate-token-file: %q %v", tok, err)
	}
	os.WriteFile(file, []byte("\n"), 0o600)
	if _, err := gateTokenFrom(file); err == nil {
		t.Fatal("an empty --gate-token-file was accepted")
	}
}
