package payment

import (
	"fmt"
	"regexp"
	"sort"
)

var providerName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// Registry holds the configured providers by name. It is read-only after
// NewRegistry, so it is safe for concurrent use.
type Registry struct {
	byName map[string]Provider
}

// NewRegistry checks that every provider has a usable, distinct name.
func NewRegistry(ps ...Provider) (*Registry, error) {
	r := &Registry{byName: make(map[string]Provider, len(ps))}
	for _, p := range ps {
		if p == nil {
			return nil, fmt.Errorf("payment registry: nil provider")
		}
		n := p.Name()
		if !providerName.MatchString(n) {
			return nil, fmt.Errorf("payment registry: provider name %q must match %s", n, providerName)
		}
		if _, dup := r.byName[n]; dup {
			return nil, fmt.Errorf("payment registry: provider %q configured twice", n)
		}
		r.byName[n] = p
	}
	return r, nil
}

// Get returns the provider called name.
func (r *Registry) Get(name string) (Provider, bool) {
	if r == nil {
		return nil, false
	}
	p, ok := r.byName[name]
	return p, ok
}

// Names lists the configured providers, sorted.
func (r *Registry) Names() []string {
	if r == nil {
		return nil
	}
	out := make([]string, 0, len(r.byName))
	for n := range r.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
