package fsm

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/rules"
	"github.com/admitpark/admit/validator/ticket"
)

func sampleScans() []Scan {
	return []Scan{
		{ScanID: "gate-7:000001", Gate: "g1", Direction: DirIn, Persons: 1, TicketID: [16]byte{1, 2, 3}, CodeVersion: 4, Digest: [16]byte{9, 8, 7}},
		{ScanID: "x", Gate: "east-exit", Direction: DirOut, Persons: 65535, CodeVersion: 1 << 31},
		{ScanID: strings.Repeat("s", MaxScanIDLen), Gate: strings.Repeat("g", ticket.MaxNameLen)},
	}
}

func sampleConfigure() Configure {
	return Configure{
		TimeZone:    "Europe/Paris",
		Zones:       []ticket.Zone{{ID: "main", Cap: 5000, Warn: 4500}, {ID: "coaster"}},
		DeleteZones: []string{"old"},
		Gates:       []Gate{{ID: "g1", Zone: "main", TokenHash: HashToken("t"), Direction: DirIn}, {ID: "g2", Zone: "coaster"}},
		DeleteGates: []string{"g9", "g10"},
	}
}

// sampleCommands returns one encoded command of every type.
func sampleCommands(t testing.TB) map[string][]byte {
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	full := tkt(1, ticket.Group, withZones("main", "coaster"))
	full.Holder, full.IDHash = "张三", HashToken("id")
	return map[string][]byte{
		"issue":      must(EncodeIssueBatch([]ticket.Ticket{full, tkt(2, ticket.Single)})),
		"revoke":     EncodeRevoke(Revoke{ID: [16]byte{1}, Version: 300}),
		"suspend":    must(EncodeUpdate(Update{ID: [16]byte{1}, Version: 2, Op: OpSuspend})),
		"extend":     must(EncodeUpdate(Update{ID: [16]byte{1}, Version: 3, Op: OpExtend, ValidUntil: t0})),
		"configure":  must(EncodeConfigure(sampleConfigure())),
		"configure2": must(EncodeConfigure(Configure{Park: "sunny", Keys: []Key{{ID: 1, Public: [32]byte{1}}, {ID: 0, Public: [32]byte{2}}}})),
		"issue2": must(EncodeIssues([]Issue{
			{Ticket: full, Park: "sunny", Code: sampleCodeBytes(t, full)},
			{Ticket: tkt(2, ticket.Single)},
		})),
		"issue3": must(EncodeIssues([]Issue{
			{Ticket: full, Park: "sunny", Code: sampleCodeBytes(t, full), Credentials: []Credential{
				{Kind: CredCard, Value: "04A1B2C3"}, {Kind: CredTicketNumber, Value: "000000000018"},
				{Kind: CredIDCard, Value: strings.Repeat("ab", 32)}}},
			{Ticket: tkt(2, ticket.Single)},
		})),
		"configure3": must(EncodeConfigure(Configure{TimeZone: "Asia/Shanghai", IDCardKey: bytes.Repeat([]byte{7}, IDCardKeyLen)})),
		"configure4": must(EncodeConfigure(Configure{Zones: []ticket.Zone{{ID: "main", MaskBit: 1}, {ID: "old", Cap: 9}, {ID: "z31", MaskBit: 32}}})),
		"configure4 with id-card key": must(EncodeConfigure(Configure{Zones: []ticket.Zone{{ID: "main", MaskBit: 3}},
			IDCardKey: bytes.Repeat([]byte{7}, IDCardKeyLen)})),
		"scans2":   must(EncodeScanBatch(sampleScans2())),
		"scans":    must(EncodeScanBatch(sampleScans())),
		"exit_all": EncodeExitAll(),
		"purge":    must(EncodePurgeScans(PurgeScans{Before: t0, Limit: 100})),
	}
}

