package gate

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/httpapi"
	"github.com/admitpark/admit/validator/fsm"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

func (s *Server) configure(ctx *fasthttp.RequestCtx, c fsm.Configure) bool {
	cmd, err := fsm.EncodeConfigure(c)
	if err != nil {
		httpapi.Error(ctx, http.StatusBadRequest, "%v", err)
		return false
	}
	for _, g := range c.Gates { // this node's cached tokens go at once
		s.tokens.forget(g.ID)
	}
	for _, id := range c.DeleteGates {
		s.tokens.forget(id)
	}
	res, err := s.apply(cmd)
	if err == nil {
		err = fsm.DecodeConfigureResult(res)
	}
	if err != nil {
		httpapi.ClusterError(ctx, err)
		return false
	}
	return true
}

func (s *Server) handleGateAdd(ctx *fasthttp.RequestCtx) {
	req, dir, err := decodeGateAdd(ctx.PostBody())
	if err != nil {
		httpapi.Error(ctx, http.StatusBadRequest, "%v", err)
		return
	}
	raw := make([]byte, 24)
	rand.Read(raw)
	token := "gt_" + hex.EncodeToString(raw)
	c := fsm.Configure{Gates: []fsm.Gate{{ID: req.ID, Zone: req.Zone, TokenHash: fsm.HashToken(token), Direction: dir}}}
	// A gate's zone must exist; create it (no cap) when it does not.
	zones, err := fsm.Zones(s.node)
	if err != nil {
		httpapi.Error(ctx, http.StatusInternalServerError, "%v", err)
		return
	}
	found := false
	for _, z := range zones {
		found = found || z.ID == req.Zone
	}
	if !found {
		c.Zones = []ticket.Zone{{ID: req.Zone}}
	}
	if !s.configure(ctx, c) {
		return
	}
	httpapi.JSON(ctx, http.StatusCreated, gateapi.GateJSON{ID: req.ID, Zone: req.Zone, Direction: dir.String(), Token: token})
}

func (s *Server) handleGateList(ctx *fasthttp.RequestCtx) {
	gates, err := fsm.Gates(s.node)
	if err != nil {
		httpapi.Error(ctx, http.StatusInternalServerError, "%v", err)
		return
	}
	out := make([]gateapi.GateJSON, len(gates))
	for i, g := range gates {
		out[i] = gateapi.GateJSON{ID: g.ID, Zone: g.Zone, Direction: g.Direction.String()}
	}
	httpapi.JSON(ctx, http.StatusOK, gateapi.GatesResponse{Gates: out})
}

func (s *Server) handleGateDelete(ctx *fasthttp.RequestCtx) {
	id := strings.TrimPrefix(string(ctx.Path()), gateapi.PathGates+"/")
	if err := checkName("id", id); err != nil {
		httpapi.Error(ctx, http.StatusBadRequest, "gate %v", err)
		return
	}
	if _, found, err := fsm.LookupGate(s.node, id); err != nil || !found {
		httpapi.Error(ctx, http.StatusNotFound, "no gate %q", id)
		return
	}
	if s.configure(ctx, fsm.Configure{DeleteGates: []string{id}}) {
		httpapi.JSON(ctx, http.StatusOK, map[string]string{"removed": id})
	}
}

func (s *Server) handleZoneSet(ctx *fasthttp.RequestCtx) {
	req, err := decodeZoneSet(ctx.PostBody())
	if err != nil {
		httpapi.Error(ctx, http.StatusBadRequest, "%v", err)
		return
	}
	z := ticket.Zone{ID: req.ID, Cap: req.Cap, Warn: req.Warn}
	if req.Bit != nil {
		z.MaskBit = uint8(*req.Bit + 1)
	}
	if s.configure(ctx, fsm.Configure{Zones: []ticket.Zone{z}}) {
		httpapi.JSON(ctx, http.StatusOK, req)
	}
}

