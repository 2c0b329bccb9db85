package agent

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	reg           prometheus.Registerer
	cs            []prometheus.Collector
	decisions     *prometheus.CounterVec
	decideSeconds prometheus.Histogram
	uploaded      prometheus.Counter
	uploadErrors  prometheus.Counter
	conflicts     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, a *Agent) (*metrics, error) {
	m := &metrics{
		reg: reg,
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "admit_agent_decisions_total",
			Help: "Scans answered by the gate agent, by mode (online: the cluster's answer; offline: decided here) and result."},
			[]string{"mode", "result"}),
		decideSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "admit_agent_offline_decision_seconds",
			Help:    "Time to decide a scan offline and fsync it, until the answer.",
			Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .025, .05, .1}}),
		uploaded: prometheus.NewCounter(prometheus.CounterOpts{Name: "admit_agent_uploaded_total",
			Help: "Offline scans the cluster has accepted from the backlog."}),
		uploadErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "admit_agent_upload_errors_total",
			Help: "Backlog uploads or cluster probes that failed (the cluster is unreachable, or refused)."}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{Name: "admit_agent_conflicts_total",
			Help: "Uploaded offline admits the cluster reported as conflicts (the ticket was admitted elsewhere too)."}),
	}
	m.cs = []prometheus.Collector{m.decisions, m.decideSeconds, m.uploaded, m.uploadErrors, m.conflicts,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "admit_agent_online",
			Help: "1 when scans go to the cluster, 0 while the agent decides offline."}, func() float64 {
			if a.online.Load() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "admit_agent_backlog",
			Help: "Offline scans waiting for upload."}, func() float64 {
			n, _ := a.store.BacklogLen()
			return float64(n)
		}),
	}
	if reg == nil {
		return m, nil
	}
	for i, c := range m.cs {
		if err := reg.Register(c); err != nil {
			for _, d := range m.cs[:i] {
				reg.Unregister(d)
			}
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.cs {
		m.reg.Unregister(c)
	}
}
