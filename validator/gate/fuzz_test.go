package gate

import (
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/admitpark/admit/cluster/httpapi"
	"github.com/admitpark/admit/validator/gateapi"
)

// FuzzScanRequest feeds arbitrary bodies through the scan request decoder
// and validation: never a panic, and what is accepted is well-formed.
func FuzzScanRequest(f *testing.F) {
	f.Add([]byte(`{"code":"ABC","gate":"g1","scan_id":"1"}`))
	f.Add([]byte(`{"code":"ABC","gate":"g1","scan_id":"1","direction":"out","persons":3}`))
	f.Add([]byte(`{"code":"","gate":"","scan_id":""}`))
	f.Add([]byte(`{"code":"\u0000","gate":"g","scan_id":"\ud800"}`))
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
		var batch gateapi.ScanBatchRequest
		_ = httpapi.DecodeJSON(&ctx, &batch, false)
	})
}
