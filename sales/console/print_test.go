package console

import (
	"bytes"
	"compress/zlib"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/go-pdf/fpdf"
)

// cjkFont is the font make deps installs; the test fails without it
// rather than skip, so a machine without it is noticed.
func cjkFont(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(DefaultCJKFont)
	if err != nil {
		t.Fatalf("the CJK font %s is missing: run `make deps` (it installs Debian's fonts-droid-fallback): %v", DefaultCJKFont, err)
	}
	if err := checkFont(b); err != nil {
		t.Fatalf("the CJK font %s: %v", DefaultCJKFont, err)
	}
	return b
}

// TestTicketPDFsInChinese: a user whose language is zh-CN gets a PDF that
// embeds the CJK font (its subset) and writes the Chinese labels and
// names with it; the QR still decodes to the code.
func TestTicketPDFsInChinese(t *testing.T) {
	font := cjkFont(t)
	orig := bytes.Clone(font)
	tickets := []printTicket{{ID: "14bc65f6036047539af422acd63623d6", Code: "CODE 12345", ProductID: "child", ProductName: "儿童票",
		VisitDate: "2026-12-02", Slot: "10:00-11:00", Price: "CNY 90.00", Order: "W20261202-577838", Park: "阳光乐园", Holder: "张三"}}
	for _, layout := range []string{layoutThermal, layoutA4} {
		pdf, err := ticketsPDF(tickets, layout, locale("zh-CN"), font)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"/BaseFont /utf8" + cjkFamily, "/FontFile2 ", "/Encoding /Identity-H"} {
			if !bytes.Contains(pdf, []byte(want)) {
				t.Errorf("%s: the PDF lacks %q: the CJK font is not embedded", layout, want)
			}
		}
		// The pages write the labels and names in Chinese with that font
		// (fpdf writes a UTF-8 font's text as UTF-16BE).
		content := pageStreams(t, pdf)
		for _, want := range []string{"阳光乐园", "儿童票", "游玩日期", "张三"} {
			if !bytes.Contains(content, utf16be(want)) {
				t.Errorf("%s: the pages do not print %q", layout, want)
			}
		}
		codes, err := PDFQRCodes(pdf)
		if err != nil || !slices.Equal(codes, []string{"CODE 12345"}) {
			t.Errorf("%s: QR codes %q, %v", layout, codes, err)
		}
	}
	// Every print shares the font read at start: printing leaves it as
	// it was.
	if !bytes.Equal(font, orig) {
		t.Error("printing changed the shared font's bytes")
	}
}

// TestPrintLanguage: the labels follow the user's language when the font
// is there; without it a Chinese user's print is in English and says why.
func TestPrintLanguage(t *testing.T) {
	font := cjkFont(t)
	tk := printTicket{VisitDate: "2026-12-02", ProductName: "儿童票", ProductID: "child"}
	for _, c := range []struct {
		lang      string
		font      []byte
		label     string
		name      string
		wantsNote bool
	}{
		{"zh-CN", font, "游玩日期", "儿童票", false},
		{"en", font, "Visit date", "儿童票", false},
		{"zh-CN", nil, "Visit date", "child", true},
		{"en", nil, "Visit date", "child", false},
	} {
		p := newPrinter(fpdf.New("P", "mm", "A4", ""), locale(c.lang), c.font)
		if got := p.rows(tk)[0][0]; got != c.label {
			t.Errorf("%s (font %v): label %q, want %q", c.lang, c.font != nil, got, c.label)
		}
		if got := p.text(tk.ProductName, tk.ProductID); got != c.name {
			t.Errorf("%s (font %v): product %q, want %q", c.lang, c.font != nil, got, c.name)
		}
		if (p.note != "") != c.wantsNote || (c.wantsNote && !strings.Contains(p.note, "English")) {
			t.Errorf("%s (font %v): note %q", c.lang, c.font != nil, p.note)
		}
	}
}

// pageStreams is every zlib stream of pdf, inflated and joined.
func pageStreams(t *testing.T, pdf []byte) []byte {
	t.Helper()
	var out []byte
	for i := 0; ; {
		j := bytes.Index(pdf[i:], []byte("stream\n"))
		if j < 0 {
			return out
		}
		i += j + len("stream\n")
		zr, err := zlib.NewReader(bytes.NewReader(pdf[i:]))
		if err != nil {
			continue // not compressed (the font's maps, images are PNG data)
		}
		b, _ := io.ReadAll(zr)
		out = append(out, b...)
	}
}

func utf16be(s string) []byte {
	var b []byte
	for _, r := range s { // the Basic Multilingual Plane is enough here
		b = append(b, byte(r>>8), byte(r))
	}
	return b
}
