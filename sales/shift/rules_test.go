package shift

import (
	"strings"
	"testing"
	"time"

	"github.com/admitpark/admit/sales/web"
)

func TestMayRead(t *testing.T) {
	for _, c := range []struct {
		p     web.Principal
		owner int64
		want  bool
	}{
		{web.Principal{Role: web.RoleAdmin, UserID: 1}, 7, true},
		{web.Principal{Role: web.RoleFinance, UserID: 2}, 7, true},
		{web.Principal{Role: web.RoleCashier, UserID: 7}, 7, true},
		{web.Principal{Role: web.RoleCashier, UserID: 8}, 7, false},
		{web.Principal{Role: web.RoleCashier}, 0, false},
		{web.Principal{Role: web.RoleDistributor, UserID: 7, DistributorID: 1}, 7, false},
		{web.Principal{Role: web.RoleGateOperator, UserID: 7}, 7, false},
	} {
		if got := mayRead(c.p, c.owner); got != c.want {
			t.Errorf("mayRead(%s user %d, owner %d) = %v", c.p.Role, c.p.UserID, c.owner, got)
		}
	}
}

func TestSettingsValidate(t *testing.T) {
	if err := DefaultSettings().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, m := range []int{0, -1, 7*24*60 + 1} {
		if err := (Settings{Required: true, MaxOpenMinutes: m}).Validate(); err == nil {
			t.Errorf("max_open_minutes %d accepted", m)
		}
	}
	if err := checkNote(strings.Repeat("é", maxNoteRunes)); err != nil {
		t.Error(err)
	}
	if err := checkNote(strings.Repeat("é", maxNoteRunes+1)); err == nil {
		t.Error("a note over the limit was accepted")
	}
}

// FuzzParseTime: a bound parses to a date's midnight in the park's time
// zone or to the RFC 3339 instant, or is refused.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-11-16", "2026-03-08", "2026-11-16T09:00:00+08:00", "2026-13-01", "", "yesterday"} {
		f.Add(s)
	}
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, v string) {
		tm, err := ParseTime(v, loc)
		if err != nil {
			return
		}
		if len(v) == len(time.DateOnly) {
			if l := tm.In(loc); l.Hour() != 0 || l.Minute() != 0 || l.Format(time.DateOnly) != v {
				t.Fatalf("date %q parsed to %v", v, tm)
			}
		}
	})
}
