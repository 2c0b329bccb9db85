package console

import (
	"bytes"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestTicketPDFsCarryTheCode(t *testing.T) {
	codes := []string{"W50.Q02+C9J0Y09NQJBH4S3R*N4000100000100AHP548FHPEES000:20KX7$R3 GJ NH4", "ANOTHER CODE 12345"}
	tickets := []printTicket{
		{ID: "04bc65f6036047539af422acd63623d6", Code: codes[0], ProductID: "adult-day", ProductName: "Adult day ticket",
			VisitDate: "2026-12-02", Price: "CNY 180.00", Order: "W20261202-577838", Park: "Sunny Park", Number: "984295426030"},
		{ID: "14bc65f6036047539af422acd63623d6", Code: codes[1], ProductID: "child", ProductName: "儿童票",
			VisitDate: "2026-12-02", Slot: "10:00-11:00", Price: "CNY 90.00", Order: "W20261202-577838", Park: "阳光乐园"},
	}
	for _, layout := range []string{layoutThermal, layoutA4} {
		pdf, err := ticketsPDF(tickets, layout, locale("en"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(pdf), "%PDF-") {
			t.Fatalf("%s: not a PDF", layout)
		}
		got, err := PDFQRCodes(pdf)
		if err != nil {
			t.Fatalf("%s: %v", layout, err)
		}
		slices.Sort(got) // fpdf writes images in no fixed order
		want := slices.Sorted(slices.Values(codes))
		if !slices.Equal(got, want) {
			t.Errorf("%s: QR codes %q, want %q", layout, got, want)
		}
		// The typed number is printed in fours, as a person types it at a
		// staffed gate.
		if content := pageStreams(t, pdf); !bytes.Contains(content, []byte("9842 9542 6030")) {
			t.Errorf("%s: the typed ticket number is not printed", layout)
		}
		pages := strings.Count(string(pdf), "/Type /Page\n")
		wantPages := map[string]int{layoutThermal: 2, layoutA4: 1}[layout]
		if pages != wantPages {
			t.Errorf("%s: %d pages, want %d", layout, pages, wantPages)
		}
	}
}

func TestParseMoney(t *testing.T) {
	for _, c := range []struct {
		in, cur string
		want    int64
		ok      bool
	}{
		{"200", "CNY", 20000, true}, {"200.5", "CNY", 20050, true}, {"¥1,000.00", "CNY", 100000, true}, {".5", "CNY", 50, true},
		{"0", "CNY", 0, true}, {"1.234", "CNY", 0, false}, {"abc", "CNY", 0, false}, {"", "CNY", 0, false}, {"-5", "CNY", 0, false},
		{".", "CNY", 0, false}, {"1500", "JPY", 1500, true}, {"1500.5", "JPY", 0, false}, {"99999999999999999", "CNY", 0, false},
	} {
		got, err := ParseMoney(c.in, c.cur)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("ParseMoney(%q, %s) = %d, %v; want %d ok=%v", c.in, c.cur, got, err, c.want, c.ok)
		}
	}
	if got := Money(4000, "CNY"); got != "¥40.00" {
		t.Errorf("Money(4000, CNY) = %q", got)
	}
	if got := Money(-5, "CNY"); got != "-¥0.05" {
		t.Errorf("Money(-5, CNY) = %q", got)
	}
}

// FuzzParseMoney: whatever a cashier types, ParseMoney never panics and
// what it accepts Money writes back as the same amount.
func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{"200", "200.50", "¥1,000", ".5", "1e9", "٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseMoney(s, "CNY")
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("negative %d from %q", n, s)
		}
		back, err := ParseMoney(Money(n, "CNY"), "CNY")
		if err != nil || back != n {
			t.Fatalf("%q -> %d -> %q -> %d, %v", s, n, Money(n, "CNY"), back, err)
		}
	})
}

func TestClassify(t *testing.T) {
	for q, want := range map[string]string{
		"W20261202-577838":                 "order",
		"04bc65f6036047539af422acd63623d6": "ticket",
		"13800138000":                      "phone",
		"+86 138 0013 8000":                "phone",
		"11010119900307123X":               "id_number",
	} {
		if got, _ := classify(q); got != want {
			t.Errorf("classify(%q) = %s, want %s", q, got, want)
		}
	}
}

