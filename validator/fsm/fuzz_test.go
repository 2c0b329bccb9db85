package fsm

import (
	"bytes"
	"testing"

	"github.com/admitpark/admit/validator/ticket"
)

// FuzzDecodeCommand checks that no input panics a decoder and that command
// decoding is canonical: whatever decodes re-encodes to the same bytes.
// Result and stored-record decoders get the same input. Seeds: one command
// of each type (sampleCommands) and testdata/fuzz/FuzzDecodeCommand.
func FuzzDecodeCommand(f *testing.F) {
	for _, b := range sampleCommands(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, err := DecodeCommand(data); err == nil {
			if out := c.appendTo(nil); !bytes.Equal(out, data) {
				t.Fatalf("not canonical:\n in  %x\n out %x", data, out)
			}
			if c.Type == TypeScanBatch || c.Type == TypeScanBatch2 {
				if (c.Type == TypeScanBatch2) != anyExt(c.Scans) {
					t.Fatalf("%s with ext %v", c.Type, anyExt(c.Scans))
				}
				for i := range c.Scans {
					if err := c.Scans[i].check(); err != nil {
						t.Fatalf("decoded scan the encoder refuses: %v", err)
					}
				}
			}
			if c.Type == TypeIssueBatch || c.Type == TypeIssueBatch2 || c.Type == TypeIssueBatch3 {
				for i := range c.Issues {
					if err := c.Issues[i].Ticket.Validate(); err != nil {
						t.Fatalf("decoded a ticket the encoder refuses: %v", err)
					}
					if err := checkCredentials(c.Issues[i].Credentials); err != nil {
						t.Fatalf("decoded credentials the encoder refuses: %v", err)
					}
				}
				if (c.Type == TypeIssueBatch3) != hasCredentials(c.Issues) {
					t.Fatalf("%s with credentials %v", c.Type, hasCredentials(c.Issues))
				}
				if c.Type == TypeIssueBatch2 && !hasProofs(c.Issues) || c.Type == TypeIssueBatch && hasProofs(c.Issues) {
					t.Fatalf("%s with proofs %v", c.Type, hasProofs(c.Issues))
				}
			}
			if c.Type == TypeConfigure || c.Type == TypeConfigure2 || c.Type == TypeConfigure3 {
				if (c.Type == TypeConfigure3) != (c.Configure.IDCardKey != nil) {
					t.Fatalf("%s with an id-card key %v", c.Type, c.Configure.IDCardKey != nil)
				}
				if c.Type != TypeConfigure3 && (c.Type == TypeConfigure2) != (c.Configure.Park != "" || len(c.Configure.Keys) > 0) {
					t.Fatalf("%s with park %q and %d keys", c.Type, c.Configure.Park, len(c.Configure.Keys))
				}
				if err := c.Configure.checkFormat(); err != nil {
					t.Fatalf("decoded configure the encoder refuses: %v", err)
				}
			}
		}
		// Results and records: must not panic; what decodes re-encodes.
		if rs, err := DecodeScanResults(data); err == nil {
			if out := AppendScanResults(nil, rs); !bytes.Equal(out, data) {
				t.Fatalf("scan results not canonical:\n in  %x\n out %x", data, out)
			}
		}
		_, _ = DecodeIssueResult(data)
		_, _ = DecodeRevokeResult(data)
		_, _ = DecodeUpdateResult(data)
		_ = DecodeConfigureResult(data)
		_, _ = DecodeExitAllResult(data)
		_, _ = DecodePurgeResult(data)
		_, _ = ResultType(data)
		var rec ScanResult
		_ = decodeScanRecord(data, &rec)
		_, _ = decodeEvents(1, data)
		_, _ = decodeGateRecord("g", data)
		var tk ticket.Ticket
		_, _ = decodeTicketRecord(data, 1, &tk)
		_, _ = parseEventsKey(data)
		_, _ = decodeBindings(data)
		_, _ = decodeScanRecordCred(data, &rec)
		_, _ = decodeConflictRecord(append([]byte(prefixConflict), make([]byte, 12)...), data)
	})
}
