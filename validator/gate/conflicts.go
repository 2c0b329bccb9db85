package gate

import (
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/admitpark/admit/cluster/httpapi"
	"github.com/admitpark/admit/validator/fsm"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// handleConflicts answers GET /v1/conflicts?after=CURSOR&limit=N: the
// offline admits that met another admit of the same ticket, oldest first,
// from this node's state (every node holds them; a follower may trail the
// leader by a few entries).
func (s *Server) handleConflicts(ctx *fasthttp.RequestCtx) {
	after, limit, ok := pageArgs(ctx, 100, 1000)
	if !ok {
		return
	}
	index := s.node.AppliedIndex()
	cs, err := fsm.Conflicts(s.node, after, limit)
	if err != nil {
		httpapi.Error(ctx, http.StatusInternalServerError, "%v", err)
		return
	}
	total, err := fsm.ConflictCount(s.node)
	if err != nil {
		httpapi.Error(ctx, http.StatusInternalServerError, "%v", err)
		return
	}
	out := gateapi.ConflictsResponse{Conflicts: make([]gateapi.ConflictJSON, len(cs)), Next: formatCursor(after), Total: total, AppliedIndex: index}
	for i, c := range cs {
		out.Conflicts[i] = gateapi.ConflictJSON{
			Cursor: formatCursor(c.Cursor), TicketID: ticket.FormatID(c.TicketID), Zone: c.Zone, Reason: c.Reason.String(),
			Scan: conflictScanJSON(c.Scan), Other: conflictScanJSON(c.Other),
		}
		out.Next = out.Conflicts[i].Cursor
	}
	httpapi.JSON(ctx, http.StatusOK, out)
}

func conflictScanJSON(c fsm.ConflictScan) gateapi.ConflictScan {
	j := gateapi.ConflictScan{ScanID: c.ScanID, Gate: c.Gate, At: time.UnixMilli(c.At).UTC(), Offline: c.Offline,
		DeviceTime: fromUnixMs(c.DeviceTime, time.UTC)}
	if c.Cursor != (fsm.Cursor{}) {
		j.Cursor = formatCursor(c.Cursor)
	}
	return j
}