func (s *Server) handleZoneList(ctx *fasthttp.RequestCtx) {
	zones, err := fsm.Zones(s.node)
	if err != nil {
		httpapi.Error(ctx, http.StatusInternalServerError, "%v", err)
		return
	}
	out := make([]gateapi.ZoneJSON, len(zones))
	for i, z := range zones {
		out[i] = gateapi.ZoneJSON{ID: z.ID, Cap: z.Cap, Warn: z.Warn, Occupancy: z.Occupancy, Bit: zoneBit(z)}
	}
	httpapi.JSON(ctx, http.StatusOK, gateapi.ZonesResponse{Zones: out})
}

func (s *Server) handleZoneDelete(ctx *fasthttp.RequestCtx) {
	id := strings.TrimPrefix(string(ctx.Path()), gateapi.PathZones+"/")
	if err := checkName("id", id); err != nil {
		httpapi.Error(ctx, http.StatusBadRequest, "zone %v", err)
		return
	}
	if s.configure(ctx, fsm.Configure{DeleteZones: []string{id}}) {
		httpapi.JSON(ctx, http.StatusOK, map[string]string{"removed": id})
	}
}

// parkView reads the park's time zone, id and keys from this node's state;
// it answers 500 itself and returns false when it cannot.
func (s *Server) parkView(ctx *fasthttp.RequestCtx) (gateapi.ParkJSON, bool) {
	loc, err := fsm.Location(s.node)
	if err == nil {
		var id string
		var keys []fsm.Key
		if id, keys, err = fsm.Park(s.node); err == nil {
			return parkJSON(loc.String(), id, keys), true
		}
	}
	httpapi.Error(ctx, http.StatusInternalServerError, "%v", err)
	return gateapi.ParkJSON{}, false
}

func (s *Server) handleParkGet(ctx *fasthttp.RequestCtx) {
	p, ok := s.parkView(ctx)
	if !ok {
		return
	}
	idKey, err := fsm.IDCardKey(s.node)
	if err != nil {
		httpapi.Error(ctx, http.StatusInternalServerError, "%v", err)
		return
	}
	p.IDCardKeySet = idKey != nil
	httpapi.JSON(ctx, http.StatusOK, p)
}

func parkJSON(tz, id string, keys []fsm.Key) gateapi.ParkJSON {
	p := gateapi.ParkJSON{TimeZone: tz, ID: id}
	for _, k := range keys {
		p.Keys = append(p.Keys, gateapi.KeyJSON{ID: k.ID, Public: base64.StdEncoding.EncodeToString(k.Public[:])})
	}
	return p
}

// handleParkSet applies PUT /v1/park. The park ID is set once: another ID
// is a 409 (checked here against this node's state, and by the state
// machine, which rejects the Configure).
func (s *Server) handleParkSet(ctx *fasthttp.RequestCtx) {
	req, c, err := decodePark(ctx.PostBody())
	if err != nil {
		httpapi.Error(ctx, http.StatusBadRequest, "%v", err)
		return
	}
	if c.Park != "" && s.parkConflict(ctx, c.Park, false) {
		return
	}
	cmd, err := fsm.EncodeConfigure(c)
	if err != nil {
		httpapi.Error(ctx, http.StatusBadRequest, "%v", err)
		return
	}
	s.loc.Store(nil) // this node shows the new time zone at once
	res, err := s.apply(cmd)
	if err == nil {
		err = fsm.DecodeConfigureResult(res)
	}
	if err != nil {
		// A rejection may be another park ID set meanwhile: say so.
		if c.Park != "" && errors.Is(err, cluster.ErrRejected) && s.parkConflict(ctx, c.Park, true) {
			return
		}
		httpapi.ClusterError(ctx, err)
		return
	}
	if req.IDCardKey != "" { // write only: never echoed
		req.IDCardKey, req.IDCardKeySet = "", true
		s.idKey.Store(nil)
	}
	httpapi.JSON(ctx, http.StatusOK, req)
}

