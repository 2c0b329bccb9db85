package gate

import (
	"crypto/ed25519"
	"reflect"
	"strings"
	"testing"

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
	f.Fuzz(func(t *testing.T, body []byte) {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetBody(body)
		var req gateapi.ScanRequest
		if err := httpapi.DecodeJSON(&ctx, &req, false); err != nil {
			return
		}
		scan, invalid, err := validateScan(&req)
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
			if s, invalid, err := validateScan(&std.Scans[i]); err == nil && !invalid {
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
	f.Add([]byte(`{"id":"g\u0000","zone":"main"}`))
	f.Add([]byte("{\"id\":\"g\",\"zone\":\"\xff\"}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		g, _, err := decodeGateAdd(body)
		if err != nil {
			return
		}
		if !ticket.ValidCleanName(g.ID) || !ticket.ValidCleanName(g.Zone) || g.Token != "" {
			t.Fatalf("accepted %q: %+v", body, g)
		}
	})
}

// FuzzZoneBody: POST /v1/zones.
func FuzzZoneBody(f *testing.F) {
	f.Add([]byte(`{"id":"main","cap":100,"warn":90}`))
	f.Add([]byte(`{"id":"main","cap":10,"warn":90}`))
	f.Add([]byte(`{"id":"m\u0085"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		z, err := decodeZoneSet(body)
		if err != nil {
			return
		}
		if !ticket.ValidCleanName(z.ID) || z.Occupancy != 0 || (z.Cap > 0 && z.Warn > z.Cap) {
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
