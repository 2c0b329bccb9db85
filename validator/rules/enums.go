package rules

import (
	"fmt"
	"strconv"
)

// Direction says whether a scan is at an entry or an exit gate.
type Direction uint8

const (
	In Direction = iota
	Out
)

// String returns "in" or "out".
func (d Direction) String() string {
	switch d {
	case In:
		return "in"
	case Out:
		return "out"
	}
	return "direction(" + strconv.Itoa(int(d)) + ")"
}

// ParseDirection parses "in" or "out".
func ParseDirection(s string) (Direction, error) {
	switch s {
	case "in":
		return In, nil
	case "out":
		return Out, nil
	}
	return 0, fmt.Errorf("rules: unknown direction %q", s)
}

// MarshalText makes Direction a JSON string.
func (d Direction) MarshalText() ([]byte, error) {
	if d > Out {
		return nil, fmt.Errorf("rules: unknown direction %d", uint8(d))
	}
	return []byte(d.String()), nil
}

// UnmarshalText accepts what MarshalText produces.
func (d *Direction) UnmarshalText(b []byte) error {
	v, err := ParseDirection(string(b))
	if err == nil {
		*d = v
	}
	return err
}

// CodeMatch is how the scanned code relates to the ticket's current code.
// The caller verifies the code; Decide only acts on the verdict. Mismatch is
// the zero value so a forgotten field denies.
type CodeMatch uint8

const (
	Mismatch CodeMatch = iota // forged or garbled: invalid_code
	Match                     // digest equals the ticket's current digest
	Older                     // an earlier version of the code: replaced by a reprint
)

func (c CodeMatch) String() string {
	switch c {
	case Mismatch:
		return "mismatch"
	case Match:
		return "match"
	case Older:
		return "older"
	}
	return "code_match(" + strconv.Itoa(int(c)) + ")"
}

// Result is the gate's verdict. Deny is the zero value so a zero Decision
// never opens a gate.
type Result uint8

const (
	Deny Result = iota
	Admit
)

// String returns "deny" or "admit".
func (r Result) String() string {
	switch r {
	case Deny:
		return "deny"
	case Admit:
		return "admit"
	}
	return "result(" + strconv.Itoa(int(r)) + ")"
}

// ParseResult parses "deny" or "admit".
func ParseResult(s string) (Result, error) {
	switch s {
	case "deny":
		return Deny, nil
	case "admit":
		return Admit, nil
	}
	return 0, fmt.Errorf("rules: unknown result %q", s)
}

// MarshalText makes Result a JSON string.
func (r Result) MarshalText() ([]byte, error) {
	if r > Admit {
		return nil, fmt.Errorf("rules: unknown result %d", uint8(r))
	}
	return []byte(r.String()), nil
}

// UnmarshalText accepts what MarshalText produces.
func (r *Result) UnmarshalText(b []byte) error {
	v, err := ParseResult(string(b))
	if err == nil {
		*r = v
	}
	return err
}

// Reason says why a scan was denied; None on admit. Values may be persisted
// (e.g. in scan logs): append only.
type Reason uint8

const (
	None          Reason = iota
	InvalidCode          // code forged or garbled
	Unknown              // no such ticket
	Revoked              // ticket refunded or cancelled
	Suspended            // ticket blocked for now
	Replaced             // ticket superseded, or an older print of its code was scanned
	NotYetValid          // before validity or slot start
	Expired              // at or after validity or slot end
	WrongZone            // ticket not valid in this zone
	AlreadyUsed          // single entry already taken in this zone
	DailyLimit           // period pass already entered this zone this park day
	NoEntriesLeft        // multi entries or group persons exhausted in this zone
	AlreadyInside        // day or period pass still recorded inside: exit first
	ZoneFull             // zone at capacity
	// OfflineDeny: an offline gate denied a scan it uploaded later that
	// the cluster would have admitted. Decide never gives it.
	OfflineDeny
	numReasons
)

var reasonNames = [numReasons]string{
	"", "invalid_code", "unknown", "revoked", "suspended", "replaced",
	"not_yet_valid", "expired", "wrong_zone", "already_used", "daily_limit",
	"no_entries_left", "already_inside", "zone_full", "offline_deny",
}

// String returns the API name, e.g. "already_used"; "" for None.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// ParseReason parses what String returns; "" is None.
func ParseReason(s string) (Reason, error) {
	for i, n := range reasonNames {
		if n == s {
			return Reason(i), nil
		}
	}
	return 0, fmt.Errorf("rules: unknown reason %q", s)
}

// MarshalText makes Reason a JSON string ("" for None).
func (r Reason) MarshalText() ([]byte, error) {
	if r >= numReasons {
		return nil, fmt.Errorf("rules: unknown reason %d", uint8(r))
	}
	return []byte(reasonNames[r]), nil
}

// UnmarshalText accepts what MarshalText produces.
func (r *Reason) UnmarshalText(b []byte) error {
	v, err := ParseReason(string(b))
	if err == nil {
		*r = v
	}
	return err
}
