package localproc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/admitpark/admit/cluster/adminclient"
	"github.com/admitpark/admit/cluster/pki"
	"github.com/admitpark/admit/internal/httpclient"
)

// ClusterConfig describes a local cluster of `admit node` processes.
type ClusterConfig struct {
	// Bin is the admit binary.
	Bin string
	// Nodes is how many nodes (1-9): n1 bootstraps, the others join it.
	Nodes int
	// DataDir holds node i's data in DataDir/n<i>. Empty: a new temporary
	// directory, removed by Stop unless asked to keep it.
	DataDir string
	// LogDir holds node i's log as LogDir/n<i>.log. Empty: node.log in
	// each node's data dir.
	LogDir string
	// Host is the loopback address the nodes listen on. Default 127.0.0.1.
	Host string
	// HTTPPort and RaftPort are the first node's ports; the others follow
	// (HTTPPort+1, …). 0: free ports chosen at start.
	HTTPPort, RaftPort int
	// AdminToken is the cluster's admin token, given to the nodes as
	// ADMIT_ADMIN_TOKEN and used to ask them whether they have settled.
	AdminToken string
	// Env is the nodes' environment besides ADMIT_ADMIN_TOKEN; nil: this
	// program's.
	Env []string
	// NodeArgs are added to every node's arguments ("--log-level", "warn";
	// "--fault-injection"; "--state-machine", "counter").
	NodeArgs []string
	// ParentDeathSignal and StopTimeout are each node's (see Config).
	// Defaults SIGKILL and 10 s.
	ParentDeathSignal syscall.Signal
	StopTimeout       time.Duration
	// SettleTimeout bounds the wait for the cluster to form in
	// StartCluster. Default 60 s.
	SettleTimeout time.Duration
	// TLS runs mutual TLS on the Raft port (admit node --tls-cert, --tls-key,
	// --tls-ca) with the certificates in TLSDir; what is missing there (the
	// CA, a node's certificate naming Host and localhost) is made at start
	// with cluster/pki. On in DefaultClusterConfig.
	TLS bool
	// TLSDir holds ca.crt and n<i>.crt/.key. Empty: "tls" in the data dir.
	TLSDir string
	// HTTPTLS also serves each node's HTTP API over HTTPS with its node
	// certificate (URLs are https://; Admin trusts the CA). Needs TLS.
	HTTPTLS bool
}

// DefaultClusterConfig returns a 3-node cluster of bin on free loopback
// ports, in a temporary directory, logging at warn level.
func DefaultClusterConfig(bin, adminToken string) ClusterConfig {
	return ClusterConfig{Bin: bin, Nodes: 3, Host: "127.0.0.1", AdminToken: adminToken,
		NodeArgs: []string{"--log-level", "warn"}, ParentDeathSignal: syscall.SIGKILL,
		StopTimeout: 10 * time.Second, SettleTimeout: 60 * time.Second, TLS: true}
}

// Validate reports the first problem with c.
func (c ClusterConfig) Validate() error {
	switch {
	case c.Bin == "":
		return errors.New("localproc: no admit binary")
	case c.Nodes < 1 || c.Nodes > 9:
		return fmt.Errorf("localproc: %d nodes: use 1 to 9", c.Nodes)
	case c.AdminToken == "":
		return errors.New("localproc: an admin token is required")
	case c.HTTPPort < 0 || c.RaftPort < 0 || c.StopTimeout < 0 || c.SettleTimeout < 0:
		return errors.New("localproc: ports and timeouts must not be negative")
	case c.HTTPTLS && !c.TLS:
		return errors.New("localproc: HTTPTLS needs TLS")
	}
	return nil
}

// Node is one `admit node` process of a Cluster.
type Node struct {
	*Process
	ID       string // n1, n2, …
	HTTPURL  string // http://host:port (https:// with HTTPTLS)
	HTTPAddr string // host:port of HTTPURL
	RaftAddr string // host:port
	Dir      string // data dir
}

