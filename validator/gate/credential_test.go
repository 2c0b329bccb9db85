package gate_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gate/gatetest"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// credScan scans a credential at gate g1 through node i.
func (p *park) credScan(i int, token, scanID, kind, value string) (int, gateapi.ScanResponse, string) {
	p.t.Helper()
	return p.scan(p.URL(p.h.Members[i]), token, gateapi.ScanRequest{
		Credential: &gateapi.Credential{Kind: kind, Value: value}, Gate: "g1", ScanID: scanID})
}

func (p *park) wantCred(i int, token, scanID, kind, value, result, reason string) gateapi.ScanResponse {
	p.t.Helper()
	status, resp, msg := p.credScan(i, token, scanID, kind, value)
	if status != http.StatusOK || resp.Result != result || resp.Reason != reason {
		p.t.Fatalf("%s %q via node %d: %d %+v %s; want %s/%q", kind, value, i, status, resp, msg, result, reason)
	}
	return resp
}

// withCreds issues tj (version from tj) with credentials.
func (p *park) issueWith(tj gateapi.TicketJSON, creds ...gateapi.CredentialJSON) {
	p.t.Helper()
	tj.Credentials = creds
	var out gateapi.IssueResponse
	id, _ := ticket.ParseID(tj.ID)
	c, err := code.Sign(p.key, code.Claims{TicketID: id, Version: uint32(tj.Version)})
	if err != nil {
		p.t.Fatal(err)
	}
	tj.Code = c
	p.admin(http.MethodPost, gateapi.PathIssue, gateapi.IssueRequest{Tickets: []gateapi.TicketJSON{tj}}, &out)
	if out.Applied != 1 {
		p.t.Fatalf("issue: %+v", out)
	}
}

func cardCred(v string) gateapi.CredentialJSON {
	return gateapi.CredentialJSON{Kind: gateapi.CredentialCard, Value: v}
}

// A card opens its ticket through any node with the ticket's rules, in
// the same check-and-mark as a code: once for a single ticket, a retry
// through another node is the original decision, a reused scan id for
// another card is refused.
func TestCardAdmitsOncePerItsRulesThroughAnyNode(t *testing.T) {
	p := newPark(t, 3)
	token := p.addGate("g1", "main", "in")
	tj := single("day-adult")
	p.issueWith(tj, cardCred("04A1B2C3"))

	first := p.wantCred(1, token, "s1", gateapi.CredentialCard, "04:a1:b2:c3", "admit", "")
	if first.TicketID != tj.ID || first.EntriesUsed != 1 {
		t.Fatalf("admit %+v", first)
	}
	p.wantCred(2, token, "s2", gateapi.CredentialCard, "04A1B2C3", "deny", gateapi.ReasonAlreadyUsed)
	p.wantCred(0, token, "s3", gateapi.CredentialCard, "04 A1 B2 C3", "deny", gateapi.ReasonAlreadyUsed)
	if r := p.wantCred(2, token, "s1", gateapi.CredentialCard, "04A1B2C3", "admit", ""); !r.Rescan {
		t.Fatalf("retry of s1 through node 2: %+v", r)
	}
	if status, _, msg := p.credScan(0, token, "s1", gateapi.CredentialCard, "FFFF"); status != http.StatusConflict {
		t.Fatalf("s1 reused for another card: %d %s", status, msg)
	}
	p.wantCred(0, token, "s4", gateapi.CredentialCard, "0BAD", "deny", gateapi.ReasonUnknown)
	// The ticket's code still works alongside (and is used).
	var view gateapi.TicketView
	p.admin(http.MethodGet, gateapi.PathTickets+tj.ID, nil, &view)
	if !view.Used {
		t.Fatalf("ticket view after a card admit: %+v", view)
	}
}

// A card reported lost (the ticket suspended) is denied at every node
// within a second of the update returning; a replacement (a new version
// binding another card) denies the old card as unknown and admits the
// new one with the entries that were left.
func TestCardSuspendAndReplace(t *testing.T) {
	p := newPark(t, 3)
	token := p.addGate("g1", "main", "in")
	tj := single("multi-3")
	tj.Kind, tj.Entries = "multi", 3
	p.issueWith(tj, cardCred("0A0A"))
	p.wantCred(0, token, "m1", gateapi.CredentialCard, "0a0a", "admit", "")

	var ch gateapi.ChangeResponse
	p.admin(http.MethodPost, gateapi.PathTickets+tj.ID+gateapi.PathTicketUpdate, gateapi.ChangeRequest{Version: 2, Op: gateapi.OpSuspend}, &ch)
	if ch.Outcome != gateapi.OutcomeApplied {
		t.Fatalf("suspend: %+v", ch)
	}
	// Every node, polled at once: each must deny within a second of the
	// update's answer (the first scan after it is already denied: scans
	// are decided in the log, after the update).
	deadline := time.Now().Add(time.Second)
	errs := make(chan error, len(p.h.Members))
	for i := range p.h.Members {
		go func() {
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for n := 0; ; n++ {
				_, resp, msg := p.credScan(i, token, fmt.Sprintf("lost-%d-%d", i, n), gateapi.CredentialCard, "0A0A")
				if resp.Reason == gateapi.ReasonSuspended {
					errs <- nil
					return
				}
				if time.Now().After(deadline) {
					errs <- fmt.Errorf("node %d still answers %+v %s a second after the suspend", i, resp, msg)
					return
				}
				<-tick.C
			}
		}()
	}
	for range p.h.Members {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}

	// Replacement: version 3 binds 0B0B, active again.
	tj.Version = 3
	p.issueWith(tj, cardCred("0B0B"))
	p.wantCred(1, token, "m2", gateapi.CredentialCard, "0A0A", "deny", gateapi.ReasonUnknown)
	r := p.wantCred(2, token, "m3", gateapi.CredentialCard, "0B0B", "admit", "")
	if r.EntriesUsed != 2 || r.EntriesAllowed != 3 {
		t.Fatalf("new card: %+v, want 2 of 3 used", r)
	}
	p.wantCred(0, token, "m4", gateapi.CredentialCard, "0B0B", "admit", "")
	p.wantCred(1, token, "m5", gateapi.CredentialCard, "0B0B", "deny", gateapi.ReasonNoEntriesLeft)
}

