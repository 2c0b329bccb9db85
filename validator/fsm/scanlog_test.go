package fsm

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/admitpark/admit/validator/rules"
	"github.com/admitpark/admit/validator/ticket"
)

// The scan-ID records live in memory only; a restart rebuilds them from
// the scan logs. The rebuilt state must be the state: every key and value
// equal after admits, denies, rescans, a scan-ID conflict and a purge, and
// a retry after the "restart" answers as it did before.
func TestRebuiltScanRecordsEqualTheLiveOnes(t *testing.T) {
	e := newPark(t)
	var tks []ticket.Ticket
	for i := range 12 {
		tks = append(tks, tkt(byte(i+1), ticket.Multi, withEntries(3)))
	}
	e.issue(tks...)
	start := e.now
	for round := range 6 {
		e.now = start + int64(round)*minute
		var scans []Scan
		for i, tk := range tks {
			s := scanOf(fmt.Sprintf("r%d-%d", round, i), []string{"g1", "g2"}[i%2], tk)
			if i%3 == 0 {
				s = out(s)
			}
			scans = append(scans, s)
		}
		e.scan(scans...)
		e.scan(scans[:3]...)                                      // rescans: same answers, nothing written
		e.scan(scanOf(fmt.Sprintf("r%d-1", round), "g2", tks[5])) // same scan ID, another ticket
	}
	e.purge(start+2*minute, 0) // the first two rounds go

	reloaded, err := e.st.Reloaded(e.m)
	if err != nil {
		t.Fatal(err)
	}
	live, err := dump(e.st)
	if err != nil {
		t.Fatal(err)
	}
	again, err := dump(reloaded)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameDump(live, again); err != nil {
		t.Fatalf("state rebuilt from the scan logs differs from the live one: %v", err)
	}
	records, logs := 0, 0
	for k := range live {
		switch {
		case strings.HasPrefix(k, prefixScanID):
			records++
		case strings.HasPrefix(k, prefixScanLog):
			logs++
		}
	}
	if records != 4*len(tks) || logs != 4 {
		t.Fatalf("%d scan-ID records and %d scan logs after purging 2 of 6 rounds; want %d and 4", records, logs, 4*len(tks))
	}

	// A retry of a purged round is decided again; of a kept round, it is
	// answered from the rebuilt record.
	e.st = reloaded
	kept := scanOf("r2-0", "g1", tks[0])
	r := e.scan1(out(kept))
	if !r.Rescan {
		t.Fatalf("retry of a kept scan after the rebuild: %+v", r)
	}
	r = e.scan1(scanOf("r0-1", "g2", tks[1]))
	if r.Rescan {
		t.Fatalf("retry of a purged scan answered from a record that should be gone: %+v", r)
	}
	expect(t, "purged scan id decided again (its ticket's 3 entries are used)", r, rules.Deny, r.Reason)
}

// Scan logs are parsed strictly: a truncated or mislabelled log fails the
// rebuild instead of losing records.
func TestScanLogRejectsDamage(t *testing.T) {
	var log []byte
	log = appendScanLogRecord(log, []byte("x/\x02g1abc"), []byte{1, 2, 3})
	log = appendScanLogRecord(log, []byte("x/\x02g1abd"), []byte{4})
	var got []string
	if err := eachScanLogRecord([]byte("s/1"), log, func(k, r []byte) error {
		got = append(got, fmt.Sprintf("%q=%v", k, r))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{`"x/\x02g1abc"=[1 2 3]`, `"x/\x02g1abd"=[4]`}; !reflect.DeepEqual(got, want) {
		t.Fatalf("records %v, want %v", got, want)
	}
	for name, bad := range map[string][]byte{
		"truncated":   log[:len(log)-1],
		"version":     append([]byte{9}, log[1:]...),
		"empty":       nil,
		"foreign key": appendScanLogRecord(nil, []byte("t/abc"), []byte{1}),
	} {
		if err := eachScanLogRecord([]byte("s/1"), bad, func(_, _ []byte) error { return nil }); err == nil {
			t.Errorf("%s scan log accepted", name)
		}
	}
}

func FuzzScanLog(f *testing.F) {
	f.Add(appendScanLogRecord(nil, []byte("x/\x02g1abc"), []byte{1, 2, 3}))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = eachScanLogRecord([]byte("s/1"), b, func(k, r []byte) error {
			if !strings.HasPrefix(string(k), prefixScanID) {
				t.Fatalf("accepted key %q", k)
			}
			return nil
		})
	})
}
