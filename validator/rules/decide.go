package rules

import (
	"math"
	"slices"
	"time"

	"github.com/admitpark/admit/validator/ticket"
)

// Scan is one code presented at a gate, as committed to the Raft log.
type Scan struct {
	Zone      string
	Gate      string
	Direction Direction // anything but Out is treated as In, the stricter path
	Persons   uint16    // persons passing; 0 means 1; only Multi and Group tickets carry more than 1
	Code      CodeMatch
	At        int64 // unix ms, stamped by the Raft leader
}

// Decision is what the gate shows and does.
type Decision struct {
	Result         Result
	Reason         Reason // None when admitted
	Persons        uint16 // persons admitted (In) or let out (Out) by this scan
	EntriesUsed    uint16 // entries (persons, for Multi/Group) used in this zone after the decision
	EntriesAllowed uint16 // entries allowed in this zone; 0 = unlimited
	FirstAt        int64  // first entry in this zone (unix ms); 0 if none
	FirstGate      string // gate of that first entry
	ZoneWarn       bool   // zone occupancy is at or above its warning level
}

// Decide applies one scan and returns the decision with the ticket's new
// state and the zone's new counters. z must be the counters of s.Zone; loc is
// the park's time zone (nil = UTC), which defines park days.
//
// Checks run in this order; the first failure is the reason:
//
//  1. Identity, both directions: nil ticket -> Unknown; Code Mismatch ->
//     InvalidCode; Code Older -> Replaced.
//
//     Exits stop here and are always admitted, whatever the status, validity
//     or zone list: a ticket that expired at closing or was revoked while its
//     holder was inside must still get them out. Persons recorded inside the
//     zone are decremented, and so is the zone's Occupancy, by at most what
//     is recorded (never below zero); if nobody is recorded, nothing changes.
//
//  2. Status: Revoked, Suspended, Replaced -> that reason (an unknown status
//     -> Suspended).
//
//  3. Zone: not on the ticket's list (when the list is non-empty) ->
//     WrongZone; so is a zone ID that is empty or longer than
//     ticket.MaxNameLen, or a new zone when the state already tracks
//     ticket.MaxZones, so the new state always encodes.
//
//  4. Validity, then slot, each [start, end) with 0 open: At before start ->
//     NotYetValid; at or after end -> Expired. The slot applies to every
//     entry, re-entries included.
//
//  5. Entitlement in this zone (zones are counted separately):
//     Single: any entry -> AlreadyUsed.
//     Multi, Group: Used+persons > Entries -> NoEntriesLeft; never partial.
//     DayPass: persons inside -> AlreadyInside.
//     Period: persons inside -> AlreadyInside; else entered this park day ->
//     DailyLimit.
//     Unknown kind -> Unknown.
//
//  6. Capacity: Cap > 0 and Occupancy+persons > Cap -> ZoneFull. It comes
//     after entitlement so a used ticket says already_used, not zone_full.
//
//  7. Admit: Used, Inside and Occupancy grow by persons; first entry sets
//     FirstAt/FirstGate; every entry sets LastAt/LastGate/LastDay.
//
// Decision.FirstAt/FirstGate/EntriesUsed/EntriesAllowed are filled for every
// decision past check 1; ZoneWarn for every decision.
func Decide(t *ticket.Ticket, st ticket.State, z ticket.Zone, s Scan, loc *time.Location) (Decision, ticket.State, ticket.Zone) {
	var d Decision
	switch {
	case t == nil:
		d.Reason = Unknown
	case s.Code == Older:
		d.Reason = Replaced
	case s.Code != Match:
		d.Reason = InvalidCode
	}
	if d.Reason != None {
		return warn(d, z), st, z
	}

	persons := uint16(1)
	if (t.Kind == ticket.Multi || t.Kind == ticket.Group) && s.Persons > 1 {
		persons = s.Persons
	}
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

	// The park day costs a zone lookup: only Period needs it before admitting.
	var today int32
	if t.Kind == ticket.Period {
		today = ParkDay(s.At, loc)
	}
	if d.Reason = denyReason(t, &use, found, len(st.Zones), z, s, persons, today); d.Reason != None {
		return warn(d, z), st, z
	}
	if t.Kind != ticket.Period {
		today = ParkDay(s.At, loc)
	}

	return enter(d, st, z, s, i, found, use, persons, today)
}