// SetRaftAddr moves the node to another Raft address from its next
// Restart on (a new IP after a reboot).
func (n *Node) SetRaftAddr(addr string) {
	args := n.Args()
	for i, a := range args {
		if a == n.RaftAddr && i > 0 && args[i-1] == "--raft-addr" {
			args[i] = addr
		}
	}
	n.SetArgs(args)
	n.RaftAddr = addr
}

// Cluster is a local cluster of node processes StartCluster started.
type Cluster struct {
	cfg    ClusterConfig
	dir    string
	temp   bool
	tlsDir string // "" without TLS
	nodes  []*Node
	admin  *adminclient.Client
}

// StartCluster starts every node at once (joiners retry until n1 is up, and
// a restarted cluster needs a quorum of its members before any of them is
// ready) and waits, at most cfg.SettleTimeout, until all are voters that
// lead or follow with one leader. A node that exits meanwhile fails it at
// once with the end of its log. On an error every node is stopped again.
func StartCluster(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	if cfg.SettleTimeout == 0 {
		cfg.SettleTimeout = 60 * time.Second
	}
	c := &Cluster{cfg: cfg, dir: cfg.DataDir}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "admit-cluster-")
		if err != nil {
			return nil, err
		}
		c.dir, c.temp = d, true
	}
	env := cfg.Env
	if env == nil {
		env = os.Environ()
	}
	env = append(append([]string(nil), env...), "ADMIT_ADMIN_TOKEN="+cfg.AdminToken)
	if err := c.ensureTLS(); err != nil {
		c.Stop(false)
		return nil, err
	}
	for i := range cfg.Nodes {
		n, err := c.newNode(i)
		if err != nil {
			c.Stop(false)
			return nil, err
		}
		args := []string{"node", "--id", n.ID, "--data-dir", n.Dir, "--raft-addr", n.RaftAddr,
			"--http-addr", n.HTTPAddr}
		args = append(args, c.tlsArgs(n.ID)...)
		args = append(args, cfg.NodeArgs...)
		if i == 0 {
			args = append(args, "--bootstrap")
		} else {
			args = append(args, "--join", c.nodes[0].HTTPURL)
		}
		logPath := filepath.Join(n.Dir, "node.log")
		if cfg.LogDir != "" {
			logPath = filepath.Join(cfg.LogDir, n.ID+".log")
		}
		if err := os.MkdirAll(n.Dir, 0o750); err != nil {
			c.Stop(false)
			return nil, err
		}
		n.Process, err = Start(Config{Name: n.ID, Bin: cfg.Bin, Args: args, Env: env, LogPath: logPath,
			ParentDeathSignal: cfg.ParentDeathSignal, StopTimeout: cfg.StopTimeout})
		if err != nil {
			c.Stop(false)
			return nil, err
		}
		c.nodes = append(c.nodes, n)
	}
	tcfg, err := httpclient.TLSConfigFromCAFile(c.CAFile())
	if err != nil {
		c.Stop(false)
		return nil, err
	}
	admin, err := adminclient.New(adminclient.Config{URLs: c.URLs(), AdminToken: cfg.AdminToken, Timeout: time.Second, TLS: tcfg})
	if err != nil {
		c.Stop(false)
		return nil, err
	}
	c.admin = admin
	if err := c.WaitSettled(ctx, cfg.SettleTimeout); err != nil {
		c.Stop(true)
		return nil, fmt.Errorf("cluster did not form (logs in %s): %w", c.logsWhere(), err)
	}
	return c, nil
}

func (c *Cluster) newNode(i int) (*Node, error) {
	n := &Node{ID: fmt.Sprintf("n%d", i+1)}
	n.Dir = filepath.Join(c.dir, n.ID)
	if c.cfg.HTTPPort > 0 {
		n.HTTPAddr = fmt.Sprintf("%s:%d", c.cfg.Host, c.cfg.HTTPPort+i)
	} else {
		a, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		n.HTTPAddr = a
	}
	n.HTTPURL = "http://" + n.HTTPAddr
	if c.cfg.HTTPTLS {
		n.HTTPURL = "https://" + n.HTTPAddr
	}
	if c.cfg.RaftPort > 0 {
		n.RaftAddr = fmt.Sprintf("%s:%d", c.cfg.Host, c.cfg.RaftPort+i)
	} else {
		a, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		n.RaftAddr = a
	}
	return n, nil
}

