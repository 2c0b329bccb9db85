package gate

import (
	"crypto/ed25519"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/admitpark/admit/cluster/httpapi"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/fsm"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// Fuzz targets for every decoder that reads the network on the gate side.
// Their seeds run in every `go test`; `make fuzz` runs them for longer.
// Each checks: no panic, and what is accepted is well-formed (clean text
// only, see input.go).

// FuzzScanRequest feeds arbitrary bodies through the scan request decoder
// and validation: never a panic, and what is accepted is well-formed.
func FuzzScanRequest(f *testing.F) {
	f.Add([]byte(`{"code":"ABC","gate":"g1","scan_id":"1"}`))
	f.Add([]byte(`{"code":"ABC","gate":"g1","scan_id":"1","direction":"out","persons":3}`))
	f.Add([]byte(`{"code":"","gate":"","scan_id":""}`))
	f.Add([]byte(`{"code":"\u0000","gate":"g","scan_id":"\ud800"}`))
	f.Add([]byte("{\"code\":\"ABC\",\"gate\":\"g1\",\"scan_id\":\"a\xffb\"}"))
	f.Add([]byte(`{"code":"ABC","gate":"g1","scan_id":"a\u0000b"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"scans":[{"code":"A"}]}`))
	f.Add([]byte(`{"credential":{"kind":"card","value":"04:a1:b2"},"gate":"g1","scan_id":"1"}`))
	f.Add([]byte(`{"credential":{"kind":"ticket_number","value":"0000 0000 0018"},"gate":"g1","scan_id":"1","device_time":"2026-01-01T10:00:00+08:00"}`))
	f.Add([]byte(`{"credential":{"kind":"id_card","value":"11010519491231002x"},"gate":"g1","scan_id":"1","offline":"admit"}`))
	f.Add([]byte(`{"code":"ABC","credential":{"kind":"card","value":"1"},"gate":"g1","scan_id":"1"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetBody(body)
		var req gateapi.ScanRequest
		if err := httpapi.DecodeJSON(&ctx, &req, false); err != nil {
			return
		}
		scan, invalid, err := validateScan(&req, fuzzIDKey)
		if err != nil || invalid {
			return
		}
		if scan.ScanID != req.ScanID || scan.Gate != req.Gate || len(scan.ScanID) == 0 || len(scan.ScanID) > 64 {
			t.Fatalf("accepted request %q became scan %+v", body, scan)
		}
		if !ticket.CleanText(scan.ScanID) || !ticket.CleanText(scan.Gate) {
			t.Fatalf("accepted request %q with unclean text: %+v", body, scan)
		}
		var batch gateapi.ScanBatchRequest
		_ = httpapi.DecodeJSON(&ctx, &batch, false)
	})
}

// FuzzScanBatch: the body of POST /v1/scans, both decoders, and the
// validation of each scan (FuzzScanRequestFastPath in scanjson_test.go
// compares the decoders in depth).
func FuzzScanBatch(f *testing.F) {
	f.Add([]byte(`{"scans":[{"code":"A","gate":"g1","scan_id":"1"},{"code":"B","gate":"g1","scan_id":"2","persons":2}]}`))
	f.Add([]byte(`{"scans":[]}`))
	f.Add([]byte(`{"scans":[{"code":"A","gate":"g1","scan_id":"\u0000"}]}`))
	f.Add([]byte(`{"scans":null}`))
	f.Add([]byte(`{"scans":[{}` + strings.Repeat(`,{}`, 5) + `]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		const max = 4
		var fast gateapi.ScanBatchRequest
		fastOK := decodeScanBatchFast(body, &fast, max)
		var std gateapi.ScanBatchRequest
		err := httpapi.DecodeJSONBytes(body, &std, false)
		if fastOK {
			if err != nil {
				t.Fatalf("fast path accepted %q, encoding/json refused it: %v", body, err)
			}
			if len(fast.Scans) > max || (len(fast.Scans) > 0 || len(std.Scans) > 0) && !reflect.DeepEqual(fast.Scans, std.Scans) {
				t.Fatalf("%q: fast path %+v, encoding/json %+v", body, fast, std)
			}
		}
		for i := range std.Scans {
			if s, invalid, err := validateScan(&std.Scans[i], fuzzIDKey); err == nil && !invalid {
				if !ticket.CleanText(s.ScanID) || !ticket.CleanText(s.Gate) {
					t.Fatalf("accepted scan %d of %q with unclean text", i, body)
				}
			}
		}
	})
}

// sampleCodeID and sampleCode are a ticket id and a code signed for it
// (version 1) with a fixed key, for seeds.
var sampleCodeID, sampleCode = func() (string, string) {
	id := [16]byte{0xab, 1}
	c, err := code.Sign(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)), code.Claims{KeyID: 1, TicketID: id, Version: 1})
	if err != nil {
		panic(err)
	}
	return ticket.FormatID(id), c
}()

