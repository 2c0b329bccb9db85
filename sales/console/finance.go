package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/admitpark/admit/sales/report"
	"github.com/admitpark/admit/sales/shift"
)

// Finance: the reports of package report (the same Write the API uses)
// as tables with a chart drawn here as SVG, their CSV and XLSX downloads,
// and the closed shifts waiting for confirmation.

func (c *Console) financeRoutes() {
	c.mux.Handle("GET /finance", c.route(rolesFinance, c.handleFinance))
	c.mux.Handle("GET /finance/export", c.route(rolesFinance, c.handleExport))
}

// reportForm is what the finance screen asks for.
type reportForm struct {
	Report, From, To, Period, GroupBy string
}

// reportTable is a report decoded for the screen.
type reportTable struct {
	Meta    report.Meta
	Rows    [][]string
	Totals  []string
	Numeric []bool
	Chart   *chart
}

// chart is a bar chart: gross and refunds per label.
type chart struct {
	W, H, Base int
	Bars       []bar
	Ticks      []tick
	Legend     [2]string
}

type bar struct {
	X, W, GrossY, GrossH, RefundY, RefundH int
	Label, Title                           string
	LabelX                                 int
}

type tick struct {
	Y     int
	Label string
}

type financeData struct {
	Form      reportForm
	Reports   []string
	Groupings []string
	Table     *reportTable
	Query     string // for the download links
	Shifts    []shift.Shift
	Loc       *time.Location
}

func (c *Console) handleFinance(w http.ResponseWriter, r *http.Request, s *sess) {
	c.financePage(w, r, s, http.StatusOK, "", "")
}

func (c *Console) reportParams(r *http.Request, parkID string) (report.Params, reportForm) {
	q := r.URL.Query()
	f := reportForm{Report: q.Get("report"), From: q.Get("from"), To: q.Get("to"), Period: q.Get("period"), GroupBy: q.Get("group_by")}
	if !slices.Contains(report.Names, f.Report) {
		f.Report = report.Revenue
	}
	p := report.Params{Park: parkID, From: f.From, To: f.To}
	if f.Report == report.Revenue {
		p.Period = f.Period
		if f.GroupBy != "" {
			p.GroupBy = []string{f.GroupBy}
		}
	}
	return p, f
}

func (c *Console) financePage(w http.ResponseWriter, r *http.Request, s *sess, status int, flash, errMsg string) {
	ctx := r.Context()
	park, err := c.parkOf(ctx, s, r.URL.Query().Get("park"))
	if err != nil {
		c.render(w, r, s, errStatus(err), "error", "title.error", nil, "", c.errText(s.L, err))
		return
	}
	params, form := c.reportParams(r, park.ID)
	today := park.Today(c.cfg.Clock.Now())
	if form.From == "" {
		form.From = today.AddDate(0, 0, -6).Format(time.DateOnly)
		params.From = form.From
	}
	if form.To == "" {
		form.To = today.Format(time.DateOnly)
		params.To = form.To
	}
	d := financeData{Form: form, Reports: report.Names, Groupings: []string{"", "product", "sales_point", "channel", "cashier", "method"},
		Loc: park.Location()}
	var buf bytes.Buffer
	params.Format = report.FormatJSON
	if err := c.cfg.Reports.Write(ctx, s.P, form.Report, params, &buf); err != nil {
		errMsg = c.errText(s.L, err)
		status = errStatus(err)
	} else if d.Table, err = decodeReport(buf.Bytes(), s.L); err != nil {
		c.cfg.Log.Warn("console: decode report", "err", err)
		errMsg = s.L.T("err.internal")
	}
	qs := fmt.Sprintf("report=%s&from=%s&to=%s&period=%s&group_by=%s", form.Report, params.From, params.To, params.Period, form.GroupBy)
	d.Query = qs
	if d.Shifts, err = c.cfg.Shifts.List(ctx, s.P, shift.ListFilter{ParkID: park.ID, Status: "closed"}); err != nil {
		c.cfg.Log.Warn("console: list shifts", "err", err)
	}
	c.render(w, r, s, status, "finance", "title.finance", d, flash, errMsg)
}

