package gate

import (
	"testing"

	"github.com/admitpark/admit/validator/gateapi"
)

// BenchmarkValidateScanCode and BenchmarkValidateScanCard measure what a
// node does with a scan before it queues it: parse the code, or bring a
// card value to its bound form. (The apply side: BenchmarkApply* in
// validator/fsm.)
func BenchmarkValidateScanCode(b *testing.B) {
	req := gateapi.ScanRequest{Code: sampleCode, Gate: "north-1", ScanID: "0000000000000001"}
	b.ReportAllocs()
	for b.Loop() {
		if _, invalid, err := validateScan(&req, fuzzIDKey); err != nil || invalid {
			b.Fatal(err, invalid)
		}
	}
}

func BenchmarkValidateScanCard(b *testing.B) {
	req := gateapi.ScanRequest{Credential: &gateapi.Credential{Kind: gateapi.CredentialCard, Value: "04:a1:b2:c3:d4:e5:f6"},
		Gate: "north-1", ScanID: "0000000000000001"}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := validateScan(&req, fuzzIDKey); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateScanIDCard(b *testing.B) {
	req := gateapi.ScanRequest{Credential: &gateapi.Credential{Kind: gateapi.CredentialIDCard, Value: "11010519491231002X"},
		Gate: "north-1", ScanID: "0000000000000001"}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := validateScan(&req, fuzzIDKey); err != nil {
			b.Fatal(err)
		}
	}
}
