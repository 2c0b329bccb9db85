package fsm

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"time"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/validator/ticket"
)

// Sentinel errors of CheckGateToken.
var (
	ErrUnknownGate = errors.New("fsm: unknown gate")
	ErrBadToken    = errors.New("fsm: bad gate token")
)

// Viewer reads a node's state: a *cluster.Node, or in tests a
// cluster.MemState.
type Viewer interface {
	View(fn func(r cluster.Reader) error) error
}

// The read functions read a node's local state: what this node has
// applied, which may trail the leader.

// Ticket returns a ticket and its usage state, as of the current epoch
// (after ExitAll nobody reads as inside). found is false for an unknown ID.
func Ticket(db Viewer, id [16]byte) (t ticket.Ticket, st ticket.State, found bool, err error) {
	err = db.View(func(txn cluster.Reader) error {
		tp, s, _, err := loadTicket(txn, id)
		if err != nil || tp == nil {
			return err
		}
		t, st, found = *tp, s, true
		return nil
	})
	if err != nil {
		return ticket.Ticket{}, ticket.State{}, false, err
	}
	return t, st, found, nil
}

// LookupGate returns one gate. (A function named Gate would clash with the
// type.)
func LookupGate(db Viewer, id string) (g Gate, found bool, err error) {
	if !ticket.ValidName(id) {
		return Gate{}, false, nil
	}
	err = db.View(func(txn cluster.Reader) error {
		g, found, err = getGate(txn, appendGateKey(nil, id), id)
		return err
	})
	return g, found, err
}

// LookupZone returns one zone (its settings, mask bit and occupancy).
func LookupZone(db Viewer, id string) (z ticket.Zone, found bool, err error) {
	if !ticket.ValidName(id) {
		return z, false, nil
	}
	err = db.View(func(txn cluster.Reader) error {
		z, found, err = getZone(txn, appendZoneKey(nil, id))
		return err
	})
	return z, found, err
}

// Gates returns every gate, sorted by ID.
func Gates(db Viewer) ([]Gate, error) {
	var gates []Gate
	err := db.View(func(txn cluster.Reader) error {
		return iterate(txn, prefixGate, func(k, v []byte) error {
			g, err := decodeGateRecord(string(k[len(prefixGate):]), v)
			gates = append(gates, g)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return gates, nil
}

// Zones returns every zone with its live occupancy, sorted by ID.
func Zones(db Viewer) ([]ticket.Zone, error) {
	var zones []ticket.Zone
	err := db.View(func(txn cluster.Reader) error {
		return iterate(txn, prefixZone, func(_, v []byte) error {
			var z ticket.Zone
			err := z.UnmarshalBinary(v)
			zones = append(zones, z)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return zones, nil
}

// Location returns the park's time zone; UTC until one is configured.
func Location(db Viewer) (*time.Location, error) {
	var loc *time.Location
	err := db.View(func(txn cluster.Reader) (err error) {
		loc, err = locationOf(txn)
		return err
	})
	return loc, err
}

// CheckGateToken authenticates a gate by its bearer token, comparing
// SHA-256 hashes in constant time. It returns ErrUnknownGate or ErrBadToken;
// a gate whose TokenHash is all zero accepts no token.
func CheckGateToken(db Viewer, gateID, token string) (Gate, error) {
	sum := sha256.Sum256([]byte(token))
	g, found, err := LookupGate(db, gateID)
	switch {
	case err != nil:
		return Gate{}, err
	case !found:
		return Gate{}, ErrUnknownGate
	}
	ok := subtle.ConstantTimeCompare(sum[:], g.TokenHash[:]) == 1
	if !ok || g.TokenHash == ([32]byte{}) {
		return Gate{}, ErrBadToken
	}
	return g, nil
}

// LookupScan returns the decision recorded for a gate's scan ID, as a
// rescan would answer it, until PurgeScans drops it.
func LookupScan(db Viewer, gate, scanID string) (res ScanResult, found bool, err error) {
	err = db.View(func(txn cluster.Reader) error {
		err := getValue(txn, appendScanIDKey(nil, gate, scanID), func(v []byte) error {
			return decodeScanRecord(v, &res)
		})
		if errors.Is(err, cluster.ErrNotFound) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil || !found {
		return ScanResult{}, false, err
	}
	res.Rescan = true
	return res, true, nil
}

// Park returns the park ID this cluster serves ("" until one is set) and
// its signing public keys, sorted by key ID (none until configured).
func Park(db Viewer) (id string, keys []Key, err error) {
	err = db.View(func(txn cluster.Reader) error {
		p, err := loadProofs(txn)
		if err != nil {
			return err
		}
		id = p.park
		for i, pub := range p.keys {
			if pub != nil {
				k := Key{ID: uint8(i)}
				copy(k.Public[:], pub)
				keys = append(keys, k)
			}
		}
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	return id, keys, nil
}
