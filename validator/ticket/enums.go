package ticket

import (
	"fmt"
	"strconv"
)

// Kind is a ticket's entitlement model. Values are persisted: append only.
type Kind uint8

const (
	Single  Kind = iota // one entry per zone
	Multi               // Entries entries per zone
	DayPass             // unlimited entries within validity; re-entry only after an exit
	Period              // season/annual pass: at most one entry per park day per zone
	Group               // Entries persons on one code; one scan may admit several
	numKinds
)

var kindNames = [numKinds]string{"single", "multi", "day_pass", "period", "group"}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return k < numKinds }

func (k Kind) String() string {
	if k.Valid() {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind parses the names String returns ("single", "day_pass", ...).
func ParseKind(s string) (Kind, error) {
	for i, n := range kindNames {
		if n == s {
			return Kind(i), nil
		}
	}
	return 0, fmt.Errorf("ticket: unknown kind %q", s)
}

// MarshalText makes Kind a JSON string.
func (k Kind) MarshalText() ([]byte, error) {
	if !k.Valid() {
		return nil, fmt.Errorf("ticket: unknown kind %d", uint8(k))
	}
	return []byte(kindNames[k]), nil
}

// UnmarshalText accepts what MarshalText produces.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// Status is a ticket's administrative state. Values are persisted: append only.
type Status uint8

const (
	Active    Status = iota
	Revoked          // refunded or cancelled
	Suspended        // blocked for now, may become Active again
	Replaced         // superseded by another ticket (e.g. an upgrade)
	numStatuses
)

var statusNames = [numStatuses]string{"active", "revoked", "suspended", "replaced"}

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return s < numStatuses }

func (s Status) String() string {
	if s.Valid() {
		return statusNames[s]
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// ParseStatus parses the names String returns ("active", "revoked", ...).
func ParseStatus(s string) (Status, error) {
	for i, n := range statusNames {
		if n == s {
			return Status(i), nil
		}
	}
	return 0, fmt.Errorf("ticket: unknown status %q", s)
}

// MarshalText makes Status a JSON string.
func (s Status) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("ticket: unknown status %d", uint8(s))
	}
	return []byte(statusNames[s]), nil
}

// UnmarshalText accepts what MarshalText produces.
func (s *Status) UnmarshalText(b []byte) error {
	v, err := ParseStatus(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
