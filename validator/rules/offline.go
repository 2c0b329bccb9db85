package rules

import (
	"time"

	"github.com/admitpark/admit/validator/ticket"
)

// UsageReason reports whether r denies an entry because of the ticket's
// own use (already_used, no_entries_left, already_inside, daily_limit):
// another admit of the ticket came first. An offline admit denied for one
// of these is a conflict: the ticket was let in twice.
func UsageReason(r Reason) bool {
	return r == AlreadyUsed || r == NoEntriesLeft || r == AlreadyInside || r == DailyLimit
}

// Force records a passage an offline gate already allowed (a scan
// uploaded later), whatever Decide would say: the visitor is through, so
// an entry counts as one (Used, Inside, the zone's Occupancy grow by the
// persons, no cap) and an exit lets out who is recorded inside. The
// decision is an admit with Reason None; the caller keeps Decide's reason
// beside it. Without a ticket (t nil), or for an entry into a zone the
// state cannot track (an invalid zone ID, or a new zone past
// ticket.MaxZones), nothing changes.
func Force(t *ticket.Ticket, st ticket.State, z ticket.Zone, s Scan, loc *time.Location) (Decision, ticket.State, ticket.Zone) {
	d := Decision{Result: Admit, Persons: 1}
	if t == nil {
		return warn(d, z), st, z
	}
	persons := uint16(1)
	if (t.Kind == ticket.Multi || t.Kind == ticket.Group) && s.Persons > 1 {
		persons = s.Persons
	}
	d.Persons = persons
	i, found := st.Find(s.Zone)
	var use ticket.ZoneUse
	if found {
		use = st.Zones[i]
	}
	d.EntriesAllowed = allowed(t)
	d.EntriesUsed, d.FirstAt, d.FirstGate = use.Used, use.FirstAt, use.FirstGate
	if s.Direction == Out {
		return exit(d, st, z, i, found, persons)
	}
	if !ticket.ValidName(s.Zone) || (!found && len(st.Zones) >= ticket.MaxZones) {
		return warn(d, z), st, z
	}
	return enter(d, st, z, s, i, found, use, persons, ParkDay(s.At, loc))
}
