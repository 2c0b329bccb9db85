package cluster

import "github.com/prometheus/client_golang/prometheus"

// Registration is a set of collectors registered together: a component
// that cannot register all of its metrics registers none, and takes them
// all back when it stops (so a node can be reopened in the same process).
type Registration struct {
	reg prometheus.Registerer
	cs  []prometheus.Collector
}

// RegisterAll registers cs with reg, all or none; a nil reg registers
// nothing.
func RegisterAll(reg prometheus.Registerer, cs ...prometheus.Collector) (*Registration, error) {
	if reg == nil {
		return &Registration{}, nil
	}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, err
		}
	}
	return &Registration{reg: reg, cs: cs}, nil
}

// Unregister takes the collectors back; it may be called more than once.
func (r *Registration) Unregister() {
	if r == nil || r.reg == nil {
		return
	}
	for _, c := range r.cs {
		r.reg.Unregister(c)
	}
	r.reg = nil
}
