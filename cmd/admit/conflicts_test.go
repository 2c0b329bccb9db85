package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// As an operator would: scan a card with `admit scan --card`, upload two
// offline admits of one ticket, and see the conflict with `admit
// conflicts`.
func TestScanCardAndListConflictsCLI(t *testing.T) {
	lc := startProcessCluster(t, 3, "tickets")
	urls := strings.Join(lc.URLs(), ",")
	runCLI(t, true, "gate", "add", "--id", "g1", "--zone", "main", "--cluster", urls)
	runCLI(t, true, "gate", "add", "--id", "g2", "--zone", "main", "--cluster", urls)

	c, err := gateapi.NewClient(gateapi.Config{URLs: lc.URLs(), AdminToken: testToken})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	tj := func(id string) gateapi.TicketJSON {
		tid, err := ticket.ParseID(id)
		if err != nil {
			t.Fatal(err)
		}
		c, err := code.Sign(key, code.Claims{TicketID: tid, Version: 1})
		if err != nil {
			t.Fatal(err)
		}
		return gateapi.TicketJSON{ID: id, Version: 1, Product: "day", Kind: "single", Code: c,
			ValidFrom: now.Add(-time.Hour), ValidUntil: now.Add(time.Hour)}
	}
	carded := tj(strings.Repeat("c1", 16))
	carded.Credentials = []gateapi.CredentialJSON{{Kind: gateapi.CredentialCard, Value: "04A1B2"}}
	twice := tj(strings.Repeat("c2", 16))
	if res, err := c.Issue(t.Context(), []gateapi.TicketJSON{carded, twice}); err != nil || res.Applied != 2 {
		t.Fatalf("issue: %+v %v", res, err)
	}

	out := runCLI(t, true, "scan", "--card", "04:a1:b2", "--gate", "g1", "--cluster", urls)
	if !strings.HasPrefix(out, "ADMIT") {
		t.Fatalf("scan --card: %s", out)
	}
	out = runCLI(t, true, "scan", "--card", "04A1B2", "--gate", "g1", "--cluster", urls)
	if !strings.HasPrefix(out, "DENY already_used") {
		t.Fatalf("second scan --card: %s", out)
	}
	out = runCLI(t, false, "scan", "--ticket-number", "000000000019", "--gate", "g1", "--cluster", urls)
	if !strings.Contains(out, "check digit") {
		t.Fatalf("scan --ticket-number with a wrong check digit: %s", out)
	}

	// Two offline gates let the second ticket in; the uploads land.
	id := twice.ID
	for _, s := range []gateapi.ScanRequest{
		{Code: twice.Code, Gate: "g1", ScanID: "o1", Offline: "admit", DeviceTime: now.Add(-2 * time.Minute)},
		{Code: twice.Code, Gate: "g2", ScanID: "o2", Offline: "admit", DeviceTime: now.Add(-time.Minute)},
	} {
		if _, err := c.ScanBatch(t.Context(), []gateapi.ScanRequest{s}); err != nil {
			t.Fatal(err)
		}
	}
	out = runCLI(t, true, "conflicts", "--cluster", urls)
	if !strings.Contains(out, id) || !strings.Contains(out, "g2 o2") || !strings.Contains(out, "g1 o1") || !strings.Contains(out, "1 recorded in all") {
		t.Fatalf("conflicts: %s", out)
	}
}
