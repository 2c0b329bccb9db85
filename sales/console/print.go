package console

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/go-pdf/fpdf"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/admitpark/admit/sales/catalog"
	"github.com/admitpark/admit/sales/lookup"
	"github.com/admitpark/admit/validator/ticket"
)

// Printed tickets: a PDF (github.com/go-pdf/fpdf) with the ticket's QR,
// product, visit date, slot, price, order number and park name, in an
// 80 mm thermal-roll layout (one ticket a page) or A4 (three a page).
//
// Chinese needs a font with CJK glyphs: Config.CJKFont (Debian's
// fonts-droid-fallback, Apache 2.0, installed by make deps), read once at
// start and subset into each PDF by fpdf (only the glyphs printed are
// embedded). With it, labels are in the user's language and names in any
// script; without it the core Helvetica font prints labels in English,
// names that are not Latin as their ids, and a line saying why. The QR,
// which the gate reads, is exact either way.

// printTicket is one ticket to print.
type printTicket struct {
	ID, Code, ProductID, ProductName, VisitDate, Slot, Price, Order, Park, Holder string
	// Number is the typed ticket number (12 digits, Luhn check digit last),
	// for a staffed gate when the QR does not scan; printed in fours.
	Number string
}

// Layouts.
const (
	layoutThermal = "80mm"
	layoutA4      = "a4"
)

// cjkFamily is the name the CJK font is registered under in a PDF.
const cjkFamily = "cjk"

// printer writes text in one PDF: its font and its labels' language.
type printer struct {
	pdf  *fpdf.Fpdf
	l    *Locale             // the labels' language
	cjk  bool                // the CJK font is embedded
	tr   func(string) string // UTF-8 to Helvetica's code page
	note string              // printed at the foot: why the print is not in the user's language
}

// newPrinter sets pdf up for a user of language l; font is the CJK font's
// TrueType bytes, nil when the server has none.
func newPrinter(pdf *fpdf.Fpdf, l *Locale, font []byte) *printer {
	p := &printer{pdf: pdf, l: l}
	if font != nil {
		// A copy: fpdf v0.9.0 writes into the bytes it is given (an append
		// to a slice of them when it reads a glyph's metrics), and the
		// font is shared by every print.
		pdf.AddUTF8FontFromBytes(cjkFamily, "", bytes.Clone(font))
		p.cjk = true
		return p
	}
	p.tr = pdf.UnicodeTranslatorFromDescriptor("")
	if l.Code != "en" {
		p.l, p.note = locales["en"], l.T("print.no_cjk")
	}
	return p
}

// font sets the text style; the CJK font has no bold, so it is regular.
func (p *printer) font(style string, size float64) {
	if p.cjk {
		p.pdf.SetFont(cjkFamily, "", size)
		return
	}
	p.pdf.SetFont("Helvetica", style, size)
}

// text is s as the font can print it: as is with the CJK font, else s
// when it is Latin-1 and fallback when not.
func (p *printer) text(s, fallback string) string {
	if p.cjk {
		return s
	}
	return p.tr(latin1(s, fallback))
}

// rows are a ticket's labelled facts.
func (p *printer) rows(t printTicket) [][2]string {
	rows := [][2]string{{p.l.T("print.visit_date"), t.VisitDate}, {p.l.T("print.slot"), t.Slot}, {p.l.T("print.price"), t.Price},
		{p.l.T("print.order"), t.Order}, {p.l.T("print.ticket"), t.ID}}
	if t.Number != "" {
		rows = append(rows, [2]string{p.l.T("print.number"), groupsOfFour(t.Number)})
	}
	if t.Holder != "" {
		rows = append(rows, [2]string{p.l.T("print.holder"), p.text(t.Holder, p.l.T("print.real_name"))})
	}
	return rows
}

// checkFont makes a one-line PDF with font: a font fpdf cannot read is
// found at start, not at the first print.
func checkFont(font []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("fpdf: %v", r)
		}
	}()
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.AddUTF8FontFromBytes(cjkFamily, "", bytes.Clone(font)) // see newPrinter
	pdf.SetFont(cjkFamily, "", 10)
	pdf.AddPage()
	pdf.CellFormat(50, 5, "门票 Ticket", "", 1, "L", false, 0, "")
	return pdf.Output(io.Discard)
}

// latin1 keeps s when Helvetica can print it, else falls back.
func latin1(s, fallback string) string {
	for _, r := range s {
		if r > unicode.MaxLatin1 {
			return fallback
		}
	}
	return s
}

