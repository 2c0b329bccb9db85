package agent

import (
	"time"

	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/rules"
	"github.com/admitpark/admit/validator/ticket"
)

// otherZones stands in the ticket's zone list when the code's zone mask
// leaves out the gate's zone: the rules then say wrong_zone.
const otherZones = "other-zones"

// delta is an admitted scan the changefeed has not shown yet: one of this
// agent's offline admits, or an online admit the cluster just answered.
type delta struct {
	scanID  string
	out     bool
	persons uint16
	at      int64 // unix ms
	gate    string
}

// fold applies an admitted scan to a ticket's use of the gate's zone, as
// rules.Decide does on the cluster.
func fold(u ticket.ZoneUse, d delta, loc *time.Location) ticket.ZoneUse {
	p := max(d.persons, 1)
	if d.out {
		u.Inside -= min(p, u.Inside)
		return u
	}
	if u.Used == 0 {
		u.FirstAt, u.FirstGate = d.at, clip(d.gate)
	}
	u.Used = sat16(u.Used, p)
	u.Inside = sat16(u.Inside, p)
	u.LastDay, u.LastAt, u.LastGate = rules.ParkDay(d.at, loc), d.at, clip(d.gate)
	return u
}

func clip(s string) string {
	if len(s) > ticket.MaxNameLen {
		return s[:ticket.MaxNameLen]
	}
	return s
}

func sat16(a, b uint16) uint16 {
	if a > 0xffff-b {
		return 0xffff
	}
	return a + b
}

// local is what an offline decision is made from, besides the code.
type local struct {
	policy  Policy
	zoneBit int // -1: unknown
	gate    string
	v       *view
	// use is the zone usage the changefeed showed (found false: none),
	// denied the deny-list reason ("" when not listed); pending are the
	// admits since, not yet in the feed.
	use     ticket.ZoneUse
	found   bool
	denied  string
	pending []delta
}

// decide makes an offline decision. It runs the cluster's own rules
// (rules.Decide) on a ticket built from the code's signed claims and a
// state built from what this agent knows. now is the agent's clock.
func decide(req *gateapi.ScanRequest, c code.Code, parseErr error, in *local, now time.Time) (gateapi.ScanResponse, *Record) {
	resp := gateapi.ScanResponse{ScanID: req.ScanID, Offline: true, Result: gateapi.ResultDeny}
	rec := &Record{ScanID: req.ScanID, Code: req.Code, Direction: req.Direction, Persons: req.Persons,
		DeviceTime: deviceTime(req, now).UnixMilli()}
	finish := func() (gateapi.ScanResponse, *Record) {
		rec.Admit, rec.Reason = resp.Result == gateapi.ResultAdmit, resp.Reason
		rec.Used, rec.Allowed = resp.EntriesUsed, resp.EntriesAllowed
		return resp, rec
	}
	if parseErr != nil {
		resp.Reason = gateapi.ReasonInvalidCode
		return finish()
	}
	cl := c.Claims()
	rec.TicketID = cl.TicketID
	resp.TicketID = ticket.FormatID(cl.TicketID)
	switch {
	case in.policy == Deny || in.v == nil:
		// Nobody enters; "unknown": the agent cannot tell without the cluster.
		resp.Reason = gateapi.ReasonUnknown
		return finish()
	case in.v.keys.Verify(c) != nil:
		resp.Reason = gateapi.ReasonInvalidCode
		return finish()
	}
	kind := ticket.Kind(cl.Kind)
	t := ticket.Ticket{ID: cl.TicketID, Version: uint64(cl.Version), Kind: kind, Entries: cl.Entries, Status: ticket.Active}
	if !cl.ValidFrom.IsZero() {
		t.ValidFrom = cl.ValidFrom.UnixMilli()
	}
	if !cl.ValidUntil.IsZero() {
		t.ValidUntil = cl.ValidUntil.UnixMilli()
	}
	// Mask 0: every zone (as a product without zones).
	if in.zoneBit >= 0 && cl.ZoneMask != 0 && cl.ZoneMask&(1<<uint(in.zoneBit)) == 0 {
		t.Zones = []string{otherZones}
	}
	var st ticket.State
	if in.policy == AllowOncePerDevice {
		switch in.denied {
		case gateapi.ReasonRevoked:
			t.Status = ticket.Revoked
		case gateapi.ReasonSuspended:
			t.Status = ticket.Suspended
		}
		use, found := in.use, in.found
		use.Zone = in.v.zone
		for _, d := range in.pending {
			use, found = fold(use, d, in.v.loc), found || !d.out
		}
		if found {
			st.Zones = []ticket.ZoneUse{use}
		}
	}
	scan := rules.Scan{Zone: in.v.zone, Gate: in.gate, Direction: in.v.direction(req.Direction), Persons: req.Persons,
		Code: rules.Match, At: now.UnixMilli()}
	d, _, _ := rules.Decide(&t, st, ticket.Zone{ID: in.v.zone}, scan, in.v.loc)
	resp.Result, resp.Reason, resp.Persons = d.Result.String(), d.Reason.String(), d.Persons
	resp.EntriesUsed, resp.EntriesAllowed, resp.FirstEntryGate = d.EntriesUsed, d.EntriesAllowed, d.FirstGate
	if d.FirstAt != 0 {
		resp.FirstEntryAt = time.UnixMilli(d.FirstAt).In(in.v.loc).Format(time.RFC3339Nano)
	}
	return finish()
}

// deviceTime is the scan's device time, or now when the device sent none.
func deviceTime(req *gateapi.ScanRequest, now time.Time) time.Time {
	if req.DeviceTime.IsZero() {
		return now
	}
	return req.DeviceTime
}