// A real-name ticket opened by its holder's ID card: the node hashes the
// number with the park's key, so the ticket is bound to the hash only.
func TestIDCardAdmitsRealNameTicketOnce(t *testing.T) {
	p := newPark(t, 3)
	token := p.addGate("g1", "main", "in")
	const number = "11010519491231002X"

	// Before the park has an ID-card key, an ID card cannot be checked.
	status, _, msg := p.credScan(0, token, "i0", gateapi.CredentialIDCard, number)
	if status != http.StatusBadRequest {
		t.Fatalf("ID card without a key: %d %s", status, msg)
	}
	key := bytes.Repeat([]byte{0x5a}, 32)
	var park gateapi.ParkJSON
	p.admin(http.MethodPut, gateapi.PathPark, gateapi.ParkJSON{IDCardKey: base64.StdEncoding.EncodeToString(key)}, &park)
	if park.IDCardKey != "" || !park.IDCardKeySet {
		t.Fatalf("PUT /v1/park echoes the key or does not say it is set: %+v", park)
	}
	p.admin(http.MethodGet, gateapi.PathPark, nil, &park)
	if park.IDCardKey != "" || !park.IDCardKeySet {
		t.Fatalf("GET /v1/park: %+v", park)
	}

	tj := single("real-name")
	tj.Holder = "Zhang San"
	p.issueWith(tj, gateapi.CredentialJSON{Kind: gateapi.CredentialIDCard, Value: gateapi.IDCardHash(key, number)})
	r := p.wantCred(2, token, "i1", gateapi.CredentialIDCard, "110105 19491231 002x", "admit", "")
	if r.TicketID != tj.ID {
		t.Fatalf("ID card opened %s, want %s", r.TicketID, tj.ID)
	}
	p.wantCred(1, token, "i2", gateapi.CredentialIDCard, number, "deny", gateapi.ReasonAlreadyUsed)
	p.wantCred(0, token, "i3", gateapi.CredentialIDCard, "110105194912310038", "deny", gateapi.ReasonUnknown)

	// The events name the credential kind, never the number.
	var ev gateapi.EventsResponse
	p.admin(http.MethodGet, gateapi.PathEvents, nil, &ev)
	for _, e := range ev.Events {
		if e.Credential != gateapi.CredentialIDCard {
			t.Fatalf("event %+v", e)
		}
	}
}

// A typed ticket number with a wrong check digit is refused as invalid
// input: 400 alone, an item error in a batch (the other scans decided).
func TestTicketNumberCheckDigit(t *testing.T) {
	p := newPark(t, 3)
	token := p.addGate("g1", "main", "in")
	number := gateapi.TicketNumber(12345678901)
	tj := single("printed")
	p.issueWith(tj, gateapi.CredentialJSON{Kind: gateapi.CredentialTicketNumber, Value: number})

	bad := number[:11] + string('0'+(number[11]-'0'+1)%10)
	status, _, msg := p.credScan(0, token, "n1", gateapi.CredentialTicketNumber, bad)
	if status != http.StatusBadRequest {
		t.Fatalf("wrong check digit: %d %s", status, msg)
	}
	var out gateapi.ScanBatchResponse
	req := gateapi.ScanBatchRequest{Scans: []gateapi.ScanRequest{
		{Credential: &gateapi.Credential{Kind: gateapi.CredentialTicketNumber, Value: bad}, Gate: "g1", ScanID: "b1"},
		{Credential: &gateapi.Credential{Kind: gateapi.CredentialTicketNumber, Value: number[:4] + " " + number[4:8] + "-" + number[8:]}, Gate: "g1", ScanID: "b2"},
	}}
	if _, err := gatetest.CallOK(p.URL(p.h.Members[1]), http.MethodPost, gateapi.PathScans, token, req, &out); err != nil {
		t.Fatal(err)
	}
	if r := out.Results[0]; r.Error != "invalid_ticket_number" || r.Result != "deny" {
		t.Fatalf("bad item: %+v", r)
	}
	if r := out.Results[1]; r.Result != "admit" || r.TicketID != tj.ID {
		t.Fatalf("good item: %+v", r)
	}
	p.wantCred(2, token, "n2", gateapi.CredentialTicketNumber, number, "deny", gateapi.ReasonAlreadyUsed)
}
