package member

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// Import of a CSV with bad rows: the good rows are in, each bad row is
// reported with its line and reason, and no bad row is half-written (a
// member whose card could not be opened is not created either).
func TestImportCSVWithBadRows(t *testing.T) {
	f := newFixture(t)
	f.memberWithCard("Existing", "13900000001", "TAKEN001")
	csv := "\xef\xbb\xbfName,Phone,Category,ID_Number,card_number,card_expires_on\n" +
		"Zhao Yi,13900000011,vip,11010519491231002X,IMP00001,2027-12-31\n" + // line 2: good, with a card
		",13900000012,,,,\n" + // 3: no name
		"Qian Er,not-a-phone,,,,\n" + // 4: bad phone
		"Sun San,13900000013,,110105194912310037,,\n" + // 5: bad check digit
		"Li Si,13900000014,,,TAKEN001,\n" + // 6: the card is someone's: the member must not stay
		"Zhou Wu,13900000015,gold,,,\n" + // 7: unknown category
		"\n" + // blank: skipped
		"Existing Renamed,13900000001,annual,,,\n" + // 9: same phone: updates
		"Wu Liu,,ordinary,110105194912310038,,\n" // 10: good, no phone
	r := f.send("POST", "/v1/members/import?park=fun", tokAdmin, []byte(csv), "text/csv")
	if r.status != http.StatusOK {
		t.Fatalf("import: %d %s", r.status, r.body)
	}
	var res ImportResult
	r.decode(t, &res)
	if res.Rows != 8 || res.Created != 2 || res.Updated != 1 || res.Cards != 1 {
		t.Fatalf("result %+v", res)
	}
	want := map[int]string{3: "name", 4: "phone", 5: "check digit", 6: "TAKEN001", 7: "gold"}
	if len(res.Errors) != len(want) {
		t.Fatalf("errors %+v", res.Errors)
	}
	for _, e := range res.Errors {
		if w, ok := want[e.Line]; !ok || !strings.Contains(e.Reason, w) {
			t.Errorf("line %d: %q, want it to name %q", e.Line, e.Reason, w)
		}
	}
	if n := f.count(`SELECT count(*) FROM members WHERE phone = '13900000014'`); n != 0 {
		t.Fatal("the member of the row whose card failed was written")
	}
	if n := f.count(`SELECT count(*) FROM members`); n != 3 {
		t.Fatalf("%d members, want 3", n)
	}
	var ms MembersReply
	f.must("GET", "/v1/members?phone=13900000001", tokFinance, nil, http.StatusOK, &ms)
	if len(ms.Members) != 1 || ms.Members[0].Name != "Existing Renamed" || ms.Members[0].Category != "annual" {
		t.Fatalf("updated member %+v", ms.Members)
	}
	f.must("GET", "/v1/members?id_number=11010519491231002x", tokCashier, nil, http.StatusOK, &ms)
	if len(ms.Members) != 1 || ms.Members[0].Name != "Zhao Yi" || len(ms.Members[0].Cards) != 1 || ms.Members[0].Cards[0].ExpiresOn != "2027-12-31" {
		t.Fatalf("imported member %+v", ms.Members)
	}
	// The same file again: every good row updates, nothing is created.
	r = f.send("POST", "/v1/members/import?park=fun", tokAdmin, []byte(strings.Replace(csv, "IMP00001,2027-12-31", ",", 1)), "text/csv")
	res = ImportResult{}
	r.decode(t, &res)
	if res.Created != 0 || res.Updated != 3 || len(res.Errors) != len(want) {
		t.Fatalf("second import %+v", res)
	}
	// A file the import cannot read at all writes nothing.
	f.wantProblem("POST", "/v1/members/import", tokAdmin, []byte("nom,telephone\nA,1\n"), http.StatusBadRequest, "bad_file")
	f.wantProblem("POST", "/v1/members/import", tokCashier, []byte(csv), http.StatusForbidden, "")
	if n := f.count(`SELECT count(*) FROM audit_log WHERE action = 'member.import'`); n != 2 {
		t.Fatalf("%d import audit rows", n)
	}
}

// Export as XLSX, edit nothing, import again: the same members, updated.
func TestExportImportXLSXRoundTrip(t *testing.T) {
	f := newFixture(t)
	f.memberWithCard("Round Trip", "13900000021", "RT000001")
	f.must("POST", "/v1/members", tokCashier, map[string]any{"name": "=cmd|' /C calc'!A0", "phone": "13900000022"}, http.StatusCreated, nil)
	r := f.send("GET", "/v1/members/export?format=xlsx", tokFinance, nil, "")
	if r.status != http.StatusOK || SniffFormat(r.body) != FormatXLSX {
		t.Fatalf("export: %d %q", r.status, r.header.Get("Content-Type"))
	}
	rows, err := parseTable(r.body, FormatXLSX, 100)
	if err != nil || len(rows) != 2 || rows[0].Cells["name"] != "Round Trip" || rows[0].Cells["phone"] != "13900000021" {
		t.Fatalf("exported rows %+v: %v", rows, err)
	}
	var res ImportResult
	f.must("POST", "/v1/members/import", tokAdmin, r.body, http.StatusOK, &res)
	if res.Created != 0 || res.Updated != 2 || len(res.Errors) != 0 {
		t.Fatalf("re-import %+v", res)
	}
	// CSV export: a cell a spreadsheet would run as a formula is quoted.
	r = f.send("GET", "/v1/members/export", tokAdmin, nil, "")
	if !bytes.Contains(r.body, []byte("'=cmd")) {
		t.Fatalf("formula not neutralized: %s", r.body)
	}
	r = f.send("GET", "/v1/members/template?format=csv", tokCashier, nil, "")
	if string(r.body) != "name,phone,category,id_number,photo_ref,note,card_number,card_expires_on\n" {
		t.Fatalf("template %q", r.body)
	}
}

func FuzzParseTable(f *testing.F) {
	f.Add([]byte("name,phone\nA,1\n"), false)
	f.Add([]byte("\xef\xbb\xbfname,card_number\n\"a,b\",X\n,,,\n"), false)
	f.Add([]byte("PK\x03\x04garbage"), true)
	f.Add([]byte("name\n\"unterminated\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, xlsx bool) {
		format := FormatCSV
		if xlsx {
			format = FormatXLSX
		}
		rows, err := parseTable(data, format, 50)
		if err != nil {
			return
		}
		if len(rows) > 50 {
			t.Fatalf("%d rows past the limit", len(rows))
		}
		for _, r := range rows {
			if r.Line < 2 {
				t.Fatalf("data row at line %d", r.Line)
			}
			for k := range r.Cells {
				if !contains(templateColumns, k) {
					t.Fatalf("cell of column %q", k)
				}
			}
		}
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
