package loadgen

import (
	"context"
	"encoding/json"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/admitpark/admit/validator/gateapi"
	"github.com/valyala/fasthttp"
)

// A typical deny as a node sends it.
const denyReply = `{"scan_id":"g1.abcd0123:17","result":"deny","reason":"already_used","ticket_id":"0123456789abcdef0123456789abcdef",` +
	`"product":"day-adult","entries_used":1,"entries_allowed":1,"first_entry_at":"2026-05-01T10:00:00Z","first_entry_gate":"bench-1"}`

// The fast decoder agrees with encoding/json on the replies it takes, and
// hands everything else to it.
func TestDecodeResults(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		batch      bool
		n          int
		want       []Result
		fast       bool   // taken by the fast path
		err        string // decodeResults fails with this
	}{
		{name: "deny", body: denyReply, n: 1, want: []Result{{Decision: Deny, Reason: "already_used"}}, fast: true},
		{name: "admit", body: `{"result":"admit","entries_used":1,"entries_allowed":0,"zone_warning":true}`, n: 1,
			want: []Result{{Decision: Admit}}, fast: true},
		{name: "rescan", body: ` { "result" : "admit" , "rescan" : true } `, n: 1, want: []Result{{Decision: Admit, Rescan: true}}, fast: true},
		{name: "unknown reason", body: `{"result":"deny","reason":"new_reason"}`, n: 1, want: []Result{{Decision: Deny, Reason: "new_reason"}}, fast: true},
		{name: "nested and escaped fields skipped", body: `{"x":{"a":[1,2.5e3,-1,null,false,"q\"\\"]},"first_entry_gate":"a\u00e9b","result":"deny","reason":"expired"}`,
			n: 1, want: []Result{{Decision: Deny, Reason: "expired"}}, fast: true},
		{name: "escaped reason", body: `{"result":"deny","reason":"a\u005fb"}`, n: 1, want: []Result{{Decision: Deny, Reason: "a_b"}}},
		{name: "batch", body: `{"results":[{"result":"admit","scan_id":"a:1"},{"result":"deny","reason":"unknown"}]}`, batch: true, n: 2,
			want: []Result{{Decision: Admit}, {Decision: Deny, Reason: "unknown"}}, fast: true},
		{name: "batch with an undecided scan", body: `{"results":[{"result":"admit"},{"scan_id":"a:2","error":"timeout"}]}`, batch: true, n: 2,
			want: []Result{{Decision: Admit}, {Err: "timeout"}}},
		{name: "neither admit nor deny", body: `{"result":"maybe"}`, n: 1, err: `result "maybe" is neither`},
		{name: "not JSON", body: `<html>`, n: 1, err: "reply:"},
		{name: "trailing data", body: `{"result":"admit"} x`, n: 1, err: "reply:"},
		{name: "short batch", body: `{"results":[{"result":"admit"}]}`, batch: true, n: 2, err: "1 results for 2 scans"},
		{name: "long batch", body: `{"results":[{"result":"admit"},{"result":"admit"},{"result":"admit"}]}`, batch: true, n: 2, err: "3 results for 2 scans"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := make([]Result, tc.n)
			if err := fastDecode([]byte(tc.body), res, tc.batch); (err == nil) != tc.fast {
				t.Fatalf("fast path: %v, want taken %v", err, tc.fast)
			}
			res = make([]Result, tc.n)
			err := decodeResults([]byte(tc.body), res, tc.batch)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(res, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", res, err, tc.want)
			}
		})
	}
}

// Whatever a node could send, the fast path and encoding/json read it the
// same (or the fast path leaves it to encoding/json).
func FuzzDecodeResults(f *testing.F) {
	f.Add("deny", "already_used", false, "", "bench-1", uint16(1))
	f.Add("admit", "", true, "", "", uint16(0))
	f.Add("deny", "a\"b", false, "", "g\\1", uint16(7))
	f.Add("admit", "", false, "timeout", "x", uint16(2))
	f.Fuzz(func(t *testing.T, result, reason string, rescan bool, errText, gateName string, used uint16) {
		r := gateapi.ScanResponse{ScanID: "g:1", Result: result, Reason: reason, Rescan: rescan, Error: errText,
			FirstEntryGate: gateName, EntriesUsed: used, Product: reason + gateName}
		one, _ := json.Marshal(r)
		two, _ := json.Marshal(gateapi.ScanBatchResponse{Results: []gateapi.ScanResponse{r, {Result: "admit"}}})
		for _, c := range []struct {
			body  []byte
			batch bool
			n     int
		}{{one, false, 1}, {two, true, 2}} {
			fast := make([]Result, c.n)
			if fastDecode(c.body, fast, c.batch) != nil {
				continue
			}
			slow := make([]Result, c.n)
			var err error
			if c.batch {
				var br gateapi.ScanBatchResponse
				if err = json.Unmarshal(c.body, &br); err == nil {
					for i := range br.Results {
						if err = resultOf(&br.Results[i], &slow[i]); err != nil {
							break
						}
					}
				}
			} else {
				var sr gateapi.ScanResponse
				if err = json.Unmarshal(c.body, &sr); err == nil {
					err = resultOf(&sr, &slow[0])
				}
			}
			if err != nil || !reflect.DeepEqual(fast, slow) {
				t.Fatalf("%s: fast %+v, encoding/json %+v (%v)", c.body, fast, slow, err)
			}
		}
	})
}

func BenchmarkDecodeResults(b *testing.B) {
	body := []byte(denyReply)
	res := make([]Result, 1)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := decodeResults(body, res, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r gateapi.ScanResponse
			if err := json.Unmarshal(body, &r); err != nil {
				b.Fatal(err)
			}
			if err := resultOf(&r, &res[0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGateConn is the load generator's own cost per single-scan
// request (body, fasthttp round trip over loopback, decode) against a
// server that answers at once.
func BenchmarkGateConn(b *testing.B) {
	reply := []byte(denyReply)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(reply)
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Shutdown() })
	cfg := DefaultConfig()
	cfg.Cluster = []string{"http://" + ln.Addr().String()}
	cfg.Gates, cfg.ConnsPerGate = 1, 1
	tg, err := newGateTarget(cfg, "gt_bench")
	if err != nil {
		b.Fatal(err)
	}
	defer tg.Close()
	c, err := tg.Conn(0)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r := &Request{Gate: "g1.abcd0123", Codes: make([]string, 1), Results: make([]Result, 1)}
	codes := testCodes(1000)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Seq, r.Codes[0], r.Deadline = int64(i), codes[i%len(codes)], time.Now().Add(time.Second)
		if err := c.Do(ctx, r); err != nil || r.Results[0].Decision != Deny {
			b.Fatal(err, r.Results)
		}
		i++
	}
}
