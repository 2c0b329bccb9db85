package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/admitpark/admit/bench/loadgen"
	"github.com/admitpark/admit/cluster/localproc"
)

// etcdSystem is a 3-member etcd cluster of real `etcd` processes on
// loopback, with etcd's defaults (the WAL is fsynced before every commit is
// acknowledged). A ticket is the key "t/<ticket id hex>" with the value
// "valid" or "used".
type etcdSystem struct {
	bin     string
	members int
	clients int // client connections the simulated gates share
	eps     []string
	procs   []*localproc.Process
	cs      []*clientv3.Client
}

const (
	etcdValid = "valid"
	etcdUsed  = "used"
)

func etcdKey(id [16]byte) string { return "t/" + hexID(id) }

func (e *etcdSystem) name() string { return "etcd" }

func (e *etcdSystem) start(ctx context.Context, dir string) (systemInfo, error) {
	type member struct{ name, client, peer string }
	ms := make([]member, e.members)
	var initial []string
	for i := range ms {
		c, err := localproc.FreeAddr()
		if err != nil {
			return systemInfo{}, err
		}
		p, err := localproc.FreeAddr()
		if err != nil {
			return systemInfo{}, err
		}
		ms[i] = member{name: fmt.Sprintf("e%d", i+1), client: "http://" + c, peer: "http://" + p}
		initial = append(initial, ms[i].name+"="+ms[i].peer)
	}
	raw := make([]byte, 6)
	rand.Read(raw)
	for _, m := range ms {
		args := []string{
			"--name", m.name, "--data-dir", filepath.Join(dir, m.name),
			"--listen-client-urls", m.client, "--advertise-client-urls", m.client,
			"--listen-peer-urls", m.peer, "--initial-advertise-peer-urls", m.peer,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "admit-bench-" + hex.EncodeToString(raw),
			"--logger", "zap", "--log-level", "warn",
		}
		// etcd 3.4's default bbolt freelist ("array") slows every commit
		// down as the database grows: with a million tickets etcd held
		// under 500 scans/s here. "map" is what etcd 3.5 uses by default.
		args = append(args, "--experimental-backend-bbolt-freelist-type", "map")
		p, err := startServer("etcd "+m.name, filepath.Join(dir, m.name+".log"), e.bin, args...)
		if err != nil {
			return systemInfo{}, err
		}
		e.procs = append(e.procs, p)
		e.eps = append(e.eps, m.client)
	}
	// One client per endpoint first, to wait for the cluster; the gates'
	// clients follow.
	for i := range max(e.clients, len(e.eps)) {
		c, err := clientv3.New(clientv3.Config{
			Endpoints: []string{e.eps[i%len(e.eps)]}, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
			MaxCallSendMsgSize: 8 << 20,
		})
		if err != nil {
			return systemInfo{}, err
		}
		e.cs = append(e.cs, c)
	}
	ver, err := e.waitReady(ctx, 60*time.Second)
	if err != nil {
		return systemInfo{}, fmt.Errorf("etcd cluster did not form (logs in %s): %w", dir, err)
	}
	return systemInfo{
		Version: "etcd " + ver + ", client go.etcd.io/etcd/client/v3",
		PerScan: "one gRPC Txn to one member (gates spread over the 3 members, followers forward to the leader): " +
			"If(Value(t/<id>) = \"valid\") Then(Put(t/<id>, \"used\")) Else(Get(t/<id>)); a failed compare still goes through Raft. " +
			fmt.Sprintf("Batched: one Txn per request of up to %d scans (etcd's default --max-txn-ops %d, less the nesting), more in Txns of %d one after another; its Then branch holds one nested Txn per scan with that compare-and-swap", etcdMaxBatchTxn, etcdMaxTxnOps, etcdMaxBatchTxn),
		Durability: "etcd defaults: the WAL is fsynced before a proposal is committed, on the leader and a quorum",
		Settings: []string{
			fmt.Sprintf("%d members, etcd defaults (heartbeat 100ms, election 1000ms, snapshot-count as shipped)", e.members),
			fmt.Sprintf("%d client connections (gRPC, multiplexed) shared by the simulated gates", e.clients),
			"ticket loading: Txns of 128 puts",
		},
		Endpoints: e.eps,
	}, nil
}