// FuzzIssueBody: POST /v1/tickets/issue.
func FuzzIssueBody(f *testing.F) {
	d := `"digest":"` + strings.Repeat("0", 32) + `"`
	f.Add([]byte(`{"tickets":[{"id":"` + strings.Repeat("ab", 16) + `","version":1,"product":"day","kind":"single",` + d + `}]}`))
	f.Add([]byte(`{"tickets":[{"id":"` + strings.Repeat("ab", 16) + `","version":1,"product":"day","kind":"multi","entries":3,"zones":["main","z2"],"holder":"Zoë",` + d + `}]}`))
	f.Add([]byte(`{"tickets":[{"id":"` + strings.Repeat("ab", 16) + `","version":1,"product":"d\u0000","kind":"single",` + d + `}]}`))
	f.Add([]byte(`{"tickets":[]}`))
	f.Add([]byte(`{"tickets":[{"valid_from":"2025-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"tickets":[{"id":"` + strings.Repeat("ab", 16) + `","version":1,"product":"day","kind":"single","park":"sunny",` + d + `}]}`))
	f.Add([]byte(`{"tickets":[{"id":"` + strings.Repeat("ab", 16) + `","version":1,"product":"day","kind":"single","park":"s\u0001",` + d + `}]}`))
	f.Add([]byte(`{"tickets":[{"id":"` + sampleCodeID + `","version":1,"product":"day","kind":"single","code":"` + sampleCode + `"}]}`))
	f.Add([]byte(`{"tickets":[{"id":"ab010000000000000000000000000000","version":1,"product":"p","kind":"single","digest":"00000000000000000000000000000000","credentials":[{"kind":"card","value":"04:a1"},{"kind":"ticket_number","value":"0000 0000 0018"},{"kind":"id_card","value":"` + strings.Repeat("AB", 32) + `"}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		issues, err := decodeIssue(body, 8)
		if err != nil {
			return
		}
		if _, err := fsm.EncodeIssues(issues); err != nil {
			t.Fatalf("accepted %q that the command encoder refuses: %v", body, err)
		}
		for _, is := range issues {
			tk := is.Ticket
			if is.Park != "" && !ticket.ValidCleanName(is.Park) {
				t.Fatalf("accepted %q with park %q", body, is.Park)
			}
			if err := tk.Validate(); err != nil {
				t.Fatalf("accepted %q: %v", body, err)
			}
			clean := ticket.CleanText(tk.Product) && ticket.CleanText(tk.Holder)
			for _, z := range tk.Zones {
				clean = clean && ticket.CleanText(z)
			}
			if !clean {
				t.Fatalf("accepted %q with unclean text: %+v", body, tk)
			}
		}
	})
}

// FuzzChangeBody: POST /v1/tickets/{id}/revoke and /update.
func FuzzChangeBody(f *testing.F) {
	f.Add("revoke", []byte(`{"version":2}`))
	f.Add("update", []byte(`{"version":3,"op":"extend","valid_until":"2030-01-01T00:00:00Z"}`))
	f.Add("update", []byte(`{"version":3,"op":"suspend"}`))
	f.Add("update", []byte(`{"version":3,"op":"s\u0000"}`))
	f.Add("revoke", []byte(`{"version":0}`))
	f.Fuzz(func(t *testing.T, action string, body []byte) {
		if action != "revoke" {
			action = "update"
		}
		cmd, err := decodeChange(action, [16]byte{1}, body)
		if err == nil && len(cmd) == 0 {
			t.Fatalf("accepted %s %q with an empty command", action, body)
		}
	})
}

// FuzzGateBody: POST /v1/gates.
func FuzzGateBody(f *testing.F) {
	f.Add([]byte(`{"id":"north-1","zone":"main","direction":"in"}`))
	f.Add([]byte(`{"id":"g","zone":"z","token":"t"}`))
	f.Add([]byte(`{"id":"g","zone":"z","zone_bit":1}`))
	f.Add([]byte(`{"id":"g\u0000","zone":"main"}`))
	f.Add([]byte("{\"id\":\"g\",\"zone\":\"\xff\"}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		g, _, err := decodeGateAdd(body)
		if err != nil {
			return
		}
		if !ticket.ValidCleanName(g.ID) || !ticket.ValidCleanName(g.Zone) || g.Token != "" || g.ZoneBit != nil {
			t.Fatalf("accepted %q: %+v", body, g)
		}
	})
}

// FuzzZoneBody: POST /v1/zones.
func FuzzZoneBody(f *testing.F) {
	f.Add([]byte(`{"id":"main","cap":100,"warn":90}`))
	f.Add([]byte(`{"id":"main","cap":10,"warn":90}`))
	f.Add([]byte(`{"id":"m\u0085"}`))
	f.Add([]byte(`{"id":"main","bit":31}`))
	f.Add([]byte(`{"id":"main","bit":32}`))
	f.Add([]byte(`{"id":"main","bit":-1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		z, err := decodeZoneSet(body)
		if err != nil {
			return
		}
		if !ticket.ValidCleanName(z.ID) || z.Occupancy != 0 || (z.Cap > 0 && z.Warn > z.Cap) || z.Bit != nil && (*z.Bit < 0 || *z.Bit > 31) {
			t.Fatalf("accepted %q: %+v", body, z)
		}
	})
}

// FuzzParkBody: PUT /v1/park.
func FuzzParkBody(f *testing.F) {
	f.Add([]byte(`{"time_zone":"Asia/Shanghai"}`))
	f.Add([]byte(`{"time_zone":"UTC\u0000"}`))
	f.Add([]byte(`{"time_zone":"../../etc/passwd"}`))
	f.Add([]byte(`{"id":"sunny","keys":[{"id":1,"public":"` + strings.Repeat("A", 43) + `="}]}`))
	f.Add([]byte(`{"keys":[{"id":1,"public":"` + strings.Repeat("A", 43) + `="},{"id":1,"public":"` + strings.Repeat("B", 43) + `="}]}`))
	f.Add([]byte(`{"id":"s\u007f"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, c, err := decodePark(body)
		if err != nil {
			return
		}
		if p.TimeZone == "" && p.ID == "" && len(p.Keys) == 0 {
			t.Fatalf("accepted %q that changes nothing", body)
		}
		if !ticket.CleanText(p.TimeZone) || (p.ID != "" && !ticket.ValidCleanName(p.ID)) || len(c.Keys) != len(p.Keys) {
			t.Fatalf("accepted %q: %+v", body, p)
		}
		if _, err := fsm.EncodeConfigure(c); err != nil {
			t.Fatalf("accepted %q that the command encoder refuses: %v", body, err)
		}
	})
}

// FuzzEventCursor: ?after= of GET /v1/events; an accepted cursor formats
// back to one that parses the same.
func FuzzEventCursor(f *testing.F) {
	for _, s := range []string{"", "0", "0.0", "1234.5", "1234.", ".5", "18446744073709551615.4294967295", "18446744073709551616.0", "1.4294967296", "-1.0", "+1.0", "1.2.3", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCursor(s)
		if err != nil {
			return
		}
		again, err := parseCursor(formatCursor(c))
		if err != nil || again != c {
			t.Fatalf("%q: parsed %+v, formatted %q, parsed again %+v, %v", s, c, formatCursor(c), again, err)
		}
	})
}

// fuzzIDKey is the ID-card key the fuzz targets validate with.
func fuzzIDKey() []byte { return []byte("0123456789abcdef0123456789abcdef") }

// FuzzCredential: a credential as a gate sends it, with a device time and
// an offline decision. Never a panic; what is accepted is in the normal
// form the state machine indexes (fsm.ValidCredential, no ID number in
// it); a ticket number with a wrong check digit is an item error.
func FuzzCredential(f *testing.F) {
	f.Add("card", "04:A1:b2:C3", "", "")
	f.Add("ticket_number", "0000-0000-0018", "2026-01-01T10:00:00Z", "admit")
	f.Add("ticket_number", "000000000019", "", "deny")
	f.Add("id_card", "11010519491231002X", "1999-12-31T23:59:59Z", "")
	f.Add("id_card", " 1101 0519 4912 3100 2x ", "", "maybe")
	f.Add("card", "\x00\xff", "", "")
	f.Add("passport", "X1", "", "")
	f.Fuzz(func(t *testing.T, kind, value, deviceTime, offline string) {
		req := gateapi.ScanRequest{Credential: &gateapi.Credential{Kind: kind, Value: value}, Gate: "g1", ScanID: "s1", Offline: offline}
		if dt, err := time.Parse(time.RFC3339Nano, deviceTime); err == nil {
			req.DeviceTime = dt
		}
		for _, key := range []func() []byte{fuzzIDKey, func() []byte { return nil }} {
			s, invalid, err := validateScan(&req, key)
			var ie *itemError
			if errors.As(err, &ie) {
				if kind == gateapi.CredentialTicketNumber {
					if _, ok := gateapi.NormalizeTicketNumber(value); ok {
						t.Fatalf("good ticket number %q refused as an item: %v", value, err)
					}
				}
				continue
			}
			if err != nil {
				continue
			}
			if invalid || !fsm.ValidCredential(s.Credential) || s.TicketID != [16]byte{} {
				t.Fatalf("%s %q accepted as %+v", kind, value, s)
			}
			if n := gateapi.NormalizeIDNumber(value); s.Credential.Kind == fsm.CredIDCard && len(n) >= 8 && strings.Contains(s.Credential.Value, n) {
				t.Fatalf("ID number %q reaches the log: %q", value, s.Credential.Value)
			}
			if _, err := fsm.EncodeScanBatch([]fsm.Scan{s}); err != nil {
				t.Fatalf("accepted scan the encoder refuses: %v", err)
			}
		}
	})
}