// TestCatalogue: both languages have the same keys, and every key the
// code and templates name is in them.
func TestCatalogue(t *testing.T) {
	for k := range messagesEN {
		if _, ok := messagesZH[k]; !ok {
			t.Errorf("key %s has no Chinese", k)
		}
	}
	for k := range messagesZH {
		if _, ok := messagesEN[k]; !ok {
			t.Errorf("key %s has no English", k)
		}
	}
	keyRe := regexp.MustCompile(`"((?:nav|role|title|login|password|err|box|print|lookup|ticket|status|entry|refund|reprint|reason|ops|admin|kind|dir|audit|finance|shift|report|lang)\.[a-z0-9_.]*[a-z0-9])"`)
	files, _ := os.ReadDir(".")
	var srcs []string
	for _, f := range files {
		if strings.HasSuffix(f.Name(), ".go") && !strings.HasSuffix(f.Name(), "_test.go") && f.Name() != "messages.go" {
			srcs = append(srcs, f.Name())
		}
	}
	tpls, _ := os.ReadDir("templates")
	for _, f := range tpls {
		srcs = append(srcs, "templates/"+f.Name())
	}
	for _, name := range srcs {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range keyRe.FindAllStringSubmatch(string(b), -1) {
			if _, ok := messagesEN[m[1]]; !ok {
				t.Errorf("%s names %s, which the catalogue lacks", name, m[1])
			}
		}
	}
}

func TestCSRFIsBoundToTheSession(t *testing.T) {
	a, b := csrfFor("st_one"), csrfFor("st_two")
	if a == b || !sameToken(a, csrfFor("st_one")) || sameToken("", "") || sameToken(a, b) {
		t.Errorf("csrf tokens: %q %q", a, b)
	}
}

func TestRevenueChartHasEveryDay(t *testing.T) {
	pts := everyDay([]chartPoint{{label: "2026-12-02", gross: 36000, refund: 16200}}, "2026-11-26", "2026-12-02")
	if len(pts) != 7 || pts[0].label != "2026-11-26" || pts[6].gross != 36000 || pts[3].gross != 0 {
		t.Fatalf("days %+v", pts)
	}
	ch := barChart(pts, "CNY", locale("en"))
	if len(ch.Bars) != 7 || ch.Bars[6].GrossH != ch.Base-10 || ch.Bars[6].RefundH >= ch.Bars[6].GrossH || ch.Bars[0].GrossH != 0 {
		t.Errorf("bars %+v", ch.Bars)
	}
}

// FuzzSearchAndHolders: whatever is typed or scanned into the search box
// or the holders field, classifying and parsing never panic, and parsed
// holders have a name and an ID number.
func FuzzSearchAndHolders(f *testing.F) {
	for _, s := range []string{"W20261202-577838", "04bc65f6036047539af422acd63623d6", "13800138000", "张三，110101199003071233\n李四, 1234", ",", "\t\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		classify(s)
		hs, err := parseHolders(s)
		if err != nil {
			return
		}
		for _, h := range hs {
			if h.Name == "" || h.IDNumber == "" {
				t.Fatalf("holder %+v from %q", h, s)
			}
		}
	})
}

// TestNoInlineScriptOrStyle: the templates hold no inline script, no on*
// handler and no style attribute, which the Content-Security-Policy
// (script-src 'self'; style-src 'self') would block.
func TestNoInlineScriptOrStyle(t *testing.T) {
	bad := regexp.MustCompile(`(?i)\son[a-z]+\s*=|\sstyle\s*=|javascript:`)
	script := regexp.MustCompile(`(?i)<script[^>]*>`)
	files, _ := os.ReadDir("templates")
	for _, f := range files {
		b, err := os.ReadFile("templates/" + f.Name())
		if err != nil {
			t.Fatal(err)
		}
		if m := bad.Find(b); m != nil {
			t.Errorf("%s: %q", f.Name(), m)
		}
		for _, loc := range script.FindAllIndex(b, -1) {
			tag, rest := string(b[loc[0]:loc[1]]), string(b[loc[1]:])
			if !strings.Contains(tag, "src=") || !strings.HasPrefix(rest, "</script>") {
				t.Errorf("%s: inline script %q", f.Name(), tag)
			}
		}
	}
}

// The finance table shows payment methods in the user's language and
// money in the park's currency.
func TestReportTableInTheUsersLanguage(t *testing.T) {
	raw := []byte(`{"report":"revenue","currency":"CNY","from":"2026-12-01","to":"2026-12-01","group_by":["method"],
		"columns":[{"name":"method","kind":"text"},{"name":"gross_minor","kind":"money"}],
		"rows":[{"method":"card","gross_minor":18000},{"method":"wallet","gross_minor":9000}],
		"totals":{"method":"","gross_minor":27000}}`)
	for lang, want := range map[string][]string{"en": {"Bank card", "Alipay / WeChat"}, "zh-CN": {"银行卡", "支付宝/微信"}} {
		tbl, err := decodeReport(raw, locale(lang))
		if err != nil {
			t.Fatal(err)
		}
		if len(tbl.Rows) != 2 || tbl.Rows[0][0] != want[0] || tbl.Rows[1][0] != want[1] || tbl.Rows[0][1] != "¥180.00" {
			t.Errorf("%s: rows %q, want methods %q and ¥180.00", lang, tbl.Rows, want)
		}
	}
}
