package cluster

import (
	"errors"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics holds the node's Prometheus metrics. Raft gauges are read at
// scrape time, so they cost nothing between scrapes.
type metrics struct {
	reg *Registration

	applySeconds   prometheus.Histogram
	batchEntries   prometheus.Histogram
	commandSeconds *prometheus.HistogramVec
	commands       *prometheus.CounterVec
	forwarded      prometheus.Counter
	flushSeconds   prometheus.Histogram
	flushKeys      prometheus.Counter
	flushWait      prometheus.Counter
}

func newMetrics(n *Node, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		applySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "admit_fsm_apply_seconds",
			Help:    "Time to apply one batch of committed log entries to the state, including the Badger commit.",
			Buckets: prometheus.ExponentialBuckets(20e-6, 2, 14),
		}),
		batchEntries: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "admit_fsm_apply_batch_entries",
			Help:    "Commands applied in one state transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		}),
		commandSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "admit_cluster_command_seconds",
			Help:    "Time from Apply to result at the submitting node, by path (local on the leader, forwarded from a follower).",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16),
		}, []string{"path"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "admit_cluster_commands_total",
			Help: "Commands submitted at this node, by outcome.",
		}, []string{"outcome"}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "admit_cluster_forwarded_total",
			Help: "Commands this node forwarded to the leader.",
		}),
		flushSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "admit_fsm_flush_seconds",
			Help:    "Time to write one segment of state changes to Badger, behind apply.",
			Buckets: prometheus.ExponentialBuckets(100e-6, 2, 14),
		}),
		flushKeys: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "admit_fsm_flushed_keys_total",
			Help: "Keys written to Badger by the flusher.",
		}),
		flushWait: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "admit_fsm_flush_wait_seconds_total",
			Help: "Time apply waited for the flusher because Config.FlushQueue segments were queued: the disk (Badger) slower than apply.",
		}),
	}
	var err error
	if m.reg, err = RegisterAll(reg, m.applySeconds, m.batchEntries, m.commandSeconds, m.commands, m.forwarded, m.flushSeconds, m.flushKeys, m.flushWait, raftCollector{n}); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *metrics) unregister() {
	if m != nil {
		m.reg.Unregister()
	}
}

func (m *metrics) observeApply(entries int, d time.Duration) {
	m.applySeconds.Observe(d.Seconds())
	m.batchEntries.Observe(float64(entries))
}

func (m *metrics) observeFlush(keys, _ int, d time.Duration) {
	m.flushSeconds.Observe(d.Seconds())
	m.flushKeys.Add(float64(keys))
}

func (m *metrics) observeFlushWait(d time.Duration) { m.flushWait.Add(d.Seconds()) }

func (m *metrics) observeCommand(path string, err error, d time.Duration) {
	outcome := "ok"
	switch {
	case err == nil:
		m.commandSeconds.WithLabelValues(path).Observe(d.Seconds())
	case errors.Is(err, ErrRejected):
		outcome = "rejected"
	case errors.Is(err, ErrNoLeader), errors.Is(err, ErrNotLeader):
		outcome = "no_leader"
	case errors.Is(err, ErrOutcomeUnknown):
		outcome = "unknown"
	default:
		outcome = "error"
	}
	m.commands.WithLabelValues(outcome).Inc()
}

var (
	descState = prometheus.NewDesc("admit_raft_state",
		"1 for the Raft state this node is in.", []string{"state"}, nil)
	descTerm = prometheus.NewDesc("admit_raft_term", "Current Raft term.", nil, nil)
	descLast = prometheus.NewDesc("admit_raft_last_log_index",
		"Index of the last entry in this node's log.", nil, nil)
	descCommit = prometheus.NewDesc("admit_raft_commit_index",
		"Highest log index known to be committed.", nil, nil)
	descApplied = prometheus.NewDesc("admit_raft_applied_index",
		"Highest log index applied to the state.", nil, nil)
	descContact = prometheus.NewDesc("admit_raft_last_contact_seconds",
		"Seconds since a follower last heard from the leader (0 on the leader, -1 never).", nil, nil)
	descHasLeader = prometheus.NewDesc("admit_raft_has_leader",
		"1 when this node knows a leader.", nil, nil)
	descVoters = prometheus.NewDesc("admit_raft_voters",
		"Voting members in the configuration this node knows.", nil, nil)
	descPersisted = prometheus.NewDesc("admit_fsm_persisted_index",
		"Applied index of the state on disk (Badger); the state in memory is at admit_raft_applied_index.", nil, nil)
	descStateKeys = prometheus.NewDesc("admit_fsm_state_keys",
		"Keys in the in-memory state.", nil, nil)
)

// raftCollector reads Raft's state at scrape time.
type raftCollector struct{ n *Node }

func (c raftCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descState, descTerm, descLast, descCommit, descApplied, descContact, descHasLeader, descVoters, descPersisted, descStateKeys} {
		ch <- d
	}
}

func (c raftCollector) Collect(ch chan<- prometheus.Metric) {
	select {
	case <-c.n.started:
	default:
		return // scraped while the node is still opening
	}
	r := c.n.raft
	state := r.State()
	for _, s := range []raft.RaftState{raft.Follower, raft.Candidate, raft.Leader, raft.Shutdown} {
		v := 0.0
		if s == state {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, v, stateName(s))
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	gauge(descTerm, float64(r.CurrentTerm()))
	gauge(descLast, float64(r.LastIndex()))
	gauge(descCommit, float64(r.CommitIndex()))
	gauge(descApplied, float64(r.AppliedIndex()))
	contact := -1.0
	if state == raft.Leader {
		contact = 0
	} else if lc := r.LastContact(); !lc.IsZero() {
		contact = time.Since(lc).Seconds()
	}
	gauge(descContact, contact)
	hasLeader := 0.0
	if addr, _ := r.LeaderWithID(); addr != "" {
		hasLeader = 1
	}
	gauge(descHasLeader, hasLeader)
	voters := 0.0
	if f := r.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			if s.Suffrage == raft.Voter {
				voters++
			}
		}
	}
	gauge(descVoters, voters)
	gauge(descPersisted, float64(c.n.PersistedIndex()))
	st := c.n.fsm.state
	st.mu.RLock()
	keys := st.keys
	st.mu.RUnlock()
	gauge(descStateKeys, float64(keys))
}
