package sync

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	backlog    prometheus.Gauge
	active     prometheus.Gauge
	sent       *prometheus.CounterVec
	commitAck  prometheus.Histogram
	wakeups    *prometheus.CounterVec
	errors     *prometheus.CounterVec
	feedEvents prometheus.Counter
	feedCursor prometheus.Gauge
	feedLag    prometheus.Gauge
	// feedClusterIndex, feedPending, feedQuarantined: see doc.go (Feed).
	feedClusterIndex prometheus.Gauge
	feedPending      prometheus.Gauge
	feedQuarantined  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		backlog: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "admit_sync_outbox_backlog", Help: "Outbox rows not yet acknowledged by the cluster (after the relay's last pass).",
		})),
		active: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "admit_sync_relay_active", Help: "1 while this relay holds the advisory lock and sends; 0 on standby.",
		})),
		sent: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "admit_sync_outbox_sent_total", Help: "Outbox rows acknowledged by the cluster and marked sent, by kind.",
		}, []string{"kind"})),
		commitAck: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "admit_sync_commit_to_ack_seconds",
			Help:    "From an outbox row's created_at to the cluster's acknowledgement.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		})),
		wakeups: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "admit_sync_relay_wakeups_total",
			Help: "Idle waits of the outbox relay that ended, by what ended them: notify (the outbox_notify trigger) or poll (Poll ran out).",
		}, []string{"by"})),
		errors: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "admit_sync_errors_total", Help: "Failed sync steps, by kind (outbox kind, db, lock, feed).",
		}, []string{"kind"})),
		feedEvents: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "admit_sync_feed_events_total", Help: "Entry events copied from the cluster into entry_events.",
		})),
		feedCursor: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "admit_sync_feed_cursor_index", Help: "Cluster log index of the entry feed's stored cursor (after its last pull).",
		})),
		feedLag: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "admit_sync_feed_lag_entries",
			Help: "Log entries the answering node had applied beyond the feed's cursor when the last page was full " +
				"(an upper bound: not every entry holds events); 0 when the last page was not full (caught up); " +
				"when a page could not be stored, the answering node's applied index minus the cursor's (at least 1).",
		})),
		feedClusterIndex: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "admit_sync_feed_cluster_applied_index",
			Help: "Applied log index of the cluster node that answered the entry feed's last GET /v1/events.",
		})),
		feedPending: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "admit_sync_feed_pending_events",
			Help: "Entry events the cluster sent in the feed's last page that could not be stored " +
				"(0 after a page was stored): above 0 while the cursor stands still, the feed is stuck.",
		})),
		feedQuarantined: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "admit_sync_feed_quarantined_total",
			Help: "Entry events the feed could not store in entry_events and kept in quarantined_events instead.",
		})),
	}
	return m
}

// register registers c, or returns the collector already registered under
// its name (a Relay and a Feed share admit_sync_errors_total).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}
