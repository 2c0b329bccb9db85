package orders

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/admitpark/admit/sales/web"
)

// Channels, as stored in orders.channel and sales_points.kind.
const (
	ChannelWindow      = "window"
	ChannelKiosk       = "kiosk"
	ChannelShop        = "shop"
	ChannelDistributor = "distributor"
)

// Order statuses, as stored in orders.status.
const (
	StatusPending           = "pending"
	StatusPaid              = "paid"
	StatusExpired           = "expired"
	StatusCancelled         = "cancelled"
	StatusRefunded          = "refunded"
	StatusPartiallyRefunded = "partially_refunded"
)

// CreateRequest is the body of POST /v1/orders.
type CreateRequest struct {
	// Channel is optional: a cashier sells on their sales point's kind, a
	// distributor on "distributor"; an admin may say window, kiosk or shop
	// (default shop).
	Channel string `json:"channel,omitempty"`
	// ExternalRef is a distributor's own order id, unique per distributor.
	ExternalRef  string        `json:"external_ref,omitempty"`
	ContactName  string        `json:"contact_name,omitempty"`
	ContactPhone string        `json:"contact_phone,omitempty"`
	Lines        []LineRequest `json:"lines"`
}

// LineRequest is one product on one visit date (and slot).
type LineRequest struct {
	ProductID string `json:"product_id"`
	VisitDate string `json:"visit_date"` // YYYY-MM-DD, the park's own date
	SlotID    int64  `json:"slot_id,omitempty"`
	Quantity  int    `json:"quantity"`
	// Holders: one per ticket, required for real-name products and refused
	// for others.
	Holders []HolderRequest `json:"holders,omitempty"`
	// Card binds the line's ticket to a member card (an annual or season
	// pass): the card opens it at the gates. Quantity must be 1.
	Card string `json:"card,omitempty"`
}

// HolderRequest names a ticket's holder.
type HolderRequest struct {
	Name     string `json:"name"`
	IDNumber string `json:"id_number"`
}

var (
	phoneRe  = regexp.MustCompile(`^\+?[0-9]{5,20}$`)
	extRefRe = regexp.MustCompile(`^[\x21-\x7e]{1,64}$`)
	idemRe   = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`)
)

// NormalizePhone drops spaces, dashes, dots and brackets; what is left must
// be 5-20 digits with an optional leading +.
func NormalizePhone(s string) (string, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '.', '(', ')':
			return -1
		}
		return r
	}, s)
	if !phoneRe.MatchString(s) {
		return "", fmt.Errorf("a phone number is 5-20 digits with an optional leading +")
	}
	return s, nil
}

// seller is who sells: the channel and where.
type seller struct {
	channel       string
	salesPointID  string
	userID        int64
	distributorID int64
	scope         string // idempotency scope: user:<id> or key:<id>
	parkID        string // of the sales point; "" when none
}

func bad(code, format string, args ...any) error {
	return web.Problemf(http.StatusBadRequest, code, format, args...)
}

// resolveSeller decides the channel from the caller and the request.
func resolveSeller(ctx context.Context, db DB, p web.Principal, asked string) (seller, error) {
	s := seller{userID: p.UserID, salesPointID: p.SalesPointID}
	switch {
	case p.APIKeyID != 0:
		s.scope = "key:" + strconv.FormatInt(p.APIKeyID, 10)
	case p.UserID != 0:
		s.scope = "user:" + strconv.FormatInt(p.UserID, 10)
	}
	switch p.Role {
	case web.RoleDistributor:
		if asked != "" && asked != ChannelDistributor {
			return s, bad("bad_channel", "a distributor sells on channel distributor, not %q", asked)
		}
		if p.DistributorID == 0 {
			return s, web.Problemf(http.StatusForbidden, "no_distributor", "your account belongs to no distributor")
		}
		ok, err := distributorActive(ctx, db, p.DistributorID)
		if err != nil {
			return s, err
		}
		if !ok {
			return s, web.Problemf(http.StatusForbidden, "distributor_inactive", "distributor %d is not active", p.DistributorID)
		}
		s.channel, s.distributorID = ChannelDistributor, p.DistributorID
	case web.RoleCashier:
		if p.SalesPointID == "" {
			return s, web.Problemf(http.StatusForbidden, "no_sales_point", "cashier %s is not assigned to a sales point", p.Username)
		}
	case web.RoleAdmin:
		switch asked {
		case "":
			s.channel = ChannelShop
		case ChannelWindow, ChannelKiosk, ChannelShop:
			s.channel = asked
		default:
			return s, bad("bad_channel", `"channel" must be window, kiosk or shop, not %q`, asked)
		}
	default:
		return s, web.Problemf(http.StatusForbidden, "forbidden", "role %s may not create orders", p.Role)
	}
	if s.salesPointID != "" {
		sp, err := readSalesPoint(ctx, db, s.salesPointID)
		if err != nil {
			return s, err
		}
		if !sp.Active {
			return s, web.Problemf(http.StatusForbidden, "sales_point_inactive", "sales point %s is closed (inactive)", sp.ID)
		}
		s.parkID = sp.ParkID
		if p.Role == web.RoleCashier {
			if asked != "" && asked != sp.Kind {
				return s, bad("bad_channel", "your sales point %s sells on channel %s, not %q", sp.ID, sp.Kind, asked)
			}
			s.channel = sp.Kind
		}
	}
	if s.scope == "" {
		return s, web.Problemf(http.StatusForbidden, "no_identity", "the caller has neither a user nor an API key")
	}
	return s, nil
}

// checkHeader validates the order-level fields of r.
func checkHeader(r *CreateRequest, s seller, maxLines int) error {
	if len(r.Lines) == 0 || len(r.Lines) > maxLines {
		return bad("bad_lines", `"lines" must hold 1-%d lines`, maxLines)
	}
	if r.ExternalRef != "" {
		if s.channel != ChannelDistributor {
			return bad("bad_external_ref", `"external_ref" is for distributors' orders`)
		}
		if !extRefRe.MatchString(r.ExternalRef) {
			return bad("bad_external_ref", `"external_ref" must be 1-64 printable ASCII characters without spaces`)
		}
	}
	needContact := s.channel == ChannelShop || s.channel == ChannelDistributor
	if r.ContactName != "" || needContact {
		n, err := cleanName(r.ContactName, `"contact_name"`)
		if err != nil {
			return bad("bad_contact", "%v (required on channel %s)", err, s.channel)
		}
		r.ContactName = n
	}
	if r.ContactPhone != "" || needContact {
		ph, err := NormalizePhone(r.ContactPhone)
		if err != nil {
			return bad("bad_contact", `"contact_phone": %v (required on channel %s)`, err, s.channel)
		}
		r.ContactPhone = ph
	}
	return nil
}

// requestHash identifies a request for Idempotency-Key checks. It is keyed
// with the holder secret, so the stored hash reveals nothing of the ID
// numbers or phone numbers in the request.
func requestHash(secret []byte, r CreateRequest) []byte {
	b, _ := json.Marshal(r)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("admit/order-request\x00"))
	m.Write(b)
	return m.Sum(nil)
}

// ValidIdempotencyKey reports whether k can be an Idempotency-Key: 1-128
// printable ASCII characters without spaces.
func ValidIdempotencyKey(k string) bool { return idemRe.MatchString(k) }