// enter admits persons into zone s.Zone (at index i of st, found or to be
// inserted there) and returns the decision with the new state and zone.
func enter(d Decision, st ticket.State, z ticket.Zone, s Scan, i int, found bool, use ticket.ZoneUse, persons uint16, today int32) (Decision, ticket.State, ticket.Zone) {
	// Admit into a fresh slice: the caller's array may be shared or cached.
	var zones []ticket.ZoneUse
	if found {
		zones = slices.Clone(st.Zones)
	} else {
		zones = make([]ticket.ZoneUse, len(st.Zones)+1)
		copy(zones, st.Zones[:i])
		copy(zones[i+1:], st.Zones[i:])
		use = ticket.ZoneUse{Zone: s.Zone}
	}
	gate := clip(s.Gate)
	if use.Used == 0 {
		use.FirstAt, use.FirstGate = s.At, gate
	}
	use.Used = addSat16(use.Used, persons)
	use.Inside = addSat16(use.Inside, persons)
	use.LastDay, use.LastAt, use.LastGate = today, s.At, gate
	zones[i] = use
	z.Occupancy = addSat32(z.Occupancy, uint32(persons))

	d.Result, d.Persons = Admit, persons
	d.EntriesUsed, d.FirstAt, d.FirstGate = use.Used, use.FirstAt, use.FirstGate
	return warn(d, z), ticket.State{Zones: zones}, z
}

// denyReason runs checks 2 to 6 for an entry.
func denyReason(t *ticket.Ticket, use *ticket.ZoneUse, found bool, nZones int, z ticket.Zone, s Scan, persons uint16, today int32) Reason {
	switch t.Status {
	case ticket.Active:
	case ticket.Revoked:
		return Revoked
	case ticket.Replaced:
		return Replaced
	default:
		return Suspended
	}

	if !ticket.ValidName(s.Zone) || !t.ValidIn(s.Zone) || (!found && nZones >= ticket.MaxZones) {
		return WrongZone
	}

	if r := window(s.At, t.ValidFrom, t.ValidUntil); r != None {
		return r
	}
	if r := window(s.At, t.SlotStart, t.SlotEnd); r != None {
		return r
	}

	switch t.Kind {
	case ticket.Single:
		if use.Used > 0 {
			return AlreadyUsed
		}
	case ticket.Multi, ticket.Group:
		if uint32(use.Used)+uint32(persons) > uint32(t.Entries) {
			return NoEntriesLeft
		}
	case ticket.DayPass:
		if use.Inside > 0 {
			return AlreadyInside
		}
	case ticket.Period:
		if use.Inside > 0 {
			return AlreadyInside
		}
		if use.Used > 0 && use.LastDay == today {
			return DailyLimit
		}
	default:
		return Unknown
	}

	if z.Cap > 0 && uint64(z.Occupancy)+uint64(persons) > uint64(z.Cap) {
		return ZoneFull
	}
	return None
}

// exit handles an Out scan that passed check 1.
func exit(d Decision, st ticket.State, z ticket.Zone, i int, found bool, persons uint16) (Decision, ticket.State, ticket.Zone) {
	d.Result, d.Persons = Admit, persons
	if !found || st.Zones[i].Inside == 0 {
		return warn(d, z), st, z
	}
	zones := slices.Clone(st.Zones)
	u := &zones[i]
	leaving := min(persons, u.Inside)
	u.Inside -= leaving
	z.Occupancy -= min(uint32(leaving), z.Occupancy)
	return warn(d, z), ticket.State{Zones: zones}, z
}

func window(at, from, until int64) Reason {
	if from != 0 && at < from {
		return NotYetValid
	}
	if until != 0 && at >= until {
		return Expired
	}
	return None
}

func allowed(t *ticket.Ticket) uint16 {
	switch t.Kind {
	case ticket.Single:
		return 1
	case ticket.Multi, ticket.Group:
		return t.Entries
	}
	return 0
}

func warn(d Decision, z ticket.Zone) Decision {
	d.ZoneWarn = z.Warn > 0 && z.Occupancy >= z.Warn
	return d
}

// ParkDay returns the park-local calendar day of at (unix ms) in loc (nil =
// UTC), as days since 1970-01-01. Period passes count entries per ParkDay.
func ParkDay(at int64, loc *time.Location) int32 {
	if loc == nil {
		loc = time.UTC
	}
	_, offset := time.UnixMilli(at).In(loc).Zone()
	day := floorDiv(floorDiv(at, 1000)+int64(offset), 86400)
	return int32(max(math.MinInt32, min(math.MaxInt32, day)))
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func clip(gate string) string {
	if len(gate) > ticket.MaxNameLen {
		return gate[:ticket.MaxNameLen]
	}
	return gate
}

func addSat16(a, b uint16) uint16 {
	if a > math.MaxUint16-b {
		return math.MaxUint16
	}
	return a + b
}

func addSat32(a, b uint32) uint32 {
	if a > math.MaxUint32-b {
		return math.MaxUint32
	}
	return a + b
}
