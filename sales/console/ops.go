package console

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/httpapi"
	"github.com/admitpark/admit/sales/catalog"
	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/validator/gateapi"
)

// The live gate view: occupancy per zone against cap and warning, scans
// per second and deny reasons per gate, the cluster's members, leader and
// health, and the sync backlog and lag. The sales service gathers it
// (GET /v1/ops/summary, also the page's data) from the cluster's API and
// the sales database; the page polls it through htmx.

// opsWindow is the window scans per second are averaged over.
const opsWindow = time.Minute

// Summary is GET /v1/ops/summary.
type Summary struct {
	ParkID    string        `json:"park_id"`
	At        time.Time     `json:"at"`
	Zones     []ZoneLoad    `json:"zones"`
	ZonesErr  string        `json:"zones_error,omitempty"` // the cluster did not answer
	Gates     []GateLoad    `json:"gates"`
	Cluster   ClusterHealth `json:"cluster"`
	Sync      SyncState     `json:"sync"`
	WindowSec int           `json:"window_seconds"` // what scans_per_second averages over
}

// ZoneLoad is a zone's occupancy (from the cluster) against its cap.
type ZoneLoad struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Occupancy int    `json:"occupancy"`
	Cap       int    `json:"cap"`   // 0: none
	Warn      int    `json:"warn"`  // 0: none
	Level     string `json:"level"` // ok, warn, full
}

// GateLoad is a gate's recent scans (entry events that reached sales).
type GateLoad struct {
	ID             string         `json:"id"`
	Zone           string         `json:"zone"`
	Scans          int            `json:"scans"` // in the window
	Admits         int            `json:"admits"`
	Denies         int            `json:"denies"`
	ScansPerSecond float64        `json:"scans_per_second"`
	DenyReasons    map[string]int `json:"deny_reasons"`
	LastScan       *time.Time     `json:"last_scan,omitempty"`
}

// ClusterHealth is the cluster's membership as its nodes see it.
type ClusterHealth struct {
	Leader  string                 `json:"leader"`
	Members []cluster.MemberStatus `json:"members"`
	Healthy bool                   `json:"healthy"` // a leader, every member reachable
	Error   string                 `json:"error,omitempty"`
}

// SyncState is what sales has not yet told the cluster, and how fresh
// the entries it got back are.
type SyncState struct {
	Backlog        int64      `json:"backlog"` // outbox rows not yet sent
	OldestUnsentAt *time.Time `json:"oldest_unsent_at,omitempty"`
	LagSeconds     float64    `json:"lag_seconds"`             // age of the oldest unsent row
	LastEntryAt    *time.Time `json:"last_entry_at,omitempty"` // newest entry event received
}

func (c *Console) opsRoutes() {
	c.mux.Handle("GET /ops", c.route(rolesOps, c.handleOps))
	c.mux.Handle("GET /ops/live", c.route(rolesOps, c.handleOpsLive))
}

// APIRoutes registers the console's JSON route:
//
//	GET /v1/ops/summary?park=   admin, gate_operator
func (c *Console) APIRoutes(mux *http.ServeMux, authn web.Authenticator) {
	mux.Handle("GET /v1/ops/summary", web.Authenticated(authn, web.Require(func(w http.ResponseWriter, r *http.Request) {
		p, _ := web.PrincipalFrom(r.Context())
		park, err := c.parkOf(r.Context(), &sess{P: p}, r.URL.Query().Get("park"))
		if err != nil {
			web.Fail(w, c.cfg.Log, err)
			return
		}
		sum, err := c.summary(r.Context(), park)
		if err != nil {
			web.Fail(w, c.cfg.Log, err)
			return
		}
		web.JSON(w, http.StatusOK, sum)
	}, rolesOps...)))
}

