package ticket

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Limits enforced by the encoders' checks and the decoders. They bound what a
// hostile or corrupt record can make a decoder allocate.
const (
	MaxNameLen   = 64   // bytes in a product code, zone ID or gate ID
	MaxHolderLen = 256  // bytes in a holder name
	MaxZones     = 1024 // zones listed on a ticket, or tracked in one State
)

// Ticket is one sellable admission and everything a gate needs to decide on
// it. Times are unix milliseconds; 0 means "not set".
type Ticket struct {
	ID         [16]byte
	Version    uint64 // a newer version wins on upsert; a reprint bumps it
	Product    string // product code, e.g. "adult-day"
	Kind       Kind
	Entries    uint16   // entries per zone for Multi; persons for Group; ignored otherwise
	Zones      []string // zones where valid; empty = every zone
	ValidFrom  int64    // validity is [ValidFrom, ValidUntil); 0 = open on that side
	ValidUntil int64
	SlotStart  int64 // optional entry slot [SlotStart, SlotEnd); 0 = open on that side
	SlotEnd    int64
	Status     Status
	Digest     [16]byte // digest of the ticket's current code
	Holder     string   // holder name for real-name tickets; "" = none
	IDHash     [32]byte // hash of the holder's ID-card number; all zero = none
}

// ValidIn reports whether the ticket lists zone, or lists no zones at all.
func (t *Ticket) ValidIn(zone string) bool {
	return len(t.Zones) == 0 || slices.Contains(t.Zones, zone)
}

// Supersedes reports whether t should replace old on upsert: only a strictly
// newer version wins, so replaying an upsert is a no-op.
func (t *Ticket) Supersedes(old *Ticket) bool {
	return old == nil || t.Version > old.Version
}

// Validate checks what an ingest path should refuse: everything the encoding
// cannot carry plus tickets that could never be admitted sensibly.
func (t *Ticket) Validate() error {
	if err := t.checkEncodable(); err != nil {
		return err
	}
	if t.ID == ([16]byte{}) {
		return errors.New("ticket: zero ID")
	}
	if (t.Kind == Multi || t.Kind == Group) && t.Entries == 0 {
		return fmt.Errorf("ticket: %s ticket with 0 entries", t.Kind)
	}
	for i, z := range t.Zones {
		if slices.Contains(t.Zones[:i], z) {
			return fmt.Errorf("ticket: zone %q listed twice", z)
		}
	}
	if t.ValidFrom != 0 && t.ValidUntil != 0 && t.ValidFrom >= t.ValidUntil {
		return errors.New("ticket: empty validity window")
	}
	if t.SlotStart != 0 && t.SlotEnd != 0 && t.SlotStart >= t.SlotEnd {
		return errors.New("ticket: empty slot")
	}
	return nil
}

// checkEncodable rejects exactly what UnmarshalBinary would reject.
func (t *Ticket) checkEncodable() error {
	switch {
	case !t.Kind.Valid():
		return fmt.Errorf("ticket: unknown kind %d", uint8(t.Kind))
	case !t.Status.Valid():
		return fmt.Errorf("ticket: unknown status %d", uint8(t.Status))
	case len(t.Product) > MaxNameLen:
		return fmt.Errorf("ticket: product code longer than %d bytes", MaxNameLen)
	case len(t.Holder) > MaxHolderLen:
		return fmt.Errorf("ticket: holder longer than %d bytes", MaxHolderLen)
	case len(t.Zones) > MaxZones:
		return fmt.Errorf("ticket: more than %d zones", MaxZones)
	}
	for _, z := range t.Zones {
		if !ValidName(z) {
			return fmt.Errorf("ticket: zone %q must be 1 to %d bytes", z, MaxNameLen)
		}
	}
	return nil
}

// ValidName reports whether s can be a zone ID: 1 to MaxNameLen bytes.
func ValidName(s string) bool { return len(s) > 0 && len(s) <= MaxNameLen }

// ZoneUse is a ticket's usage of one zone. A ZoneUse exists only once the
// ticket has entered that zone, so FirstAt/FirstGate are always set.
type ZoneUse struct {
	Zone      string
	Used      uint16 // entries (or persons, for Group and Multi) admitted so far; saturates
	Inside    uint16 // persons recorded inside now; never above Used
	LastDay   int32  // park-local day number (days since 1970-01-01) of the last entry
	FirstAt   int64  // unix ms of the first entry
	FirstGate string
	LastAt    int64 // unix ms of the last entry
	LastGate  string
}

// State is a ticket's usage across zones.
type State struct {
	Zones []ZoneUse // sorted by Zone, no duplicates
}

// Find returns the index of zone in s.Zones, or where it would be inserted.
func (s State) Find(zone string) (int, bool) {
	return slices.BinarySearchFunc(s.Zones, zone, func(u ZoneUse, z string) int {
		return strings.Compare(u.Zone, z)
	})
}

// Clone returns a State that shares no backing array with s.
func (s State) Clone() State {
	return State{Zones: slices.Clone(s.Zones)}
}

// Validate checks the invariants Decide relies on and the encoding requires.
func (s State) Validate() error {
	if err := s.checkEncodable(); err != nil {
		return err
	}
	for _, u := range s.Zones {
		if u.Inside > u.Used {
			return fmt.Errorf("ticket: zone %q has %d inside but %d used", u.Zone, u.Inside, u.Used)
		}
	}
	return nil
}

func (s State) checkEncodable() error {
	if len(s.Zones) > MaxZones {
		return fmt.Errorf("ticket: state tracks more than %d zones", MaxZones)
	}
	for i, u := range s.Zones {
		if !ValidName(u.Zone) {
			return fmt.Errorf("ticket: zone %q must be 1 to %d bytes", u.Zone, MaxNameLen)
		}
		if len(u.FirstGate) > MaxNameLen || len(u.LastGate) > MaxNameLen {
			return fmt.Errorf("ticket: gate ID in zone %q longer than %d bytes", u.Zone, MaxNameLen)
		}
		if i > 0 && s.Zones[i-1].Zone >= u.Zone {
			return fmt.Errorf("ticket: state zones not strictly sorted at %q", u.Zone)
		}
	}
	return nil
}

// Zone is one zone's capacity settings and live head count.
type Zone struct {
	ID        string
	Cap       uint32 // 0 = no cap
	Warn      uint32 // occupancy that raises a warning; 0 = none
	Occupancy uint32 // persons inside now
	// MaskBit is 1 + the zone's bit in ticket codes' zone masks (sales'
	// zones.bit), 0 when the cluster was not told: offline gate agents
	// check a code's zones with it (Bit).
	MaskBit uint8
}

// MaxMaskBit is the largest MaskBit: bit 31, the last of a 32-bit mask.
const MaxMaskBit = 32

// Bit returns the zone's bit in codes' zone masks; ok is false when unknown.
func (z Zone) Bit() (bit int, ok bool) { return int(z.MaskBit) - 1, z.MaskBit != 0 }

func (z Zone) checkEncodable() error {
	if !ValidName(z.ID) {
		return fmt.Errorf("ticket: zone ID %q must be 1 to %d bytes", z.ID, MaxNameLen)
	}
	if z.MaskBit > MaxMaskBit {
		return fmt.Errorf("ticket: zone %q: mask bit %d above %d", z.ID, int(z.MaskBit)-1, MaxMaskBit-1)
	}
	return nil
}
