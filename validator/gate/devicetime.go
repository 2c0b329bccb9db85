package gate

import (
	"sync"
	"time"

	"github.com/admitpark/admit/validator/fsm"
)

// observeDeviceTime checks a decided scan's device time against the log
// time of its decision (both in the result when the scan sent a device
// time) and counts and logs it when off by more than DeviceSkewWarn. It
// only reports: decisions follow log order whatever the device says.
func (s *Server) observeDeviceTime(r *fsm.ScanResult, gate string) {
	if r.DeviceTime == 0 || r.Rescan {
		return
	}
	skew := time.Duration(r.DeviceTime-r.At) * time.Millisecond
	kind := "live"
	if r.Offline {
		kind = "offline"
		if skew <= s.cfg.DeviceSkewWarn { // behind: the backlog's age
			return
		}
	} else {
		s.m.deviceSkew.Observe(skew.Abs().Seconds())
		if skew.Abs() <= s.cfg.DeviceSkewWarn {
			return
		}
	}
	s.m.skewed.WithLabelValues(kind).Inc()
	if s.skewLog.due(gate, time.Now()) {
		s.log.Warn("gate: a scan's device clock is off; recorded as sent, decided in log order",
			"gate", gate, "kind", kind, "device_time", time.UnixMilli(r.DeviceTime).UTC(),
			"log_time", time.UnixMilli(r.At).UTC(), "skew", skew.Round(time.Millisecond), "bound", s.cfg.DeviceSkewWarn)
	}
}

// skewLog rate-limits skew warnings to one a minute per gate.
type skewLog struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (l *skewLog) due(gate string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = map[string]time.Time{}
	}
	if t, ok := l.last[gate]; ok && now.Sub(t) < time.Minute {
		return false
	}
	if len(l.last) > 10000 { // gates come and go: keep it bounded
		clear(l.last)
	}
	l.last[gate] = now
	return true
}