func (c *Console) summary(ctx context.Context, park catalog.Park) (Summary, error) {
	now := c.cfg.Clock.Now()
	sum := Summary{ParkID: park.ID, At: now, WindowSec: int(opsWindow / time.Second)}
	zones, err := catalog.ListZones(ctx, c.cfg.Pool, park.ID)
	if err != nil {
		return sum, err
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.Cluster.Timeout)
	defer cancel()
	var zl gateapi.ZonesResponse
	live := map[string]gateapi.ZoneJSON{}
	if err := c.cluster.call(cctx, http.MethodGet, gateapi.PathZones, nil, &zl); err != nil {
		sum.ZonesErr = err.Error()
	}
	for _, z := range zl.Zones {
		live[z.ID] = z
	}
	for _, z := range zones {
		zl := ZoneLoad{ID: z.ID, Name: z.Name, Cap: z.Cap, Warn: z.Warn}
		if lz, ok := live[z.ID]; ok {
			zl.Occupancy = int(lz.Occupancy)
		}
		zl.Level = "ok"
		switch {
		case zl.Cap > 0 && zl.Occupancy >= zl.Cap:
			zl.Level = "full"
		case zl.Warn > 0 && zl.Occupancy >= zl.Warn:
			zl.Level = "warn"
		}
		sum.Zones = append(sum.Zones, zl)
	}
	if sum.Gates, err = c.gateLoads(ctx, park.ID, now); err != nil {
		return sum, err
	}
	sum.Cluster = c.health(cctx)
	err = c.cfg.Pool.QueryRow(ctx, `SELECT count(*), min(created_at) FROM outbox
		WHERE sent_at IS NULL AND (park_id = $1 OR park_id IS NULL)`, park.ID).Scan(&sum.Sync.Backlog, &sum.Sync.OldestUnsentAt)
	if err != nil {
		return sum, err
	}
	if sum.Sync.OldestUnsentAt != nil {
		sum.Sync.LagSeconds = now.Sub(*sum.Sync.OldestUnsentAt).Seconds()
	}
	if err := c.cfg.Pool.QueryRow(ctx, `SELECT max(at) FROM entry_events`).Scan(&sum.Sync.LastEntryAt); err != nil {
		return sum, err
	}
	return sum, nil
}

func (c *Console) gateLoads(ctx context.Context, parkID string, now time.Time) ([]GateLoad, error) {
	gates, err := catalog.ListGates(ctx, c.cfg.Pool, parkID)
	if err != nil {
		return nil, err
	}
	byID := map[string]*GateLoad{}
	var out []*GateLoad
	for _, g := range gates {
		gl := &GateLoad{ID: g.ID, Zone: g.Zone, DenyReasons: map[string]int{}}
		byID[g.ID] = gl
		out = append(out, gl)
	}
	rows, err := c.cfg.Pool.Query(ctx, `SELECT gate, zone, result, reason, count(*), max(at) FROM entry_events
		WHERE at > $1 GROUP BY gate, zone, result, reason`, now.Add(-opsWindow))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var gate, zone, result, reason string
		var n int
		var last time.Time
		if err := rows.Scan(&gate, &zone, &result, &reason, &n, &last); err != nil {
			return nil, err
		}
		gl, ok := byID[gate]
		if !ok {
			gl = &GateLoad{ID: gate, Zone: zone, DenyReasons: map[string]int{}}
			byID[gate] = gl
			out = append(out, gl)
		}
		gl.Scans += n
		if result == "admit" {
			gl.Admits += n
		} else {
			gl.Denies += n
			gl.DenyReasons[reason] += n
		}
		if gl.LastScan == nil || last.After(*gl.LastScan) {
			l := last
			gl.LastScan = &l
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	res := make([]GateLoad, len(out))
	for i, g := range out {
		g.ScansPerSecond = float64(g.Scans) / opsWindow.Seconds()
		res[i] = *g
	}
	sort.Slice(res, func(i, j int) bool { return res[i].ID < res[j].ID })
	return res, nil
}

func (c *Console) health(ctx context.Context) ClusterHealth {
	var st cluster.Status
	if err := c.cluster.call(ctx, http.MethodGet, httpapi.PathStatus, nil, &st); err != nil {
		return ClusterHealth{Error: err.Error()}
	}
	h := ClusterHealth{Leader: st.Leader, Members: st.Members, Healthy: st.Leader != ""}
	for _, m := range st.Members {
		if m.Error != "" || m.State == "unreachable" || m.State == "shutdown" {
			h.Healthy = false
		}
	}
	return h
}

// opsData is the gate view.
type opsData struct {
	Park catalog.Park
	Sum  Summary
	Poll string // "2s"
}

func (c *Console) opsData(w http.ResponseWriter, r *http.Request, s *sess) (opsData, bool) {
	park, err := c.parkOf(r.Context(), s, r.URL.Query().Get("park"))
	if err != nil {
		c.render(w, r, s, errStatus(err), "error", "title.error", nil, "", c.errText(s.L, err))
		return opsData{}, false
	}
	sum, err := c.summary(r.Context(), park)
	if err != nil {
		c.render(w, r, s, errStatus(err), "error", "title.error", nil, "", c.errText(s.L, err))
		return opsData{}, false
	}
	return opsData{Park: park, Sum: sum, Poll: fmt.Sprintf("%ds", int(c.cfg.PollEvery/time.Second))}, true
}

func (c *Console) handleOps(w http.ResponseWriter, r *http.Request, s *sess) {
	if d, ok := c.opsData(w, r, s); ok {
		c.render(w, r, s, http.StatusOK, "ops", "title.ops", d, "", "")
	}
}

// handleOpsLive is the polled part of the gate view.
func (c *Console) handleOpsLive(w http.ResponseWriter, r *http.Request, s *sess) {
	if d, ok := c.opsData(w, r, s); ok {
		c.fragment(w, s, http.StatusOK, "ops", "live", d)
	}
}