// parkConflict answers 409 and returns true when the cluster serves a park
// other than want. catchUp first applies what the leader has committed.
func (s *Server) parkConflict(ctx *fasthttp.RequestCtx, want string, catchUp bool) bool {
	if catchUp {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		s.node.CatchUp(cctx)
		cancel()
	}
	id, _, err := fsm.Park(s.node)
	if err != nil || id == "" || id == want {
		return false
	}
	httpapi.Error(ctx, http.StatusConflict, "this cluster serves park %q; its park id cannot change to %q", id, want)
	return true
}

func (s *Server) handleExitAll(ctx *fasthttp.RequestCtx) {
	res, err := s.apply(fsm.EncodeExitAll())
	if err != nil {
		httpapi.ClusterError(ctx, err)
		return
	}
	r, err := fsm.DecodeExitAllResult(res)
	if err != nil {
		httpapi.Error(ctx, http.StatusInternalServerError, "%v", err)
		return
	}
	httpapi.JSON(ctx, http.StatusOK, gateapi.ExitAllResponse{Epoch: r.Epoch, ZonesReset: r.Zones})
}

func formatCursor(c fsm.Cursor) string {
	return strconv.FormatUint(c.Index, 10) + "." + strconv.FormatUint(uint64(c.Pos), 10)
}

func parseCursor(s string) (fsm.Cursor, error) {
	if s == "" {
		return fsm.Cursor{}, nil
	}
	i, p, _ := strings.Cut(s, ".")
	idx, err1 := strconv.ParseUint(i, 10, 64)
	pos, err2 := strconv.ParseUint(p, 10, 32)
	if err1 != nil || (p != "" && err2 != nil) {
		return fsm.Cursor{}, errors.New(`"after" must be a cursor like 1234.5`)
	}
	return fsm.Cursor{Index: idx, Pos: uint32(pos)}, nil
}

// pageArgs reads a feed's ?after=CURSOR&limit=N (1 to max, def when
// absent); it answers 400 itself and returns false when they are wrong.
func pageArgs(ctx *fasthttp.RequestCtx, def, max int) (fsm.Cursor, int, bool) {
	args := ctx.QueryArgs()
	after, err := parseCursor(string(args.Peek("after")))
	if err != nil {
		httpapi.Error(ctx, http.StatusBadRequest, "%v", err)
		return fsm.Cursor{}, 0, false
	}
	limit := def
	if l := args.Peek("limit"); len(l) > 0 {
		if limit, err = strconv.Atoi(string(l)); err != nil || limit < 1 || limit > max {
			httpapi.Error(ctx, http.StatusBadRequest, `"limit" must be 1-%d`, max)
			return fsm.Cursor{}, 0, false
		}
	}
	return after, limit, true
}

func (s *Server) handleEvents(ctx *fasthttp.RequestCtx) {
	after, limit, ok := pageArgs(ctx, 1000, 10000)
	if !ok {
		return
	}
	events, next, err := fsm.EventsAfter(s.node, after, limit)
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, fsm.ErrEventsPurged) {
			status = http.StatusGone
		}
		httpapi.Error(ctx, status, "%v", err)
		return
	}
	out := make([]gateapi.EventJSON, len(events))
	for i, e := range events {
		out[i] = gateapi.EventJSON{
			Cursor: formatCursor(e.Cursor), Seq: e.Seq, ScanID: e.ScanID, TicketID: ticket.FormatID(e.TicketID),
			Gate: e.Gate, Zone: e.Zone, Direction: e.Direction.String(), Persons: e.Persons,
			Result: e.Result.String(), Reason: e.Reason.String(), At: time.UnixMilli(e.At).UTC(),
			DeviceTime: fromUnixMs(e.DeviceTime, time.UTC), Credential: e.Credential.String(),
			Offline: e.Offline, Conflict: e.Conflict,
		}
	}
	httpapi.JSON(ctx, http.StatusOK, gateapi.EventsResponse{Events: out, Next: formatCursor(next), AppliedIndex: s.node.AppliedIndex()})
}

// zoneBit is a zone's mask bit for the API; nil when unknown.
func zoneBit(z ticket.Zone) *int {
	if b, ok := z.Bit(); ok {
		return &b
	}
	return nil
}
