package outbox_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/admitpark/admit/sync/outbox"
)

// Payloads as the code before this package wrote them, byte for byte:
// sales/orders (issue: gateapi.TicketJSON with park-local times),
// sales/refund (reprint: gateapi.TicketJSON with UTC times; revoke:
// gateapi.ChangeRequest), sales/catalog (configure: catalog.ConfigurePayload
// with int caps) and the tests' update rows (gateapi.ChangeRequest). The
// codes were signed with the ed25519 key of an all-zero seed.
const (
	oldIssue = `{"id":"0a1b2c3d4e5f40718293a4b5c6d7e8f9","version":1,"product":"family-4","kind":"multi","entries":3,` +
		`"zones":["main","coaster"],"valid_from":"2026-11-22T00:00:00+08:00","valid_until":"2026-11-23T00:00:00+08:00",` +
		`"slot_start":"2026-11-22T10:00:00+08:00","slot_end":"2026-11-22T12:00:00+08:00","status":"active",` +
		`"code":"V50MC1UQ5%+9R68$MG0$K86PGKT000100V504H0:FP1004GPAAK000W00OUMJ58QWG9V4*Z3IRKQPC*$2B/7X*SB7J. K8X01E0PRQI5HAZ8V+U94N7DFV$7UY0V6BX6JLAH5.0%KD/G5G0USZI7*P00",` +
		`"holder":"Li Lei"}`
	// The same row as PostgreSQL returns it from the jsonb column: keys
	// by length, then bytes; spaces after ':' and ','.
	oldIssueJSONB = `{"id": "0a1b2c3d4e5f40718293a4b5c6d7e8f9", ` +
		`"code": "V50MC1UQ5%+9R68$MG0$K86PGKT000100V504H0:FP1004GPAAK000W00OUMJ58QWG9V4*Z3IRKQPC*$2B/7X*SB7J. K8X01E0PRQI5HAZ8V+U94N7DFV$7UY0V6BX6JLAH5.0%KD/G5G0USZI7*P00", ` +
		`"kind": "multi", "zones": ["main", "coaster"], "holder": "Li Lei", "status": "active", "entries": 3, ` +
		`"product": "family-4", "version": 1, "slot_end": "2026-11-22T12:00:00+08:00", "slot_start": "2026-11-22T10:00:00+08:00", ` +
		`"valid_from": "2026-11-22T00:00:00+08:00", "valid_until": "2026-11-23T00:00:00+08:00"}`
	oldReprint = `{"id":"0a1b2c3d4e5f40718293a4b5c6d7e8f9","version":2,"product":"adult-day","kind":"single",` +
		`"valid_from":"2026-11-21T16:00:00Z","valid_until":"2026-11-22T16:00:00Z","status":"suspended",` +
		`"code":"V50MC1UQ5%+9R68$MG0$K86PGKT000200000100:FP1004GPAAK000N30LECSU9ZJ0-XPT.C-4H%.OL45R 196R6PHI:Q*KDPQ3P-KJ.6CYADHP9U7L HMB4*OKLEBV52G/NCQLQYD37HEC4RN8B2N40"}`
	oldRevoke        = `{"version":3}`
	oldUpdate        = `{"version":4,"op":"extend","valid_until":"2026-11-24T00:00:00+08:00"}`
	oldConfigureTZ   = `{"time_zone":"Asia/Shanghai"}`
	oldConfigureZone = `{"zones":[{"id":"main","cap":20000,"warn":18000}]}`
	oldConfigureGate = `{"gates":[{"id":"north-1","zone":"main","direction":"both"}]}`
)

var shanghai = time.FixedZone("", 8*3600)

