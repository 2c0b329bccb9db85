package gate

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/validator/fsm"
)

type metrics struct {
	reg *cluster.Registration

	scans        *prometheus.CounterVec
	rescans      prometheus.Counter
	scanSeconds  prometheus.Histogram
	batchScans   prometheus.Histogram
	batchSeconds prometheus.Histogram
	forwarded    prometheus.Counter
	forwardedIn  prometheus.Counter
	failures     *prometheus.CounterVec
	authFailures *prometheus.CounterVec
	deviceSkew   prometheus.Histogram
	skewed       *prometheus.CounterVec
}

// zoneCollector reports each zone's occupancy and cap from this node's
// state at scrape time (a follower may trail the leader by a few entries).
type zoneCollector struct{ node fsm.Viewer }

var (
	descZoneOccupancy = prometheus.NewDesc("admit_zone_occupancy", "Visitors inside a zone, counted from entry and exit scans.", []string{"zone"}, nil)
	descZoneCapacity  = prometheus.NewDesc("admit_zone_capacity", "A zone's cap (0: none).", []string{"zone"}, nil)
	descZoneWarn      = prometheus.NewDesc("admit_zone_warn_level", "A zone's warning level (0: none).", []string{"zone"}, nil)
)

var descConflicts = prometheus.NewDesc("admit_offline_conflicts_total",
	"Offline admits that met another admit of the same ticket, recorded in the replicated state (the same on every node; GET /v1/conflicts lists them).", nil, nil)

func (c zoneCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descZoneOccupancy
	ch <- descZoneCapacity
	ch <- descZoneWarn
	ch <- descConflicts
}

func (c zoneCollector) Collect(ch chan<- prometheus.Metric) {
	if n, err := fsm.ConflictCount(c.node); err == nil {
		ch <- prometheus.MustNewConstMetric(descConflicts, prometheus.CounterValue, float64(n))
	}
	zones, err := fsm.Zones(c.node)
	if err != nil {
		return
	}
	for _, z := range zones {
		ch <- prometheus.MustNewConstMetric(descZoneOccupancy, prometheus.GaugeValue, float64(z.Occupancy), z.ID)
		ch <- prometheus.MustNewConstMetric(descZoneCapacity, prometheus.GaugeValue, float64(z.Cap), z.ID)
		ch <- prometheus.MustNewConstMetric(descZoneWarn, prometheus.GaugeValue, float64(z.Warn), z.ID)
	}
}

func newMetrics(reg prometheus.Registerer, node fsm.Viewer) (*metrics, error) {
	m := &metrics{
		scans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "admit_scans_total",
			Help: "Scans decided at this node, by result and reason (reason is empty for admits).",
		}, []string{"result", "reason"}),
		rescans: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "admit_scan_rescans_total",
			Help: "Scans whose scan_id was seen before and got the original decision.",
		}),
		scanSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "admit_scan_seconds",
			Help:    "Time from request to decision at the node, queueing and replication included.",
			Buckets: prometheus.ExponentialBuckets(100e-6, 1.6, 20),
		}),
		batchScans: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "admit_scan_batch_scans",
			Help:    "Scans in one ScanBatch log entry (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "admit_scan_batch_seconds",
			Help:    "Time to replicate and apply one ScanBatch, from this node.",
			Buckets: prometheus.ExponentialBuckets(100e-6, 1.6, 20),
		}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "admit_scans_forwarded_total",
			Help: "Scans this node sent to the leader because it was a follower.",
		}),
		forwardedIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "admit_scans_from_followers_total",
			Help: "Scans followers sent to this node, as leader, to join its log entries.",
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "admit_scan_failures_total",
			Help: "Scans that got no decision, by kind (no_quorum, outcome_unknown, unknown_gate, scan_id_conflict, error).",
		}, []string{"kind"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "admit_gate_auth_failures_total",
			Help: "Scan requests refused for their token, by reason (missing_token, unknown_gate, wrong_token); " +
				"the gate gets the same answer for unknown_gate and wrong_token.",
		}, []string{"reason"}),
	}
	m.deviceSkew = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "admit_scan_device_skew_seconds",
		Help:    "How far a live scan's device_time was from the log time of its decision (absolute), seconds.",
		Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
	})
	m.skewed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "admit_scan_device_skewed_total",
		Help: "Scans whose device_time was off by more than the bound (gate.Config.DeviceSkewWarn), by kind (live, offline).",
	}, []string{"kind"})
	var err error
	if m.reg, err = cluster.RegisterAll(reg, m.scans, m.rescans, m.scanSeconds, m.batchScans, m.batchSeconds, m.forwarded, m.forwardedIn, m.failures, m.authFailures,
		m.deviceSkew, m.skewed, zoneCollector{node}); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *metrics) unregister() {
	if m != nil {
		m.reg.Unregister()
	}
}

// observeBatch records one batch this node sent: a log entry of its own
// (entry), or scans handed to the leader's batcher.
func (m *metrics) observeBatch(n int, follower, entry bool, d time.Duration) {
	if entry {
		m.batchScans.Observe(float64(n))
	}
	m.batchSeconds.Observe(d.Seconds())
	if follower {
		m.forwarded.Add(float64(n))
	}
}

func (m *metrics) observeResult(r fsm.ScanResult) {
	if r.Rescan {
		m.rescans.Inc()
	}
	m.scans.WithLabelValues(r.Result.String(), r.Reason.String()).Inc()
}
