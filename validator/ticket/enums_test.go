package ticket

import (
	"encoding/json"
	"testing"
)

func TestKindNames(t *testing.T) {
	want := map[Kind]string{Single: "single", Multi: "multi", DayPass: "day_pass", Period: "period", Group: "group"}
	for k := Kind(0); k < numKinds; k++ {
		if k.String() != want[k] {
			t.Errorf("Kind(%d).String() = %q, want %q", k, k.String(), want[k])
		}
		got, err := ParseKind(want[k])
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", want[k], got, err)
		}
	}
	if _, err := ParseKind("Single"); err == nil {
		t.Error("ParseKind is case-sensitive: want error for \"Single\"")
	}
	if got := Kind(200).String(); got != "kind(200)" {
		t.Errorf("unknown kind String = %q", got)
	}
}

func TestStatusNames(t *testing.T) {
	want := map[Status]string{Active: "active", Revoked: "revoked", Suspended: "suspended", Replaced: "replaced"}
	for s := Status(0); s < numStatuses; s++ {
		if s.String() != want[s] {
			t.Errorf("Status(%d).String() = %q, want %q", s, s.String(), want[s])
		}
		got, err := ParseStatus(want[s])
		if err != nil || got != s {
			t.Errorf("ParseStatus(%q) = %v, %v", want[s], got, err)
		}
	}
	if _, err := ParseStatus(""); err == nil {
		t.Error("want error for empty status")
	}
}

func TestEnumsJSON(t *testing.T) {
	type doc struct {
		Kind   Kind   `json:"kind"`
		Status Status `json:"status"`
	}
	b, err := json.Marshal(doc{DayPass, Suspended})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"kind":"day_pass","status":"suspended"}` {
		t.Fatalf("got %s", b)
	}
	var d doc
	if err := json.Unmarshal(b, &d); err != nil || d.Kind != DayPass || d.Status != Suspended {
		t.Fatalf("round trip: %+v, %v", d, err)
	}
	if err := json.Unmarshal([]byte(`{"kind":"weekly"}`), &d); err == nil {
		t.Error("want error for unknown kind")
	}
	if _, err := json.Marshal(doc{Kind: 99}); err == nil {
		t.Error("want error marshaling unknown kind")
	}
}
