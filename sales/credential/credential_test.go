package credential

import (
	"bytes"
	"testing"

	"github.com/admitpark/admit/sales/lookup"
	"github.com/admitpark/admit/validator/gateapi"
)

func TestGateIDKeyIsNotTheLookupKey(t *testing.T) {
	secret := bytes.Repeat([]byte("s"), 32)
	key := GateIDKey(secret)
	if len(key) != 32 || bytes.Equal(key, secret) {
		t.Fatalf("gate key %x", key)
	}
	// The cluster's hash of an ID number is not sales' look-up hash: the
	// cluster cannot find a holder's tickets in sales' database with it.
	id := "11010519491231002X"
	if gateapi.IDCardHash(key, id) == string(lookup.HashIDNumber(secret, id)) {
		t.Fatal("gate hash equals the look-up hash")
	}
	if !bytes.Equal(GateIDKey(secret), key) {
		t.Fatal("the derivation is not stable")
	}
}

func TestTicketNumbersCheck(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		n, err := NewTicketNumber()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := gateapi.NormalizeTicketNumber(n); !ok {
			t.Fatalf("%s fails its own check digit", n)
		}
		seen[n] = true
	}
	if len(seen) < 999 {
		t.Fatalf("%d distinct numbers of 1000", len(seen))
	}
}

func TestStoredList(t *testing.T) {
	s := Stored{Number: "123456789012", Card: "04A2", CardStatus: "lost", IDCardHash: "ab"}
	if got := s.List(); len(got) != 3 || got[1].Kind != gateapi.CredentialCard {
		t.Fatalf("%+v", got)
	}
	s.CardStatus = "replaced"
	if got := s.List(); len(got) != 2 {
		t.Fatalf("a replaced card still listed: %+v", got)
	}
}
