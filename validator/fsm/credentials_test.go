package fsm

import (
	"strings"
	"testing"

	"github.com/admitpark/admit/validator/rules"
	"github.com/admitpark/admit/validator/ticket"
)

func (e *env) issueCreds(t ticket.Ticket, creds ...Credential) Outcome {
	e.t.Helper()
	out, err := DecodeIssueResult(e.mustApply(EncodeIssues([]Issue{{Ticket: t, Credentials: creds}})))
	if err != nil {
		e.t.Fatal(err)
	}
	return out[0]
}

func card(v string) Credential { return Credential{Kind: CredCard, Value: v} }

func credScan(scanID, gate string, c Credential) Scan {
	return Scan{ScanID: scanID, Gate: gate, Credential: c}
}

func TestCredentialScanDecidesLikeACode(t *testing.T) {
	e := newPark(t)
	tk := tkt(1, ticket.Multi, withEntries(2))
	if o := e.issueCreds(tk, card("04A1"), Credential{Kind: CredTicketNumber, Value: "000000000018"}); o != OutcomeApplied {
		t.Fatal(o)
	}
	r := e.scan1(credScan("s1", "g1", card("04A1")))
	expect(t, "card", r, rules.Admit, rules.None)
	if r.TicketID != tk.ID || r.EntriesUsed != 1 {
		t.Fatalf("card resolves to %x, used %d", r.TicketID, r.EntriesUsed)
	}
	// The same scan ID again: the original decision.
	if r := e.scan1(credScan("s1", "g1", card("04A1"))); !r.Rescan || r.Result != rules.Admit {
		t.Fatalf("retry: %+v", r)
	}
	// The same scan ID with another credential: refused.
	if r := e.scan1(credScan("s1", "g1", card("FFFF"))); r.Error != ScanIDConflict {
		t.Fatalf("reused scan id: %+v", r)
	}
	expect(t, "number", e.scan1(credScan("s2", "g1", Credential{Kind: CredTicketNumber, Value: "000000000018"})), rules.Admit, rules.None)
	expect(t, "exhausted", e.scan1(credScan("s3", "g1", card("04A1"))), rules.Deny, rules.NoEntriesLeft)
	expect(t, "unbound", e.scan1(credScan("s4", "g1", card("0BAD"))), rules.Deny, rules.Unknown)

	// Suspended: every credential says so.
	e.update(Update{ID: tk.ID, Version: 2, Op: OpSuspend})
	expect(t, "suspended", e.scan1(credScan("s5", "g1", card("04A1"))), rules.Deny, rules.Suspended)

	evs := e.events()
	if ev := evs[0]; ev.Credential != CredCard || ev.TicketID != tk.ID {
		t.Fatalf("event: %+v", ev)
	}
}

func TestCredentialsFollowTheNewestVersion(t *testing.T) {
	e := newPark(t)
	tk := tkt(1, ticket.Multi, withEntries(3))
	e.issueCreds(tk, card("0A"))
	expect(t, "old card", e.scan1(credScan("s1", "g1", card("0A"))), rules.Admit, rules.None)

	// A replacement card: version 2 binds 0B instead; usage is kept.
	e.issueCreds(reprint(tk, 2), card("0B"))
	expect(t, "old card after replace", e.scan1(credScan("s2", "g1", card("0A"))), rules.Deny, rules.Unknown)
	r := e.scan1(credScan("s3", "g1", card("0B")))
	expect(t, "new card", r, rules.Admit, rules.None)
	if r.EntriesUsed != 2 {
		t.Fatalf("new card used %d, want 2 (the old card's entry is kept)", r.EntriesUsed)
	}
	// A stale resend of version 1 changes nothing.
	if o := e.issueCreds(tk, card("0A")); o != OutcomeStale {
		t.Fatal(o)
	}
	expect(t, "stale resend", e.scan1(credScan("s4", "g1", card("0A"))), rules.Deny, rules.Unknown)

	// A card moves to another ticket: it leaves the first one's list.
	other := tkt(2, ticket.Single)
	e.issueCreds(other, card("0B"))
	if r := e.scan1(credScan("s5", "g1", card("0B"))); r.TicketID != other.ID || r.Result != rules.Admit {
		t.Fatalf("moved card: %+v", r)
	}
	if creds, _ := Credentials(e.st, tk.ID); len(creds) != 0 {
		t.Fatalf("first ticket keeps %v", creds)
	}
	// A version without credentials drops them (an IssueBatch2/1 entry).
	e.issue(reprint(other, 2))
	expect(t, "dropped", e.scan1(credScan("s6", "g1", card("0B"))), rules.Deny, rules.Unknown)
	if _, found, _ := TicketByCredential(e.st, card("0B")); found {
		t.Fatal("index keeps a dropped card")
	}
}

func TestIDCardKeyInState(t *testing.T) {
	e := newPark(t)
	if k, _ := IDCardKey(e.st); k != nil {
		t.Fatal("key before configure")
	}
	key := []byte(strings.Repeat("k", IDCardKeyLen))
	e.configure(Configure{IDCardKey: key})
	if k, _ := IDCardKey(e.st); string(k) != string(key) {
		t.Fatalf("key %q", k)
	}
	if _, err := EncodeConfigure(Configure{IDCardKey: []byte("short")}); err == nil {
		t.Fatal("short key encoded")
	}
}