// qrPNG renders code as an 8-bit grey PNG, 4 pixels a module with the
// quiet zone; the PDF keeps those pixels as they are.
func qrPNG(code string) ([]byte, error) {
	q, err := qrcode.New(code, qrcode.Medium)
	if err != nil {
		return nil, err
	}
	bm := q.Bitmap()
	const px = 4
	img := image.NewGray(image.Rect(0, 0, len(bm)*px, len(bm)*px))
	for y, row := range bm {
		for x, dark := range row {
			c := color.Gray{Y: 255}
			if dark {
				c = color.Gray{Y: 0}
			}
			for dy := range px {
				for dx := range px {
					img.SetGray(x*px+dx, y*px+dy, c)
				}
			}
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ticketsPDF lays tickets out in layout, for a user of language l; font
// is the CJK font (nil: none, see printer).
func ticketsPDF(tickets []printTicket, layout string, l *Locale, font []byte) ([]byte, error) {
	var pdf *fpdf.Fpdf
	if layout == layoutThermal {
		pdf = fpdf.NewCustom(&fpdf.InitType{UnitStr: "mm", Size: fpdf.SizeType{Wd: 80, Ht: 150}})
	} else {
		pdf = fpdf.New("P", "mm", "A4", "")
	}
	pdf.SetCreator("admit", false)
	pdf.SetTitle("Tickets", false)
	pdf.SetAutoPageBreak(false, 0)
	pdf.SetMargins(5, 5, 5)
	p := newPrinter(pdf, l, font)
	for i, t := range tickets {
		png, err := qrPNG(t.Code)
		if err != nil {
			return nil, fmt.Errorf("QR of ticket %s: %w", t.ID, err)
		}
		name := "qr-" + t.ID
		pdf.RegisterImageOptionsReader(name, fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(png))
		if layout == layoutThermal {
			pdf.AddPage()
			p.thermal(t, name)
			continue
		}
		if i%3 == 0 {
			pdf.AddPage()
			p.footA4()
		}
		p.a4(t, name, 10+float64(i%3)*92)
	}
	if err := pdf.Error(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := pdf.Output(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (p *printer) thermal(t printTicket, img string) {
	pdf := p.pdf
	p.font("B", 13)
	pdf.SetXY(5, 6)
	pdf.CellFormat(70, 7, p.text(t.Park, p.l.T("print.park")), "", 1, "C", false, 0, "")
	p.font("", 10)
	pdf.CellFormat(70, 6, p.text(t.ProductName, t.ProductID), "", 1, "C", false, 0, "")
	pdf.ImageOptions(img, 12.5, 22, 55, 55, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
	pdf.SetXY(5, 80)
	for _, r := range p.rows(t) {
		if r[1] == "" {
			continue
		}
		p.font("", 8)
		pdf.CellFormat(20, 5.5, r[0], "", 0, "L", false, 0, "")
		p.font("B", 9)
		pdf.CellFormat(50, 5.5, r[1], "", 1, "L", false, 0, "")
	}
	p.font("", 7)
	pdf.SetXY(5, 136)
	if p.note != "" {
		pdf.CellFormat(70, 4, p.note, "", 1, "C", false, 0, "")
	}
	pdf.SetXY(5, 140)
	pdf.CellFormat(70, 4, p.l.T("print.footer"), "", 1, "C", false, 0, "")
}

// footA4 writes the note of an A4 page, below the three tickets.
func (p *printer) footA4() {
	if p.note == "" {
		return
	}
	p.font("", 8)
	p.pdf.SetXY(10, 284)
	p.pdf.CellFormat(190, 4, p.note, "", 1, "C", false, 0, "")
}

func (p *printer) a4(t printTicket, img string, top float64) {
	pdf := p.pdf
	pdf.SetDrawColor(150, 150, 150)
	pdf.SetDashPattern([]float64{2, 2}, 0)
	pdf.Rect(10, top, 190, 86, "D")
	pdf.SetDashPattern([]float64{}, 0)
	pdf.ImageOptions(img, 14, top+4, 78, 78, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
	pdf.SetXY(98, top+6)
	p.font("B", 16)
	pdf.CellFormat(98, 9, p.text(t.Park, p.l.T("print.park")), "", 2, "L", false, 0, "")
	p.font("B", 12)
	pdf.CellFormat(98, 8, p.text(t.ProductName, t.ProductID), "", 2, "L", false, 0, "")
	for _, r := range p.rows(t) {
		if r[1] == "" {
			continue
		}
		pdf.SetX(98)
		p.font("", 10)
		pdf.CellFormat(26, 7, r[0], "", 0, "L", false, 0, "")
		p.font("B", 11)
		pdf.CellFormat(72, 7, r[1], "", 1, "L", false, 0, "")
	}
}

// pdfMoney is Money with a symbol Helvetica can print.
func pdfMoney(minor int64, currency string) string {
	return currency + " " + PlainAmount(minor, currency)
}

func slotText(start, end *time.Time, loc *time.Location) string {
	if start == nil || end == nil || start.IsZero() {
		return ""
	}
	return start.In(loc).Format("15:04") + "-" + end.In(loc).Format("15:04")
}

func (c *Console) printOf(t lookup.Ticket, park catalog.Park) printTicket {
	return printTicket{ID: t.ID, Code: t.Code, ProductID: t.ProductID, ProductName: t.ProductName,
		VisitDate: t.VisitDate, Slot: slotText(t.SlotStart, t.SlotEnd, park.Location()),
		Price: pdfMoney(t.PriceMinor, t.Currency), Order: t.OrderNumber, Park: park.Name, Holder: t.Holder, Number: t.Number}
}

func (c *Console) sendPDF(w http.ResponseWriter, r *http.Request, s *sess, name string, tickets []printTicket) {
	layout := r.URL.Query().Get("layout")
	if layout != layoutThermal {
		layout = layoutA4
	}
	if len(tickets) == 0 {
		c.render(w, r, s, http.StatusNotFound, "error", "title.error", nil, "", s.L.T("err.nothing_to_print"))
		return
	}
	b, err := ticketsPDF(tickets, layout, s.L, c.cjkFont)
	if err != nil {
		c.cfg.Log.Warn("console: PDF", "err", err)
		c.render(w, r, s, http.StatusInternalServerError, "error", "title.error", nil, "", s.L.T("err.internal"))
		return
	}
	// The page policy's object-src 'none' would keep the browser's own
	// PDF viewer from showing the file; a PDF runs no script of ours.
	w.Header().Del("Content-Security-Policy")
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`inline; filename="%s-%s.pdf"`, name, layout))
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

// printable: tickets that admit someone; refunded or replaced ones are
// not printed again.
func printable(status string) bool {
	return status == "unused" || status == "used"
}

func (c *Console) handlePrintTicket(w http.ResponseWriter, r *http.Request, s *sess) {
	id, ok := c.pathTicket(w, r, s)
	if !ok {
		return
	}
	t, err := c.cfg.Lookup.Get(r.Context(), s.P, id)
	if err != nil {
		c.render(w, r, s, errStatus(err), "error", "title.error", nil, "", c.errText(s.L, err))
		return
	}
	park, err := catalog.GetPark(r.Context(), c.cfg.Pool, t.ParkID)
	if err != nil {
		c.render(w, r, s, errStatus(err), "error", "title.error", nil, "", c.errText(s.L, err))
		return
	}
	var list []printTicket
	if printable(t.Status) {
		list = append(list, c.printOf(t, park))
	}
	c.sendPDF(w, r, s, "ticket-"+shortID(t.ID), list)
}

func (c *Console) handlePrintOrder(w http.ResponseWriter, r *http.Request, s *sess) {
	ctx := r.Context()
	number := strings.ToUpper(r.PathValue("number"))
	list, err := c.cfg.Lookup.Find(ctx, s.P, lookup.Query{OrderNumber: number})
	if err != nil {
		c.render(w, r, s, errStatus(err), "error", "title.error", nil, "", c.errText(s.L, err))
		return
	}
	var out []printTicket
	parks := map[string]catalog.Park{}
	for _, lt := range list.Tickets {
		if !printable(lt.Status) {
			continue
		}
		id, err := ticket.ParseID(lt.ID)
		if err != nil {
			continue
		}
		t, err := c.cfg.Lookup.Get(ctx, s.P, id) // Find leaves codes out
		if err != nil {
			c.render(w, r, s, errStatus(err), "error", "title.error", nil, "", c.errText(s.L, err))
			return
		}
		park, ok := parks[t.ParkID]
		if !ok {
			if park, err = catalog.GetPark(ctx, c.cfg.Pool, t.ParkID); err != nil {
				c.render(w, r, s, errStatus(err), "error", "title.error", nil, "", c.errText(s.L, err))
				return
			}
			parks[t.ParkID] = park
		}
		out = append(out, c.printOf(t, park))
	}
	c.sendPDF(w, r, s, "order-"+number, out)
}

// groupsOfFour spaces a ticket number as people read it aloud and type it
// ("9842 9542 6030"); the gate drops the spaces.
func groupsOfFour(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}