func TestDecodeAsOlderCodeWroteThem(t *testing.T) {
	wantIssue := outbox.Ticket{ID: "0a1b2c3d4e5f40718293a4b5c6d7e8f9", Version: 1, Product: "family-4", Kind: "multi", Entries: 3,
		Zones:     []string{"main", "coaster"},
		ValidFrom: time.Date(2026, 11, 22, 0, 0, 0, 0, shanghai), ValidUntil: time.Date(2026, 11, 23, 0, 0, 0, 0, shanghai),
		SlotStart: time.Date(2026, 11, 22, 10, 0, 0, 0, shanghai), SlotEnd: time.Date(2026, 11, 22, 12, 0, 0, 0, shanghai),
		Status: "active", Holder: "Li Lei"}
	for name, raw := range map[string]string{"as written": oldIssue, "as jsonb returns it": oldIssueJSONB} {
		got, err := outbox.DecodeTicket([]byte(raw))
		if err != nil {
			t.Fatalf("issue %s: %v", name, err)
		}
		if len(got.Code) < 100 || got.Code[:4] != "V50M" {
			t.Errorf("issue %s: code %q", name, got.Code)
		}
		want := wantIssue
		want.Code = got.Code
		if !sameTicket(got, want) {
			t.Errorf("issue %s:\n got %+v\nwant %+v", name, got, want)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("issue %s: the cluster would refuse it: %v", name, err)
		}
	}

	reprint, err := outbox.DecodeTicket([]byte(oldReprint))
	if err != nil {
		t.Fatal(err)
	}
	if reprint.Version != 2 || reprint.Kind != "single" || reprint.Status != "suspended" || reprint.Entries != 0 || reprint.Zones != nil ||
		!reprint.ValidFrom.Equal(wantIssue.ValidFrom) || !reprint.ValidUntil.Equal(wantIssue.ValidUntil) ||
		!reprint.SlotStart.IsZero() || reprint.Holder != "" {
		t.Errorf("reprint: %+v", reprint)
	}
	if err := reprint.Validate(); err != nil {
		t.Errorf("reprint: the cluster would refuse it: %v", err)
	}

	revoke, err := outbox.DecodeChange([]byte(oldRevoke))
	if err != nil || revoke != (outbox.Change{Version: 3}) {
		t.Errorf("revoke: %+v, %v", revoke, err)
	}
	update, err := outbox.DecodeChange([]byte(oldUpdate))
	if err != nil || update.Version != 4 || update.Op != "extend" || !update.ValidUntil.Equal(time.Date(2026, 11, 24, 0, 0, 0, 0, shanghai)) {
		t.Errorf("update: %+v, %v", update, err)
	}

	for raw, want := range map[string]outbox.Configure{
		oldConfigureTZ:   {TimeZone: "Asia/Shanghai"},
		oldConfigureZone: {Zones: []outbox.Zone{{ID: "main", Cap: 20000, Warn: 18000}}},
		oldConfigureGate: {Gates: []outbox.Gate{{ID: "north-1", Zone: "main", Direction: "both"}}},
		// A zone with its mask bit (an older relay ignores "bit").
		`{"zones":[{"id":"coaster","cap":0,"warn":0,"bit":1}]}`: {Zones: []outbox.Zone{{ID: "coaster", Bit: ptr(1)}}},
	} {
		got, err := outbox.DecodeConfigure([]byte(raw))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("configure %s: %+v, %v; want %+v", raw, got, err, want)
		}
	}
}

// sameTicket compares tickets with times by instant and offset.
func sameTicket(a, b outbox.Ticket) bool {
	times := func(t outbox.Ticket) []time.Time {
		return []time.Time{t.ValidFrom, t.ValidUntil, t.SlotStart, t.SlotEnd}
	}
	ta, tb := times(a), times(b)
	for i := range ta {
		_, oa := ta[i].Zone()
		_, ob := tb[i].Zone()
		if !ta[i].Equal(tb[i]) || oa != ob {
			return false
		}
	}
	a.ValidFrom, a.ValidUntil, a.SlotStart, a.SlotEnd = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	b.ValidFrom, b.ValidUntil, b.SlotStart, b.SlotEnd = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// TestPayloadsMarshalAsBefore: the payload types encode the values of the
// old rows to the old bytes (format 1 has no "format" field), so an older
// relay still running during an upgrade reads what this code writes.
func TestPayloadsMarshalAsBefore(t *testing.T) {
	for _, raw := range []string{oldIssue, oldReprint} {
		tk, err := outbox.DecodeTicket([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		same(t, tk, raw)
	}
	for _, raw := range []string{oldRevoke, oldUpdate} {
		c, err := outbox.DecodeChange([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		same(t, c, raw)
	}
	for _, raw := range []string{oldConfigureTZ, oldConfigureZone, oldConfigureGate} {
		c, err := outbox.DecodeConfigure([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		same(t, c, raw)
	}
}

func same(t *testing.T, v any, want string) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != want {
		t.Errorf("%T encodes as\n%s\nwant\n%s", v, b, want)
	}
}

func TestFormats(t *testing.T) {
	if _, err := outbox.DecodeChange([]byte(`{"version":3,"format":1}`)); err != nil {
		t.Errorf("format 1: %v", err)
	}
	for _, raw := range []string{`{"version":3,"format":2}`, `{"id":"x","version":1,"format":9}`} {
		if _, err := outbox.DecodeChange([]byte(raw)); !errors.Is(err, outbox.ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", raw, err)
		}
	}
	for _, raw := range []string{`{"version":0}`, `{}`, `[1]`, `{"version":"3"}`, `{"version":3,"format":0}`} {
		if _, err := outbox.DecodeChange([]byte(raw)); !errors.Is(err, outbox.ErrPayload) {
			t.Errorf("change %s: %v, want ErrPayload", raw, err)
		}
	}
	for _, raw := range []string{`{}`, `{"zones":[]}`, `{"zones":[{"id":"a","cap":-1}]}`} {
		if _, err := outbox.DecodeConfigure([]byte(raw)); !errors.Is(err, outbox.ErrPayload) {
			t.Errorf("configure %s: %v, want ErrPayload", raw, err)
		}
	}
	if _, err := outbox.DecodeTicket([]byte(`{"product":"x"}`)); !errors.Is(err, outbox.ErrPayload) {
		t.Errorf("ticket without id: %v", err)
	}
	tk, _ := outbox.DecodeTicket([]byte(oldIssue))
	tk.Version = 2 // the code was signed for version 1
	if err := tk.Validate(); !errors.Is(err, outbox.ErrInvalidTicket) {
		t.Errorf("Validate of a ticket whose code is for another version: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
