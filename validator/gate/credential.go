package gate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/admitpark/admit/validator/fsm"
	"github.com/admitpark/admit/validator/gateapi"
)

// itemError is a scan refused on its own: POST /v1/scan answers 400 with
// it; in POST /v1/scans that item gets Error set to its code and the
// others are decided.
type itemError struct {
	code string // ScanResponse.Error in a batch
	msg  string
}

func (e *itemError) Error() string { return e.msg }

// Item errors.
const (
	errInvalidTicketNumber = "invalid_ticket_number"
	errIDCardNotConfigured = "id_card_not_configured"
)

// credentialScan reads a request's credential into s. Card values and
// ticket numbers are brought to the normal form they are bound in; an ID
// number is hashed with the park's ID-card key (idKey, from the state),
// so only its keyed hash reaches the log.
func credentialScan(c *gateapi.Credential, idKey []byte, s *fsm.Scan) error {
	if len(c.Value) > maxCodeLen {
		return fmt.Errorf(`"credential.value" is longer than %d characters`, maxCodeLen)
	}
	var v string
	switch c.Kind {
	case gateapi.CredentialCard:
		v = gateapi.NormalizeCardValue(c.Value)
		s.Credential = fsm.Credential{Kind: fsm.CredCard, Value: v}
		if !fsm.ValidCredential(s.Credential) {
			return fmt.Errorf(`"credential.value": a card number or UID is 1-%d letters and digits (spaces, colons and dashes are ignored)`, fsm.MaxCredentialLen)
		}
	case gateapi.CredentialTicketNumber:
		n, ok := gateapi.NormalizeTicketNumber(c.Value)
		if !ok {
			return &itemError{code: errInvalidTicketNumber,
				msg: fmt.Sprintf(`"credential.value" is not a ticket number: %d digits with a right check digit (mistyped?)`, gateapi.TicketNumberDigits)}
		}
		s.Credential = fsm.Credential{Kind: fsm.CredTicketNumber, Value: n}
	case gateapi.CredentialIDCard:
		n := gateapi.NormalizeIDNumber(c.Value)
		if n == "" || len(n) > 32 {
			return errors.New(`"credential.value": an ID number is 1-32 characters`)
		}
		if len(idKey) == 0 {
			return &itemError{code: errIDCardNotConfigured,
				msg: "ID cards cannot be checked: the cluster has no ID-card key yet (sales sends it with the park configuration, PUT /v1/park id_card_key)"}
		}
		s.Credential = fsm.Credential{Kind: fsm.CredIDCard, Value: gateapi.IDCardHash(idKey, n)}
	default:
		return fmt.Errorf(`"credential.kind" must be %q, %q or %q`, gateapi.CredentialCard, gateapi.CredentialIDCard, gateapi.CredentialTicketNumber)
	}
	return nil
}

// Bounds of a device time: a clock outside them is broken, not skewed.
var (
	minDeviceTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxDeviceTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// scanExtras reads a request's device time and offline decision into s.
func scanExtras(r *gateapi.ScanRequest, s *fsm.Scan) error {
	if !r.DeviceTime.IsZero() {
		if r.DeviceTime.Before(minDeviceTime) || !r.DeviceTime.Before(maxDeviceTime) {
			return errors.New(`"device_time" must be the device's clock as RFC 3339, between 2000 and 2200`)
		}
		s.DeviceTime = r.DeviceTime.UnixMilli()
	}
	switch r.Offline {
	case "":
	case gateapi.ResultAdmit:
		s.Offline = fsm.OfflineAdmit
	case gateapi.ResultDeny:
		s.Offline = fsm.OfflineDeny
	default:
		return fmt.Errorf(`"offline" must be "admit" or "deny" (what the offline gate did), not %q`, r.Offline)
	}
	return nil
}

// idCardKey returns the park's ID-card key from this node's state, read
// again at most once a second while set (at every ID-card scan until it
// is).
func (s *Server) idCardKey() []byte {
	now := time.Now()
	if c := s.idKey.Load(); c != nil && now.Before(c.expires) {
		return c.key
	}
	key, err := fsm.IDCardKey(s.node)
	if err == nil && key == nil {
		// Not set here yet; it may be committed and not yet applied on
		// this follower (sales just configured the park): catch up once
		// before refusing the card.
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ScanTimeout)
		if s.node.CatchUp(ctx) == nil {
			key, err = fsm.IDCardKey(s.node)
		}
		cancel()
	}
	if err != nil || key == nil {
		return nil
	}
	s.idKey.Store(&cachedKey{key: key, expires: now.Add(time.Second)})
	return key
}

type cachedKey struct {
	key     []byte
	expires time.Time
}
