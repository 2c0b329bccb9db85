package fsm

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"reflect"
	"testing"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/rules"
	"github.com/admitpark/admit/validator/ticket"
)

// testKey is a signing key made from seed: the same on every run.
func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func publicKey(id uint8, priv ed25519.PrivateKey) Key {
	k := Key{ID: id}
	copy(k.Public[:], priv.Public().(ed25519.PublicKey))
	return k
}

// signed returns t with the digest of a code signed for it with priv under
// key id, and the issue carrying that code.
func signed(t testing.TB, tk ticket.Ticket, id uint8, priv ed25519.PrivateKey) Issue {
	t.Helper()
	text, err := code.Sign(priv, code.Claims{KeyID: id, TicketID: tk.ID, Version: uint32(tk.Version), Kind: uint8(tk.Kind), Entries: tk.Entries})
	if err != nil {
		t.Fatal(err)
	}
	c, err := code.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	tk.Digest = c.Digest()
	return Issue{Ticket: tk, Code: c.Binary()}
}

// sampleCodeBytes is a signed code for tk, for the command samples.
func sampleCodeBytes(t testing.TB, tk ticket.Ticket) []byte {
	is := signed(t, tk, 1, testKey(1))
	return is.Code
}

func (e *env) issues(issues ...Issue) []Outcome {
	e.t.Helper()
	out, err := DecodeIssueResult(e.mustApply(EncodeIssues(issues)))
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// issueRaw writes an issue command straight into the log, past the
// encoder's checks, as a member with write access to the log could.
func (e *env) issueRaw(typ CommandType, issues ...Issue) []Outcome {
	e.t.Helper()
	c := Command{Type: typ, Issues: issues}
	out, err := DecodeIssueResult(e.mustApply(c.appendTo(nil), nil))
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) absent(id [16]byte) {
	e.t.Helper()
	if _, _, found, err := Ticket(e.st, id); err != nil || found {
		e.t.Fatalf("ticket %x: found=%v, %v; want nothing written", id, found, err)
	}
}

func TestForgedTicketRefusedAndUnknownAtTheGate(t *testing.T) {
	e := newPark(t)
	parkKey, forger := testKey(1), testKey(2)
	e.configure(Configure{Keys: []Key{publicKey(1, parkKey)}})

	// Signed under the park's key id by a key the park does not have.
	forged := signed(t, tkt(1, ticket.Single), 1, forger)
	if got := e.issueRaw(TypeIssueBatch2, forged); got[0] != OutcomeBadSignature {
		t.Fatalf("forged: %v", got)
	}
	e.absent(forged.Ticket.ID)
	expect(t, "scan of the forged ticket", e.scan1(scanOf("s1", "g1", forged.Ticket)), rules.Deny, rules.Unknown)

	// Other ways to mint: no code at all (an old-format IssueBatch too),
	// a key id the park does not have, a code that does not parse, a
	// good code for another ticket, version or digest.
	good := signed(t, tkt(2, ticket.Single), 1, parkKey)
	otherID := good
	otherID.Ticket.ID = tkt(3, ticket.Single).ID
	otherVersion := good
	otherVersion.Ticket.Version = 2
	otherDigest := good
	otherDigest.Ticket.Digest[0] ^= 1
	garbled := good
	garbled.Code = append(bytes.Clone(good.Code[:50]), 0xff)
	for _, c := range []struct {
		name string
		typ  CommandType
		is   Issue
		want Outcome
	}{
		{"no code", TypeIssueBatch2, Issue{Ticket: tkt(4, ticket.Single), Park: "p"}, OutcomeUnsigned},
		{"old format", TypeIssueBatch, Issue{Ticket: tkt(4, ticket.Single)}, OutcomeUnsigned},
		{"unknown key id", TypeIssueBatch2, signed(t, tkt(4, ticket.Single), 9, parkKey), OutcomeBadSignature},
		{"garbled code", TypeIssueBatch2, garbled, OutcomeBadSignature},
		{"code of another ticket", TypeIssueBatch2, otherID, OutcomeBadSignature},
		{"code of another version", TypeIssueBatch2, otherVersion, OutcomeBadSignature},
		{"digest not the code's", TypeIssueBatch2, otherDigest, OutcomeBadSignature},
	} {
		if got := e.issueRaw(c.typ, c.is); got[0] != c.want {
			t.Errorf("%s: %v, want %v", c.name, got[0], c.want)
		}
		e.absent(c.is.Ticket.ID)
	}

	// The real one goes in and admits, once.
	if got := e.issues(good); got[0] != OutcomeApplied {
		t.Fatalf("signed: %v", got)
	}
	expect(t, "signed ticket", e.scan1(scanOf("s2", "g1", good.Ticket)), rules.Admit, rules.None)
	expect(t, "signed ticket again", e.scan1(scanOf("s3", "g1", good.Ticket)), rules.Deny, rules.AlreadyUsed)

	// A forged reissue of it is refused and changes nothing; a resend of
	// the good one is stale (no second verification needed).
	forgedReissue := signed(t, reprint(good.Ticket, 2), 1, forger)
	if got := e.issues(forgedReissue); got[0] != OutcomeBadSignature {
		t.Fatalf("forged reissue: %v", got)
	}
	if tk, _ := e.ticket(good.Ticket.ID); tk.Version != 1 || tk.Digest != good.Ticket.Digest {
		t.Fatalf("forged reissue changed the ticket: %+v", tk)
	}
	if got := e.issues(good); got[0] != OutcomeStale {
		t.Fatalf("resend: %v", got)
	}
}

func TestSigningKeysReplacedAsASet(t *testing.T) {
	e := newPark(t)
	k1, k2 := testKey(1), testKey(2)
	e.configure(Configure{Keys: []Key{publicKey(1, k1)}})
	e.configure(Configure{Keys: []Key{publicKey(2, k2)}, TimeZone: "Asia/Shanghai"})
	_, keys, err := Park(e.st)
	if err != nil || !reflect.DeepEqual(keys, []Key{publicKey(2, k2)}) {
		t.Fatalf("keys %v, %v", keys, err)
	}
	if got := e.issues(signed(t, tkt(1, ticket.Single), 1, k1), signed(t, tkt(2, ticket.Single), 2, k2)); got[0] != OutcomeBadSignature || got[1] != OutcomeApplied {
		t.Fatalf("after rotation: %v", got)
	}
	// A Configure without keys leaves them.
	e.configure(Configure{Zones: []ticket.Zone{{ID: "extra"}}})
	if _, keys, _ := Park(e.st); len(keys) != 1 {
		t.Fatalf("keys after a configure without keys: %v", keys)
	}
	if _, err := EncodeConfigure(Configure{Keys: []Key{publicKey(1, k1), publicKey(1, k2)}}); err == nil {
		t.Fatal("a key id listed twice encoded")
	}
}

func TestNoKeysDigestOnlyAsBefore(t *testing.T) {
	e := newPark(t)
	a, b := tkt(1, ticket.Single), tkt(2, ticket.Single)
	cmd, err := EncodeIssueBatch([]ticket.Ticket{a})
	if err != nil || CommandType(cmd[1]) != TypeIssueBatch {
		t.Fatalf("digest-only batch encodes as %v, %v", CommandType(cmd[1]), err)
	}
	if got := e.issue(a); got[0] != OutcomeApplied {
		t.Fatalf("digest only: %v", got)
	}
	// A code signed with a throwaway key, and a park, are not checked.
	s := signed(t, b, 1, testKey(3))
	s.Park = "anywhere"
	if got := e.issues(s); got[0] != OutcomeApplied {
		t.Fatalf("with code and park: %v", got)
	}
	expect(t, "digest-only ticket", e.scan1(scanOf("s1", "g1", a)), rules.Admit, rules.None)
	expect(t, "unchecked ticket", e.scan1(scanOf("s2", "g1", s.Ticket)), rules.Admit, rules.None)
}

func TestWrongParkRefused(t *testing.T) {
	e := newPark(t)
	e.configure(Configure{Park: "sunny"})
	mine, theirs, unnamed := tkt(1, ticket.Single), tkt(2, ticket.Single), tkt(3, ticket.Single)
	got := e.issues(Issue{Ticket: mine, Park: "sunny"}, Issue{Ticket: theirs, Park: "rainy"}, Issue{Ticket: unnamed})
	if want := []Outcome{OutcomeApplied, OutcomeWrongPark, OutcomeApplied}; !reflect.DeepEqual(got, want) {
		t.Fatalf("outcomes %v, want %v", got, want)
	}
	e.absent(theirs.ID)
	expect(t, "other park's ticket", e.scan1(scanOf("s1", "g1", theirs)), rules.Deny, rules.Unknown)
}

func TestParkIDSetOnce(t *testing.T) {
	e := newPark(t)
	e.configure(Configure{Park: "sunny"})
	e.configure(Configure{Park: "sunny", TimeZone: "Europe/Paris"}) // the same again is fine
	before, err := dump(e.st)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.apply(must(t)(EncodeConfigure(Configure{Park: "rainy", Zones: []ticket.Zone{{ID: "new"}}})))
	if !errors.Is(err, ErrParkChange) || !errors.Is(err, cluster.ErrRejected) {
		t.Fatalf("park change: %v", err)
	}
	after, err := dump(e.st)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameDump(before, after); err != nil {
		t.Fatalf("a rejected park change wrote: %v", err)
	}
	if id, _, err := Park(e.st); id != "sunny" || err != nil {
		t.Fatalf("park %q, %v", id, err)
	}
}

func must(t testing.TB) func([]byte, error) []byte {
	return func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// Entries written before this version are in Raft logs: an IssueBatch and
// a Configure in the old format still decode and apply as they did.
func TestOldEntriesDecodeAsBefore(t *testing.T) {
	a := tkt(1, ticket.Single)
	old := Command{Type: TypeIssueBatch, Issues: []Issue{{Ticket: a}}}
	b := old.appendTo(nil)
	if b[0] != CommandVersion || CommandType(b[1]) != TypeIssueBatch {
		t.Fatalf("header %x", b[:2])
	}
	c, err := DecodeCommand(b)
	if err != nil || len(c.Issues) != 1 || !reflect.DeepEqual(c.Issues[0], Issue{Ticket: a}) {
		t.Fatalf("old issue batch: %+v, %v", c, err)
	}
	cfg := sampleConfigure()
	cb := must(t)(EncodeConfigure(cfg))
	if CommandType(cb[1]) != TypeConfigure {
		t.Fatalf("configure without park or keys encodes as %v", CommandType(cb[1]))
	}
	// An IssueBatch2 or Configure2 that carries nothing new is not
	// canonical: it must be the old type.
	plain := Command{Type: TypeIssueBatch2, Issues: []Issue{{Ticket: a}}}
	if _, err := DecodeCommand(plain.appendTo(nil)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("issue_batch2 without proofs: %v", err)
	}
	plainCfg := Command{Type: TypeConfigure2, Configure: cfg}
	if _, err := DecodeCommand(plainCfg.appendTo(nil)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("configure2 without park or keys: %v", err)
	}

	e := newPark(t)
	if got := e.issueRaw(TypeIssueBatch, Issue{Ticket: a}); got[0] != OutcomeApplied {
		t.Fatalf("old entry without keys: %v", got)
	}
}

// The encoders refuse unclean text; apply still takes it from entries
// already in the log, as it did (deterministic replay).
func TestCleanTextAtEncodeOnly(t *testing.T) {
	bad := map[string]error{
		"zone":       second(EncodeConfigure(Configure{Zones: []ticket.Zone{{ID: "ma\x00in"}}})),
		"gate":       second(EncodeConfigure(Configure{Zones: []ticket.Zone{{ID: "z"}}, Gates: []Gate{{ID: "g\n", Zone: "z"}}})),
		"delete":     second(EncodeConfigure(Configure{DeleteGates: []string{"\xff"}})),
		"park":       second(EncodeConfigure(Configure{Park: "su\x7fnny"})),
		"scan id":    second(EncodeScanBatch([]Scan{{ScanID: "s\x00", Gate: "g"}})),
		"scan gate":  second(EncodeScanBatch([]Scan{{ScanID: "s", Gate: "g\u0085"}})),
		"product":    second(EncodeIssueBatch([]ticket.Ticket{tkt(1, ticket.Single, func(t *ticket.Ticket) { t.Product = "a\x01" })})),
		"holder":     second(EncodeIssueBatch([]ticket.Ticket{tkt(1, ticket.Single, func(t *ticket.Ticket) { t.Holder = "\xc3" })})),
		"issue park": second(EncodeIssues([]Issue{{Ticket: tkt(1, ticket.Single), Park: "p\x00"}})),
		"bad code":   second(EncodeIssues([]Issue{{Ticket: tkt(1, ticket.Single), Code: []byte{1, 2}}})),
	}
	for name, err := range bad {
		if err == nil {
			t.Errorf("%s: encoded", name)
		} else if name != "bad code" && !errors.Is(err, ErrNotText) {
			t.Errorf("%s: %v, want ErrNotText", name, err)
		}
	}
	e := newEnv(t)
	old := Command{Type: TypeConfigure, Configure: Configure{Zones: []ticket.Zone{{ID: "ma\x00in"}}}}
	if _, err := e.apply(old.appendTo(nil)); err != nil {
		t.Fatalf("old entry with a control character: %v", err)
	}
}
