package seams

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/admitpark/admit/"

// deps maps every package of the module to its transitive imports (test
// files excluded), as `go list` reports them.
func deps(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, mod+"...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		m[strings.TrimPrefix(f[0], mod)] = f[1:]
	}
	if len(m) < 20 {
		t.Fatalf("go list found %d packages", len(m))
	}
	return m
}

func TestSeams(t *testing.T) {
	all := deps(t)
	for pkg, ds := range all {
		// Clients of the cluster talk through the contract package; only
		// the server itself, its test kit and the binary link the server.
		if slices.Contains(ds, mod+"validator/gate") && !slices.Contains([]string{"cmd/admit", "validator/gate/gatetest"}, pkg) {
			t.Errorf("%s imports the gate server package validator/gate; use validator/gateapi", pkg)
		}
		// sync moves data between sales and the cluster; it depends on
		// neither side's internals, and sales calls it, not the reverse.
		if pkg == "sync" || strings.HasPrefix(pkg, "sync/") {
			for _, d := range ds {
				if strings.HasPrefix(d, mod+"sales") {
					t.Errorf("%s imports %s: sync must not depend on sales", pkg, strings.TrimPrefix(d, mod))
				}
			}
		}
	}
	// The contract stays light: sales, sync and the benchmarks import it.
	for _, heavy := range []string{"github.com/valyala/fasthttp", "github.com/hashicorp/raft", "github.com/dgraph-io/badger/v4", "github.com/jackc/pgx/v5"} {
		if slices.Contains(all["validator/gateapi"], heavy) {
			t.Errorf("validator/gateapi pulls in %s", heavy)
		}
	}
	// A gate agent runs on a turnstile controller: it links no node.
	for _, heavy := range []string{"github.com/valyala/fasthttp", "github.com/hashicorp/raft", "github.com/dgraph-io/badger/v4", "github.com/jackc/pgx/v5", mod + "validator/fsm"} {
		if slices.Contains(all["validator/agent"], heavy) {
			t.Errorf("validator/agent pulls in %s", heavy)
		}
	}
	if _, ok := all["validator/gateapi"]; !ok {
		t.Error("validator/gateapi not found")
	}
}
