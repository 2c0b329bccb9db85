package gate_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"reflect"
	"testing"

	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gate/gatetest"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// signWith returns tj carrying a code for it signed by key under key id.
func signWith(t *testing.T, tj gateapi.TicketJSON, id uint8, key ed25519.PrivateKey) gateapi.TicketJSON {
	t.Helper()
	tid, err := ticket.ParseID(tj.ID)
	if err != nil {
		t.Fatal(err)
	}
	c, err := code.Sign(key, code.Claims{KeyID: id, TicketID: tid, Version: uint32(tj.Version), ValidFrom: tj.ValidFrom, ValidUntil: tj.ValidUntil})
	if err != nil {
		t.Fatal(err)
	}
	tj.Code = c
	return tj
}

// issueAll issues tickets and returns the cluster's answer.
func (p *park) issueAll(tickets ...gateapi.TicketJSON) gateapi.IssueResponse {
	p.t.Helper()
	var out gateapi.IssueResponse
	p.admin(http.MethodPost, gateapi.PathIssue, gateapi.IssueRequest{Tickets: tickets}, &out)
	return out
}

func keyJSON(id uint8, key ed25519.PrivateKey) gateapi.KeyJSON {
	return gateapi.KeyJSON{ID: id, Public: base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))}
}

func TestParkKeysRefuseForgedTickets(t *testing.T) {
	p := newPark(t, 3)
	token := p.addGate("g1", "main", "in")
	set := gateapi.ParkJSON{ID: "sunny", Keys: []gateapi.KeyJSON{keyJSON(1, p.key)}}
	p.admin(http.MethodPut, gateapi.PathPark, set, nil)
	var got gateapi.ParkJSON
	p.admin(http.MethodGet, gateapi.PathPark, nil, &got)
	if got.ID != "sunny" || !reflect.DeepEqual(got.Keys, set.Keys) || got.TimeZone != "UTC" {
		t.Fatalf("GET /v1/park: %+v", got)
	}

	_, forger, _ := ed25519.GenerateKey(rand.Reader)
	forged := signWith(t, single("adult"), 1, forger)
	unsigned := single("adult")
	unsigned.Digest = "00112233445566778899aabbccddeeff"
	good := signWith(t, single("adult"), 1, p.key)
	good.Park = "sunny"
	resp := p.issueAll(forged, unsigned, good)
	want := []string{gateapi.OutcomeBadSignature, gateapi.OutcomeUnsigned, gateapi.OutcomeApplied}
	if !reflect.DeepEqual(resp.Outcomes, want) || resp.Applied != 1 || resp.Refused != 2 {
		t.Fatalf("issue: %+v, want outcomes %v", resp, want)
	}

	base := p.URL(p.h.Running()[0])
	for i, c := range []struct {
		code, result, reason string
	}{
		{forged.Code, gateapi.ResultDeny, gateapi.ReasonUnknown},
		{good.Code, gateapi.ResultAdmit, ""},
	} {
		status, r, msg := p.scan(base, token, gateapi.ScanRequest{Code: c.code, Gate: "g1", ScanID: "g1:" + string(rune('a'+i))})
		if status != http.StatusOK || r.Result != c.result || r.Reason != c.reason {
			t.Fatalf("scan %d: %d %+v %s; want %s/%s", i, status, r, msg, c.result, c.reason)
		}
	}
	if status, _ := gatetest.Call(base, http.MethodGet, gateapi.PathTickets+forged.ID, adminToken, nil, nil); status != http.StatusNotFound {
		t.Fatalf("forged ticket look-up: %d, want 404", status)
	}
}

func TestClusterOfOneParkRefusesAnother(t *testing.T) {
	p := newPark(t, 3)
	p.admin(http.MethodPut, gateapi.PathPark, gateapi.ParkJSON{ID: "park-a"}, nil)
	a, b := single("adult"), single("adult")
	a.Park, b.Park = "park-a", "park-b"
	a, b = signWith(t, a, 1, p.key), signWith(t, b, 1, p.key)
	resp := p.issueAll(a, b)
	if want := []string{gateapi.OutcomeApplied, gateapi.OutcomeWrongPark}; !reflect.DeepEqual(resp.Outcomes, want) {
		t.Fatalf("outcomes %v, want %v", resp.Outcomes, want)
	}
	base := p.URL(p.h.Running()[0])
	// The park id is set once: the same again is fine, another is a 409.
	if status, err := gatetest.Call(base, http.MethodPut, gateapi.PathPark, adminToken, gateapi.ParkJSON{ID: "park-a"}, nil); status != http.StatusOK {
		t.Fatalf("same park id again: %d %v", status, err)
	}
	var eb gateapi.ErrorBody
	if status, _ := gatetest.Call(base, http.MethodPut, gateapi.PathPark, adminToken, gateapi.ParkJSON{ID: "park-b"}, &eb); status != http.StatusConflict {
		t.Fatalf("another park id: %d %q, want 409", status, eb.Error)
	}
	var got gateapi.ParkJSON
	p.admin(http.MethodGet, gateapi.PathPark, nil, &got)
	if got.ID != "park-a" {
		t.Fatalf("park id %q", got.ID)
	}
}
