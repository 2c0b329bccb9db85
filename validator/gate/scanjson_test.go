package gate

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/admitpark/admit/validator/gateapi"
)

// strictDecode is what httpapi.DecodeJSON does with a body.
func strictDecode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errMore
	}
	return nil
}

var errMore = &json.SyntaxError{}

var scanBodies = []string{
	`{"code":"NCFOXN%TS3DH","gate":"north-1","scan_id":"a1"}`,
	`{"gate":"g1","scan_id":"x","code":"C","direction":"out","persons":3}`,
	` { "code" : "A" , "gate":"g", "scan_id":"1", "persons": 0 } `,
	`{"code":"A","gate":"g","scan_id":"1","persons":65535}`,
	`{}`,
	`{"code":"A","code":"B"}`,
	`{"Code":"A"}`,
	`{"code":"\u0041"}`,
	`{"code":"é"}`,
	`{"persons":65536}`,
	`{"persons":-1}`,
	`{"persons":1.0}`,
	`{"persons":01}`,
	`{"persons":null}`,
	`{"code":"A"} {}`,
	`{"code":"A",}`,
	`{"extra":1}`,
	`[]`,
	``,
	`{"code":"A"`,
}

// TestScanRequestFastPath: the plain bodies gates send take the fast path,
// the rest fall back, and whatever the fast path accepts encoding/json
// decodes the same (the fuzz target checks this for any body).
func TestScanRequestFastPath(t *testing.T) {
	for i, b := range scanBodies {
		var r gateapi.ScanRequest
		fast := decodeScanRequestFast([]byte(b), &r)
		if want := i < 5; fast != want {
			t.Errorf("%s: fast path %v, want %v", b, fast, want)
		}
		checkScanRequestSame(t, []byte(b))
	}
	batch := `{"scans":[` + strings.Join(scanBodies[:4], ",") + `]}`
	var r gateapi.ScanBatchRequest
	if !decodeScanBatchFast([]byte(batch), &r, 10) || len(r.Scans) != 4 {
		t.Fatalf("batch not on the fast path: %+v", r)
	}
	if decodeScanBatchFast([]byte(batch), &r, 3) {
		t.Fatal("a batch over the limit must go to the slow path (and its limit check)")
	}
	checkScanBatchSame(t, []byte(batch))
	checkScanBatchSame(t, []byte(`{"scans":[]}`))
}

func checkScanRequestSame(t *testing.T, body []byte) {
	var fast gateapi.ScanRequest
	if !decodeScanRequestFast(body, &fast) {
		return
	}
	var slow gateapi.ScanRequest
	if err := strictDecode(body, &slow); err != nil {
		t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", body, err)
	}
	if fast != slow {
		t.Fatalf("%q: fast path %+v, encoding/json %+v", body, fast, slow)
	}
}

func checkScanBatchSame(t *testing.T, body []byte) {
	var fast gateapi.ScanBatchRequest
	if !decodeScanBatchFast(body, &fast, 1000) {
		return
	}
	var slow gateapi.ScanBatchRequest
	if err := strictDecode(body, &slow); err != nil {
		t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", body, err)
	}
	if len(fast.Scans) == 0 && len(slow.Scans) == 0 {
		return
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%q: fast path %+v, encoding/json %+v", body, fast, slow)
	}
}

// deviceBodies carry a device time and an offline decision: the fast path
// takes them too, as encoding/json would.
var deviceBodies = []string{
	`{"code":"A","gate":"g","scan_id":"1","device_time":"2026-01-01T10:00:00.123+08:00","offline":"admit"}`,
	`{"code":"A","gate":"g","scan_id":"1","device_time":"2026-01-01T02:00:00Z"}`,
	`{"code":"A","gate":"g","scan_id":"1","device_time":"2026-13-01T02:00:00Z"}`,
	`{"code":"A","gate":"g","scan_id":"1","device_time":"yesterday"}`,
	`{"code":"A","device_time":"2026-01-01T02:00:00Z","device_time":"2026-01-01T02:00:00Z"}`,
	`{"code":"A","device_time":null}`,
}

func TestScanRequestFastPathDeviceTime(t *testing.T) {
	for i, b := range deviceBodies {
		var r gateapi.ScanRequest
		if fast := decodeScanRequestFast([]byte(b), &r); fast != (i < 2) {
			t.Errorf("%s: fast path %v", b, fast)
		}
		checkScanRequestSame(t, []byte(b))
	}
}

func FuzzScanRequestFastPath(f *testing.F) {
	for _, b := range deviceBodies {
		f.Add([]byte(b))
	}
	for _, b := range scanBodies {
		f.Add([]byte(b))
		f.Add([]byte(`{"scans":[` + b + `]}`))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkScanRequestSame(t, body)
		checkScanBatchSame(t, body)
	})
}

// TestScanResponseBytes: the hand-written reply is byte for byte what
// encoding/json writes, escapes included.
func TestScanResponseBytes(t *testing.T) {
	for _, r := range []gateapi.ScanResponse{
		{Result: "admit", TicketID: "0123", Product: "day-adult", Persons: 1, EntriesUsed: 1, EntriesAllowed: 1, FirstEntryAt: "2026-01-01T10:00:00+08:00", FirstEntryGate: "north-1"},
		{ScanID: "s-1", Result: "deny", Reason: "already_used", Rescan: true, ZoneWarning: true, Error: "x"},
		{Result: "deny", Product: `Kids <6> & "friends" \ 儿童票` + "\x01\u2028"},
		{ScanID: "up-1", Result: "admit", Reason: "already_used", Offline: true, Conflict: true},
		{Result: "deny", Reason: "offline_deny", Offline: true, Rescan: true},
		{},
	} {
		checkScanResponseSame(t, r)
	}
	checkBatchResponseSame(t, gateapi.ScanBatchResponse{Results: []gateapi.ScanResponse{{Result: "admit"}, {ScanID: "b", Result: "deny", Reason: "revoked"}}})
	checkBatchResponseSame(t, gateapi.ScanBatchResponse{Results: []gateapi.ScanResponse{}})
}

func checkScanResponseSame(t *testing.T, r gateapi.ScanResponse) {
	var want bytes.Buffer
	json.NewEncoder(&want).Encode(r)
	if got := appendScanResponse(nil, &r); !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("reply\n got %s\nwant %s", got, want.Bytes())
	}
}

func checkBatchResponseSame(t *testing.T, r gateapi.ScanBatchResponse) {
	var want bytes.Buffer
	json.NewEncoder(&want).Encode(r)
	if got := appendScanBatchResponse(nil, &r); !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("batch reply\n got %s\nwant %s", got, want.Bytes())
	}
}

func FuzzScanResponseBytes(f *testing.F) {
	f.Add("s1", "deny", "already_used", "day-adult", "north-1", uint16(1), true)
	f.Add("", "admit", "", "Kids <6> & \"x\"", "\xff\xfe", uint16(0), false)
	f.Fuzz(func(t *testing.T, scanID, result, reason, product, gate string, n uint16, flag bool) {
		checkScanResponseSame(t, gateapi.ScanResponse{ScanID: scanID, Result: result, Reason: reason, Rescan: flag,
			Product: product, Persons: n, EntriesUsed: n / 2, EntriesAllowed: n, FirstEntryGate: gate, ZoneWarning: !flag, Error: reason,
			Offline: flag, Conflict: n%2 == 1})
	})
}