func TestCommandRoundTrip(t *testing.T) {
	for name, b := range sampleCommands(t) {
		c, err := DecodeCommand(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if again := c.appendTo(nil); !bytes.Equal(again, b) {
			t.Fatalf("%s: re-encoding differs:\n%x\n%x", name, again, b)
		}
		// Every strict prefix fails cleanly; so does a trailing byte.
		for i := range len(b) {
			if _, err := DecodeCommand(b[:i]); err == nil {
				t.Fatalf("%s cut at %d decoded", name, i)
			}
		}
		if _, err := DecodeCommand(append(bytes.Clone(b), 0)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s with trailing byte: %v", name, err)
		}
	}
	c, _ := DecodeCommand(sampleCommands(t)["scans"])
	if !reflect.DeepEqual(c.Scans, sampleScans()) {
		t.Fatalf("scans: %+v", c.Scans)
	}
	c, _ = DecodeCommand(sampleCommands(t)["configure"])
	if !reflect.DeepEqual(c.Configure, sampleConfigure()) {
		t.Fatalf("configure: %+v", c.Configure)
	}
}

// The format is persisted in Raft logs: it must not change by accident.
func TestScanBatchGolden(t *testing.T) {
	b, err := EncodeScanBatch(sampleScans()[:1])
	if err != nil {
		t.Fatal(err)
	}
	want := "0105" + "01" + "0d" + hex.EncodeToString([]byte("gate-7:000001")) + "02" + "6731" + "01" + "0001" +
		"01020300000000000000000000000000" + "00000004" + "09080700000000000000000000000000"
	if got := hex.EncodeToString(b); got != want {
		t.Fatalf("encoding changed:\n got %s\nwant %s", got, want)
	}
}

func TestEncodersRefuse(t *testing.T) {
	bad := []struct {
		name string
		err  error
	}{
		{"empty scan batch", second(EncodeScanBatch(nil))},
		{"empty scan ID", second(EncodeScanBatch([]Scan{{Gate: "g"}}))},
		{"long scan ID", second(EncodeScanBatch([]Scan{{ScanID: strings.Repeat("s", 65), Gate: "g"}}))},
		{"no gate", second(EncodeScanBatch([]Scan{{ScanID: "s"}}))},
		{"bad direction", second(EncodeScanBatch([]Scan{{ScanID: "s", Gate: "g", Direction: 3}}))},
		{"too many scans", second(EncodeScanBatch(make([]Scan, MaxScanBatch+1)))},
		{"empty issue", second(EncodeIssueBatch(nil))},
		{"invalid ticket", second(EncodeIssueBatch([]ticket.Ticket{{}}))},
		{"update op", second(EncodeUpdate(Update{Op: 9}))},
		{"valid until on suspend", second(EncodeUpdate(Update{Op: OpSuspend, ValidUntil: 1}))},
		{"purge limit", second(EncodePurgeScans(PurgeScans{Limit: MaxPurgeMax + 1}))},
		{"empty zone ID", second(EncodeConfigure(Configure{Zones: []ticket.Zone{{}}}))},
		{"gate direction", second(EncodeConfigure(Configure{Zones: []ticket.Zone{{ID: "z"}}, Gates: []Gate{{ID: "g", Zone: "z", Direction: 7}}}))},
		{"local zone", second(EncodeConfigure(Configure{TimeZone: "Local"}))},
	}
	for _, c := range bad {
		if c.err == nil {
			t.Errorf("%s: encoded", c.name)
		}
	}
}

func second(_ []byte, err error) error { return err }

func TestResultsRoundTrip(t *testing.T) {
	rs := []ScanResult{
		{Result: rules.Admit, TicketID: [16]byte{1}, Product: "adult", Kind: ticket.Group, Persons: 3,
			EntriesUsed: 3, EntriesAllowed: 5, FirstAt: t0, FirstGate: "g1", ZoneWarn: true, Index: 1 << 40, Pos: 4095},
		{Result: rules.Deny, Reason: rules.AlreadyUsed, Rescan: true, FirstAt: -1},
		{Error: ScanUnknownGate},
	}
	got, err := DecodeScanResults(AppendScanResults(nil, rs))
	if err != nil || !reflect.DeepEqual(got, rs) {
		t.Fatalf("scan results: %v\n%+v", err, got)
	}
	outs := []Outcome{OutcomeApplied, OutcomeStale}
	if got, err := DecodeIssueResult(EncodeIssueResult(outs)); err != nil || !reflect.DeepEqual(got, outs) {
		t.Fatalf("issue: %v %v", got, err)
	}
	rv := RevokeResult{Outcome: OutcomeAlreadyUsed, FirstAt: t0, FirstGate: "g", Zone: "z"}
	if got, err := DecodeRevokeResult(EncodeRevokeResult(rv)); err != nil || got != rv {
		t.Fatalf("revoke: %+v %v", got, err)
	}
	if got, err := DecodeUpdateResult(EncodeUpdateResult(OutcomeConflict)); err != nil || got != OutcomeConflict {
		t.Fatalf("update: %v %v", got, err)
	}
	if err := DecodeConfigureResult(EncodeConfigureResult()); err != nil {
		t.Fatal(err)
	}
	ea := ExitAllResult{Epoch: 9, Zones: 3}
	if got, err := DecodeExitAllResult(EncodeExitAllResult(ea)); err != nil || got != ea {
		t.Fatalf("exit all: %+v %v", got, err)
	}
	pr := PurgeResult{Events: 5, ScanIDs: 4, More: true}
	if got, err := DecodePurgeResult(EncodePurgeResult(pr)); err != nil || got != pr {
		t.Fatalf("purge: %+v %v", got, err)
	}
	if typ, err := ResultType(EncodePurgeResult(pr)); err != nil || typ != TypePurgeScans {
		t.Fatalf("result type %v %v", typ, err)
	}
	// A result of one type does not decode as another.
	if _, err := DecodeUpdateResult(EncodeIssueResult(outs)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("wrong type: %v", err)
	}
	if _, err := DecodeUpdateResult(EncodeUpdateResult(0)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("zero outcome: %v", err)
	}
}

func TestScanFromCode(t *testing.T) {
	ks := code.NewKeySet()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	if err := ks.AddPrivate(3, priv); err != nil {
		t.Fatal(err)
	}
	claims := code.Claims{KeyID: 3, TicketID: [16]byte{5, 6}, Version: 7}
	text, err := ks.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	c, err := code.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	s := ScanFromCode("id", "g1", DirOut, 2, c)
	if s.TicketID != claims.TicketID || s.CodeVersion != 7 || s.Digest != [16]byte(c.Digest()) || s.Direction != DirOut || s.Persons != 2 {
		t.Fatalf("scan %+v", s)
	}
}

func TestEnumNames(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{DirBoth.String(), "both"}, {DirOut.String(), "out"}, {Direction(9).String(), "direction(9)"},
		{OutcomeAlreadyUsed.String(), "already_used"}, {Outcome(0).String(), "outcome(0)"},
		{ScanUnknownGate.String(), "unknown_gate"}, {ScanOK.String(), ""},
		{OpExtend.String(), "extend"}, {TypeScanBatch.String(), "scan_batch"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	for _, s := range []string{"", "both", "in", "out"} {
		var d Direction
		if err := d.UnmarshalText([]byte(s)); err != nil {
			t.Errorf("direction %q: %v", s, err)
		}
	}
	if _, err := ParseDirection("up"); err == nil {
		t.Error("direction up parsed")
	}
	if op, err := ParseUpdateOp("resume"); err != nil || op != OpResume {
		t.Errorf("ParseUpdateOp: %v %v", op, err)
	}
	if _, err := ParseUpdateOp(""); err == nil {
		t.Error("empty op parsed")
	}
}

// sampleScans2 are scans a ScanBatch2 carries: a credential, a device
// time, offline decisions, and a plain code scan among them.
func sampleScans2() []Scan {
	scans := sampleScans()
	return append(scans,
		Scan{ScanID: "c1", Gate: "g1", Credential: Credential{Kind: CredCard, Value: "04A1B2C3"}, DeviceTime: t0 - 5},
		Scan{ScanID: "c2", Gate: "g1", Credential: Credential{Kind: CredTicketNumber, Value: "000000000018"}, Offline: OfflineAdmit},
		Scan{ScanID: "c3", Gate: "g1", TicketID: [16]byte{9}, CodeVersion: 1, Digest: [16]byte{9}, Offline: OfflineDeny, DeviceTime: 1},
	)
}
