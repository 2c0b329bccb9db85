package drill

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/adminclient"
	"github.com/admitpark/admit/cluster/localproc"
)

// localCluster is a cluster of node processes the drill started, in a
// temporary directory unless Options.DataDir names one.
type localCluster struct {
	*localproc.Cluster
	temp bool
}

// startLocal starts n node processes, with their fault switch on when
// faults (partition mode), and waits until they form a cluster. Data and
// logs (n<i>.log) go to dataDir, or a new temporary directory.
func startLocal(ctx context.Context, bin string, n int, dataDir, token string, faults bool) (*localCluster, error) {
	temp := false
	if dataDir == "" {
		d, err := os.MkdirTemp("", "admit-drill-")
		if err != nil {
			return nil, err
		}
		dataDir, temp = d, true
	}
	cfg := localproc.DefaultClusterConfig(bin, token)
	cfg.Nodes, cfg.DataDir, cfg.LogDir = n, dataDir, dataDir
	if faults {
		cfg.NodeArgs = append(cfg.NodeArgs, "--fault-injection")
	}
	c, err := localproc.StartCluster(ctx, cfg)
	if err != nil {
		if temp {
			os.RemoveAll(dataDir)
		}
		return nil, err
	}
	return &localCluster{Cluster: c, temp: temp}, nil
}

// stop ends every node with SIGTERM and removes a temporary data dir
// unless keep (a failed drill keeps its logs and data for a look).
func (lc *localCluster) stop(keep bool) {
	lc.Stop(true)
	if lc.temp && !keep {
		os.RemoveAll(lc.Dir())
	}
}

// adminAt is an admin client for the nodes at urls with a timeout per request.
func adminAt(urls []string, token string, timeout time.Duration) *adminclient.Client {
	c, err := adminclient.New(adminclient.Config{URLs: urls, AdminToken: token, Timeout: timeout})
	if err != nil {
		panic(err) // urls come from the drill's options, validated, or its own cluster
	}
	return c
}

// self asks one node for its own view.
func self(ctx context.Context, url, token string, timeout time.Duration) (cluster.MemberStatus, error) {
	return adminAt([]string{url}, token, timeout).Self(ctx)
}

// leaderOf asks every node and returns the one that says it leads in the
// highest term.
func leaderOf(ctx context.Context, urls []string, token string) (id, url string, term uint64) {
	return adminAt(urls, token, 250*time.Millisecond).Leader(ctx)
}

// waitSelfSettled waits until every node says it leads or follows, and all
// name the same leader.
func waitSelfSettled(ctx context.Context, urls []string, token string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return adminclient.Poll(ctx, 50*time.Millisecond, adminAt(urls, token, 500*time.Millisecond).SelfSettled)
}

var errNoLeader = errors.New("no leader")