// waitReady waits until every member answers Status and one of them leads.
func (e *etcdSystem) waitReady(ctx context.Context, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var err error
		ver, leader := "", false
		for i, ep := range e.eps {
			sctx, scancel := context.WithTimeout(ctx, time.Second)
			st, serr := e.cs[i].Status(sctx, ep)
			scancel()
			if serr != nil {
				err = serr
				break
			}
			ver = st.Version
			leader = leader || st.Leader != 0
		}
		if err == nil && leader {
			return ver, nil
		}
		if err == nil {
			err = errors.New("no leader yet")
		}
		for _, p := range e.procs {
			if derr := p.Dead(); derr != nil {
				return "", derr
			}
		}
		select {
		case <-ctx.Done():
			return "", err
		case <-tick.C:
		}
	}
}

// load puts every ticket as "valid", 128 puts per Txn (etcd's default
// --max-txn-ops), 16 Txns in flight.
func (e *etcdSystem) load(ctx context.Context, ts *ticketSet) error {
	return inBatches(ctx, len(ts.IDs), 128, 16, func(ctx context.Context, w, from, to int) error {
		ops := make([]clientv3.Op, 0, to-from)
		for i := from; i < to; i++ {
			ops = append(ops, clientv3.OpPut(etcdKey(ts.IDs[i]), etcdValid))
		}
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_, err := e.cs[w%len(e.cs)].Txn(tctx).Then(ops...).Commit()
		return err
	})
}

func (e *etcdSystem) target(_ context.Context, _ loadgen.Config, ts *ticketSet) (loadgen.Target, error) {
	keys := make(map[string]string, len(ts.Codes))
	for i, c := range ts.Codes {
		keys[c] = etcdKey(ts.IDs[i])
	}
	return &etcdTarget{cs: e.cs[:max(1, e.clients)], keys: keys}, nil
}

func (e *etcdSystem) stop() {
	for _, c := range e.cs {
		c.Close()
	}
	var wg sync.WaitGroup
	for _, p := range e.procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.Stop() }()
	}
	wg.Wait()
}

// etcdTarget scans with one compare-and-swap Txn per scan; simulated gate
// g uses client g mod len(cs), and client i talks to member i mod 3.
type etcdTarget struct {
	cs   []*clientv3.Client
	keys map[string]string // code -> key
}

func (t *etcdTarget) Conn(g int) (loadgen.Conn, error) {
	return &etcdConn{c: t.cs[g%len(t.cs)], keys: t.keys}, nil
}

type etcdConn struct {
	c    *clientv3.Client
	keys map[string]string
	ops  []clientv3.Op // a batch's nested Txns, reused
	at   []int
}

func (c *etcdConn) Close() error { return nil }

func (c *etcdConn) Do(ctx context.Context, r *loadgen.Request) error {
	ctx, cancel := context.WithDeadline(ctx, r.Deadline)
	defer cancel()
	if len(r.Codes) > 1 {
		return c.doBatch(ctx, r)
	}
	for i, code := range r.Codes {
		key, ok := c.keys[code]
		if !ok {
			return &loadgen.AttemptError{Kind: "not_in_set", Msg: "a code outside the ticket set"}
		}
		resp, err := c.c.Txn(ctx).
			If(clientv3.Compare(clientv3.Value(key), "=", etcdValid)).
			Then(clientv3.OpPut(key, etcdUsed)).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			return etcdError(err)
		}
		if err := casResult(resp.Succeeded, resp.Responses, &r.Results[i]); err != nil {
			return err
		}
	}
	return nil
}