// decodeReport reads the JSON report (report.Meta, rows and totals as
// objects by column) into text cells: money in the park's currency.
func decodeReport(b []byte, l *Locale) (*reportTable, error) {
	var raw struct {
		report.Meta
		Rows   []map[string]json.RawMessage `json:"rows"`
		Totals map[string]json.RawMessage   `json:"totals"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	t := &reportTable{Meta: raw.Meta}
	cell := func(col report.Column, v json.RawMessage) (string, int64) {
		var n int64
		switch col.Kind {
		case report.KindMoney, report.KindInt:
			if err := json.Unmarshal(v, &n); err != nil {
				return "", 0
			}
			if col.Kind == report.KindMoney {
				return Money(n, raw.Currency), n
			}
			return strconv.FormatInt(n, 10), n
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return strings.Trim(string(v), `"`), 0
		}
		if col.Name == "method" { // payment methods in the user's language
			s = l.Or("box.method_", s)
		}
		return s, 0
	}
	var points []chartPoint
	for _, row := range raw.Rows {
		cells := make([]string, len(raw.Columns))
		var p chartPoint
		var labels []string
		for i, col := range raw.Columns {
			var n int64
			cells[i], n = cell(col, row[col.Name])
			switch {
			case col.Name == "gross_minor":
				p.gross = n
			case col.Name == "refunds_minor":
				p.refund = n
			case col.Kind == report.KindText:
				labels = append(labels, cells[i])
			}
		}
		p.label = strings.Join(labels, " · ")
		points = append(points, p)
		t.Rows = append(t.Rows, cells)
	}
	for _, col := range raw.Columns {
		t.Numeric = append(t.Numeric, col.Kind != report.KindText)
		s, _ := cell(col, raw.Totals[col.Name])
		t.Totals = append(t.Totals, s)
	}
	if raw.Report == report.Revenue && raw.Period == "day" && len(raw.GroupBy) == 0 {
		points = everyDay(points, raw.From, raw.To)
	}
	if raw.Report == report.Revenue && len(points) > 0 {
		t.Chart = barChart(points, raw.Currency, l)
	}
	return t, nil
}

// everyDay gives each day of [from, to] its bar, zero where nothing
// happened, so the chart's axis is the calendar (at most the last 40).
func everyDay(pts []chartPoint, from, to string) []chartPoint {
	first, err1 := time.Parse(time.DateOnly, from)
	last, err2 := time.Parse(time.DateOnly, to)
	if err1 != nil || err2 != nil || last.Sub(first) > 366*24*time.Hour {
		return pts
	}
	if d := last.AddDate(0, 0, -39); d.After(first) {
		first = d
	}
	by := map[string]chartPoint{}
	for _, p := range pts {
		by[p.label] = p
	}
	var out []chartPoint
	for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
		label := d.Format(time.DateOnly)
		p := by[label]
		p.label = label
		out = append(out, p)
	}
	return out
}

// chartPoint is one bar pair: gross and refunds of a label.
type chartPoint struct {
	label         string
	gross, refund int64
}

// barChart lays out gross and refunds per label (the last 40 shown).
func barChart(pts []chartPoint, currency string, l *Locale) *chart {
	if len(pts) > 40 {
		pts = pts[len(pts)-40:]
	}
	const w, h, left, top, base = 720, 240, 70, 10, 200
	var most int64 = 1
	for _, p := range pts {
		most = max(most, p.gross, p.refund)
	}
	ch := &chart{W: w, H: h, Base: base, Legend: [2]string{l.T("finance.gross"), l.T("finance.refunds")}}
	slot := (w - left - 10) / len(pts)
	bw := min(36, max(4, slot*2/5))
	for i, p := range pts {
		x := left + i*slot + slot/2 - bw
		gh := int(p.gross * int64(base-top) / most)
		rh := int(p.refund * int64(base-top) / most)
		label := p.label
		if len(pts) > 10 && len(label) == len("2006-01-02") {
			label = label[5:] // MM-DD
		}
		ch.Bars = append(ch.Bars, bar{X: x, W: bw, GrossY: base - gh, GrossH: gh, RefundY: base - rh, RefundH: rh,
			Label: label, LabelX: x + bw, Title: p.label + ": " + Money(p.gross, currency) + " / -" + Money(p.refund, currency)})
	}
	for i := 0; i <= 4; i++ {
		v := most * int64(i) / 4
		ch.Ticks = append(ch.Ticks, tick{Y: base - int(v*int64(base-top)/most), Label: Money(v, currency)})
	}
	return ch
}

// handleExport streams a report as CSV or XLSX, as GET /v1/reports does,
// for the finance user's session.
func (c *Console) handleExport(w http.ResponseWriter, r *http.Request, s *sess) {
	park, err := c.parkOf(r.Context(), s, r.URL.Query().Get("park"))
	if err != nil {
		c.render(w, r, s, errStatus(err), "error", "title.error", nil, "", c.errText(s.L, err))
		return
	}
	params, form := c.reportParams(r, park.ID)
	params.Format = r.URL.Query().Get("format")
	if params.Format != report.FormatCSV && params.Format != report.FormatXLSX {
		params.Format = report.FormatCSV
	}
	lw := &lazyWriter{w: w, header: func() {
		w.Header().Set("Content-Type", report.ContentType[params.Format])
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s-%s-%s.%s"`, form.Report, park.ID, params.From, params.To, params.Format))
		w.Header().Set("Cache-Control", "no-store")
	}}
	if err := c.cfg.Reports.Write(r.Context(), s.P, form.Report, params, lw); err != nil {
		if !lw.started {
			c.render(w, r, s, errStatus(err), "error", "title.error", nil, "", c.errText(s.L, err))
			return
		}
		// Half a file was sent: break the connection rather than end it
		// as if complete.
		c.cfg.Log.Warn("console: export failed while streaming", "report", form.Report, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// lazyWriter sends the headers with the first byte, so a refusal before
// any row can still be an error page.
type lazyWriter struct {
	w       http.ResponseWriter
	header  func()
	started bool
}

func (l *lazyWriter) Write(b []byte) (int, error) {
	if !l.started {
		l.started = true
		l.header()
	}
	return l.w.Write(b)
}
