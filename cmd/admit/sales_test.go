package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/admitpark/admit/sales/keys"
)

// TestSalesSecretsNeverFromTheCommandLine: the cluster token comes from a
// file or the environment, never argv; the KEK from a 0600 file or the
// environment.
func TestSalesSecretsNeverFromTheCommandLine(t *testing.T) {
	dir := t.TempDir()
	if _, err := clusterToken(&salesFlags{clusterToken: "tok-on-argv"}); err == nil || !strings.Contains(err.Error(), "ADMIT_ADMIN_TOKEN") {
		t.Fatalf("--cluster-token: %v", err)
	}
	file := filepath.Join(dir, "admin-token")
	if err := os.WriteFile(file, []byte("tok-in-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ADMIT_ADMIN_TOKEN", "tok-in-env")
	if tok, err := clusterToken(&salesFlags{tokenFile: file}); err != nil || tok != "tok-in-file" {
		t.Fatalf("--admin-token-file: %q %v", tok, err)
	}
	if tok, err := clusterToken(&salesFlags{}); err != nil || tok != "tok-in-env" {
		t.Fatalf("$ADMIT_ADMIN_TOKEN: %q %v", tok, err)
	}

	t.Setenv("ADMIT_KEK", "")
	if _, err := loadKEK(""); !errors.Is(err, keys.ErrNoKEK) {
		t.Fatalf("no KEK: %v", err)
	}
	kekFile := filepath.Join(dir, "kek")
	want, err := keys.GenerateKEKFile(kekFile)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := loadKEK(kekFile); err != nil || k.ID() != want.ID() {
		t.Fatalf("--key-file: %v", err)
	}
	os.Chmod(kekFile, 0o644)
	if _, err := loadKEK(kekFile); !errors.Is(err, keys.ErrKEKFileMode) {
		t.Fatalf("world-readable --key-file: %v", err)
	}
	t.Setenv("ADMIT_KEK", strings.Repeat("ab", 32))
	if _, err := loadKEK(""); err != nil {
		t.Fatalf("$ADMIT_KEK: %v", err)
	}
}
