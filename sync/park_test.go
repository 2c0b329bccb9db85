package sync

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"reflect"
	"testing"

	"github.com/admitpark/admit/sync/outbox"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// A configure row with the park's id and signing keys reaches the cluster;
// afterwards the cluster refuses tickets that are not signed by those keys
// or belong to another park, and the relay gives those rows up with a note
// instead of blocking the queue.
func TestConfigureParkAndKeysThenRefusedTicketsAreGivenUp(t *testing.T) {
	p, d := newPark(t), newDB(t)
	token := p.addGate("north-1", "main", "in")
	r := newRelay(t, testConfig(t, d.pool, p.ClusterURLs()))
	pub := base64.StdEncoding.EncodeToString(p.key.Public().(ed25519.PublicKey))
	d.insert("configure", "", 0, outbox.Configure{TimeZone: "Asia/Shanghai", Park: "sunny", Keys: []outbox.Key{{ID: 0, Public: pub}}})

	good, later := p.newTicket(), p.newTicket()
	good.Park, later.Park = "sunny", "sunny"
	forged := p.newTicket()
	_, forger, _ := ed25519.GenerateKey(rand.Reader)
	id, _ := ticket.ParseID(forged.ID)
	var err error
	if forged.Code, err = code.Sign(forger, code.Claims{TicketID: id, Version: 1}); err != nil {
		t.Fatal(err)
	}
	elsewhere := p.newTicket()
	elsewhere.Park = "rainy"
	d.issue(good)
	forgedSeq := d.issue(forged)
	elsewhereSeq := d.issue(elsewhere)
	d.issue(later)

	if n, err := r.SendPending(t.Context()); err != nil || n != 5 {
		t.Fatalf("SendPending = %d, %v; want 5 (configure, 4 issues), nil", n, err)
	}
	var park gateapi.ParkJSON
	if _, err := p.call(http.MethodGet, gateapi.PathPark, adminToken, nil, &park); err != nil {
		t.Fatal(err)
	}
	want := gateapi.ParkJSON{TimeZone: "Asia/Shanghai", ID: "sunny", Keys: []gateapi.KeyJSON{{ID: 0, Public: pub}}}
	if !reflect.DeepEqual(park, want) {
		t.Fatalf("GET /v1/park: %+v, want %+v", park, want)
	}
	for seq, outcome := range map[int64]string{forgedSeq: gateapi.OutcomeBadSignature, elsewhereSeq: gateapi.OutcomeWrongPark} {
		var note string
		if err := d.pool.QueryRow(t.Context(), `SELECT note FROM outbox WHERE seq = $1 AND sent_at IS NOT NULL`, seq).Scan(&note); err != nil || note != outcome {
			t.Errorf("row %d: note %q, %v; want %q", seq, note, err, outcome)
		}
		var audit string
		if err := d.pool.QueryRow(t.Context(), `SELECT details->>'outcome' FROM audit_log WHERE action = 'sync.outbox.given_up' AND object_id = $1`,
			fmt.Sprint(seq)).Scan(&audit); err != nil || audit != outcome {
			t.Errorf("row %d: audit %q, %v; want %q", seq, audit, err, outcome)
		}
	}
	for _, c := range []struct{ code, result string }{{good.Code, "admit"}, {later.Code, "admit"}, {forged.Code, "deny"}, {elsewhere.Code, "deny"}} {
		if res := p.scan("north-1", token, c.code); res.Result != c.result {
			t.Errorf("scan: %+v, want %s", res, c.result)
		}
	}
	if d.unsent() != 0 {
		t.Fatalf("%d rows unsent", d.unsent())
	}
}