func (c *Cluster) logsWhere() string {
	if c.cfg.LogDir != "" {
		return c.cfg.LogDir
	}
	return filepath.Join(c.dir, "*", "node.log")
}

// WaitSettled waits, at most timeout, until every node is a voter that
// leads or follows and there is a leader; a node process that exits
// meanwhile ends the wait with its error.
func (c *Cluster) WaitSettled(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return adminclient.Poll(ctx, 50*time.Millisecond, func(ctx context.Context) error {
		for _, n := range c.nodes {
			if err := n.Dead(); err != nil {
				return err
			}
		}
		st, err := c.admin.Status(ctx)
		if err != nil {
			return err
		}
		return adminclient.Settled(st, len(c.nodes))
	})
}

// ensureTLS makes the certificates TLS needs that TLSDir lacks.
func (c *Cluster) ensureTLS() error {
	if !c.cfg.TLS {
		return nil
	}
	c.tlsDir = c.cfg.TLSDir
	if c.tlsDir == "" {
		c.tlsDir = filepath.Join(c.dir, "tls")
	}
	ids := make([]string, c.cfg.Nodes)
	for i := range ids {
		ids[i] = fmt.Sprintf("n%d", i+1)
	}
	if err := pki.EnsureNodes(c.tlsDir, ids, []string{c.cfg.Host, "localhost"}); err != nil {
		return fmt.Errorf("localproc: certificates in %s: %w", c.tlsDir, err)
	}
	return nil
}

// tlsArgs are node id's TLS flags.
func (c *Cluster) tlsArgs(id string) []string {
	if c.tlsDir == "" {
		return nil
	}
	cert, key := pki.NodeFiles(c.tlsDir, id)
	args := []string{"--tls-cert", cert, "--tls-key", key, "--tls-ca", c.CAFile()}
	if c.cfg.HTTPTLS {
		args = append(args, "--http-tls-cert", cert, "--http-tls-key", key)
	}
	return args
}

// CAFile returns the cluster CA's certificate file ("" without TLS): what
// clients of HTTPS nodes trust (--cacert).
func (c *Cluster) CAFile() string {
	if c.tlsDir == "" {
		return ""
	}
	ca, _ := pki.CAFiles(c.tlsDir)
	return ca
}

// Nodes returns the nodes, n1 first.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Node returns the node with id, nil if none.
func (c *Cluster) Node(id string) *Node {
	for _, n := range c.nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// URLs returns the nodes' HTTP URLs, n1 first.
func (c *Cluster) URLs() []string {
	var u []string
	for _, n := range c.nodes {
		u = append(u, n.HTTPURL)
	}
	return u
}

// Dir returns the directory that holds the nodes' data.
func (c *Cluster) Dir() string { return c.dir }

// Admin returns an admin client for every node (1-second timeout).
func (c *Cluster) Admin() *adminclient.Client { return c.admin }

// Stop ends every node with SIGTERM, in parallel, and waits; then it
// removes a temporary data dir unless keep (a failed run keeps its logs
// and data for a look).
func (c *Cluster) Stop(keep bool) {
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		if n.Process == nil {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); n.Stop() }()
	}
	wg.Wait()
	if c.temp && !keep {
		os.RemoveAll(c.dir)
	}
}

// Tail returns the last lines of every node's log, each under its id.
func (c *Cluster) Tail(lines int) string {
	var b strings.Builder
	for _, n := range c.nodes {
		fmt.Fprintf(&b, "--- %s ---\n%s\n", n.ID, n.Tail(lines))
	}
	return b.String()
}