// casResult reads the answer to one compare-and-swap: admitted, or the
// else branch's Get that tells already_used from unknown.
func casResult(succeeded bool, elseOps []*etcdserverpb.ResponseOp, out *loadgen.Result) error {
	switch {
	case succeeded:
		*out = loadgen.Result{Decision: loadgen.Admit}
	case len(elseOps) != 1 || elseOps[0].GetResponseRange() == nil:
		return &loadgen.AttemptError{Kind: "etcd_reply", Msg: fmt.Sprintf("else branch: %d responses", len(elseOps))}
	default:
		kvs := elseOps[0].GetResponseRange().Kvs
		switch {
		case len(kvs) == 0:
			*out = loadgen.Result{Decision: loadgen.Deny, Reason: "unknown"}
		case string(kvs[0].Value) == etcdUsed:
			*out = loadgen.Result{Decision: loadgen.Deny, Reason: "already_used"}
		default:
			*out = loadgen.Result{Decision: loadgen.Deny, Reason: "state_" + string(kvs[0].Value)}
		}
	}
	return nil
}

// etcdMaxTxnOps is etcd's default --max-txn-ops: the most operations in
// one branch of a Txn (and the most compares). A nested Txn gets what its
// parent leaves of it (etcd checks a nested Txn against maxTxnOps minus
// the parent's operations), so a Txn of one nested Txn per scan holds at
// most etcdMaxTxnOps-1 of them: etcdMaxBatchTxn.
const (
	etcdMaxTxnOps   = 128
	etcdMaxBatchTxn = etcdMaxTxnOps - 1
)

// doBatch decides a batch with one Txn per etcdMaxBatchTxn scans (one Txn
// for the default batch of 100): its Then branch holds one nested Txn per
// scan, each the single scan's compare-and-swap, so every ticket is
// decided on its own and the whole batch is one Raft entry. A ticket twice
// in one Txn is sent once (etcd refuses two puts of a key in a Txn): the
// second scan gets already_used when the first admitted, else the same
// deny.
func (c *etcdConn) doBatch(ctx context.Context, r *loadgen.Request) error {
	for from := 0; from < len(r.Codes); from += etcdMaxBatchTxn {
		to := min(from+etcdMaxBatchTxn, len(r.Codes))
		ops := c.ops[:0]
		at := c.at[:0] // scan i is decided by nested Txn at[i-from]; -1 - j: the same key as scan j
		first := map[string]int{}
		for i := from; i < to; i++ {
			key, ok := c.keys[r.Codes[i]]
			if !ok {
				return &loadgen.AttemptError{Kind: "not_in_set", Msg: "a code outside the ticket set"}
			}
			if j, dup := first[key]; dup {
				at = append(at, -1-j)
				continue
			}
			first[key] = i
			at = append(at, len(ops))
			ops = append(ops, clientv3.OpTxn(
				[]clientv3.Cmp{clientv3.Compare(clientv3.Value(key), "=", etcdValid)},
				[]clientv3.Op{clientv3.OpPut(key, etcdUsed)},
				[]clientv3.Op{clientv3.OpGet(key)}))
		}
		c.ops, c.at = ops, at
		resp, err := c.c.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return etcdError(err)
		}
		if len(resp.Responses) != len(ops) {
			return &loadgen.AttemptError{Kind: "etcd_reply", Msg: fmt.Sprintf("%d responses to %d nested Txns", len(resp.Responses), len(ops))}
		}
		for i := from; i < to; i++ {
			k := at[i-from]
			if k < 0 {
				j := -1 - k
				r.Results[i] = r.Results[j]
				if r.Results[j].Decision == loadgen.Admit {
					r.Results[i] = loadgen.Result{Decision: loadgen.Deny, Reason: "already_used"}
				}
				continue
			}
			tr := resp.Responses[k].GetResponseTxn()
			if tr == nil {
				return &loadgen.AttemptError{Kind: "etcd_reply", Msg: "a nested Txn without its response"}
			}
			if err := casResult(tr.Succeeded, tr.Responses, &r.Results[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// etcdError names a failed Txn. None is retried: a Txn whose answer was
// lost may have committed, and a CAS sent again would then deny a paying
// visitor as already_used (etcd has no scan id to deduplicate by).
func etcdError(err error) error {
	kind := "etcd_error"
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		kind = "timeout"
	case errors.Is(err, context.Canceled):
		kind = "canceled"
	default:
		if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown {
			kind = "etcd_" + strings.ToLower(s.Code().String())
		}
	}
	return &loadgen.AttemptError{Kind: kind, Msg: err.Error()}
}
