package console

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
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
// The PDF uses the core Helvetica font, which has no Chinese glyphs: no
// CJK TrueType font small enough to embed with a licence that allows it
// is in the tree, so labels are printed in English and names that are not
// Latin are printed as their ids. The QR, which the gate reads, is exact.

// printTicket is one ticket to print.
type printTicket struct {
	ID, Code, ProductID, ProductName, VisitDate, Slot, Price, Order, Park, Holder string
}

// Layouts.
const (
	layoutThermal = "80mm"
	layoutA4      = "a4"
)

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

// ticketsPDF lays tickets out in layout.
func ticketsPDF(tickets []printTicket, layout string) ([]byte, error) {
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
	for i, t := range tickets {
		png, err := qrPNG(t.Code)
		if err != nil {
			return nil, fmt.Errorf("QR of ticket %s: %w", t.ID, err)
		}
		name := "qr-" + t.ID
		pdf.RegisterImageOptionsReader(name, fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(png))
		if layout == layoutThermal {
			pdf.AddPage()
			thermal(pdf, t, name)
			continue
		}
		if i%3 == 0 {
			pdf.AddPage()
		}
		a4(pdf, t, name, 10+float64(i%3)*92)
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

func thermal(pdf *fpdf.Fpdf, t printTicket, img string) {
	pdf.SetFont("Helvetica", "B", 13)
	pdf.SetXY(5, 6)
	pdf.CellFormat(70, 7, latin1(t.Park, "Park"), "", 1, "C", false, 0, "")
	pdf.SetFont("Helvetica", "", 10)
	pdf.CellFormat(70, 6, latin1(t.ProductName, t.ProductID), "", 1, "C", false, 0, "")
	pdf.ImageOptions(img, 12.5, 22, 55, 55, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
	pdf.SetXY(5, 80)
	rows := [][2]string{{"Visit date", t.VisitDate}, {"Slot", t.Slot}, {"Price", t.Price}, {"Order", t.Order}, {"Ticket", t.ID}}
	if t.Holder != "" {
		rows = append(rows, [2]string{"Holder", latin1(t.Holder, "(real name)")})
	}
	for _, r := range rows {
		if r[1] == "" {
			continue
		}
		pdf.SetFont("Helvetica", "", 8)
		pdf.CellFormat(20, 5.5, r[0], "", 0, "L", false, 0, "")
		pdf.SetFont("Helvetica", "B", 9)
		pdf.CellFormat(50, 5.5, r[1], "", 1, "L", false, 0, "")
	}
	pdf.SetFont("Helvetica", "", 7)
	pdf.SetXY(5, 140)
	pdf.CellFormat(70, 4, "Show this code at the gate. Valid once as printed.", "", 1, "C", false, 0, "")
}

func a4(pdf *fpdf.Fpdf, t printTicket, img string, top float64) {
	pdf.SetDrawColor(150, 150, 150)
	pdf.SetDashPattern([]float64{2, 2}, 0)
	pdf.Rect(10, top, 190, 86, "D")
	pdf.SetDashPattern([]float64{}, 0)
	pdf.ImageOptions(img, 14, top+4, 78, 78, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
	pdf.SetXY(98, top+6)
	pdf.SetFont("Helvetica", "B", 16)
	pdf.CellFormat(98, 9, latin1(t.Park, "Park"), "", 2, "L", false, 0, "")
	pdf.SetFont("Helvetica", "B", 12)
	pdf.CellFormat(98, 8, latin1(t.ProductName, t.ProductID), "", 2, "L", false, 0, "")
	rows := [][2]string{{"Visit date", t.VisitDate}, {"Slot", t.Slot}, {"Price", t.Price}, {"Order", t.Order}, {"Ticket", t.ID}}
	if t.Holder != "" {
		rows = append(rows, [2]string{"Holder", latin1(t.Holder, "(real name)")})
	}
	for _, r := range rows {
		if r[1] == "" {
			continue
		}
		pdf.SetX(98)
		pdf.SetFont("Helvetica", "", 10)
		pdf.CellFormat(26, 7, r[0], "", 0, "L", false, 0, "")
		pdf.SetFont("Helvetica", "B", 11)
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
		Price: pdfMoney(t.PriceMinor, t.Currency), Order: t.OrderNumber, Park: park.Name, Holder: t.Holder}
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
	b, err := ticketsPDF(tickets, layout)
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
