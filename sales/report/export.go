package report

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/xuri/excelize/v2"
)

// Formats.
const (
	FormatJSON = "json"
	FormatCSV  = "csv"
	FormatXLSX = "xlsx"
)

// ContentType of each format.
var ContentType = map[string]string{
	FormatJSON: "application/json",
	FormatCSV:  "text/csv; charset=utf-8",
	FormatXLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

// sink writes one report: Begin once, Row per row, End with the totals.
type sink interface {
	Begin(m Meta) error
	Row(row []any) error
	End(totals []any) error
}

func newSink(format string, w io.Writer) (sink, error) {
	switch format {
	case FormatJSON:
		return &jsonSink{w: bufio.NewWriterSize(w, 32<<10)}, nil
	case FormatCSV:
		return &csvSink{w: csv.NewWriter(w)}, nil
	case FormatXLSX:
		return &xlsxSink{out: w}, nil
	}
	return nil, fmt.Errorf("report: unknown format %q", format)
}

// jsonSink streams {meta..., "rows": [{col: value}...], "totals": {...}}.
type jsonSink struct {
	w    *bufio.Writer
	cols []Column
	n    int
}

func (s *jsonSink) Begin(m Meta) error {
	s.cols = m.Columns
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	s.w.Write(b[:len(b)-1]) // leave the object open
	_, err = s.w.WriteString(`,"rows":[`)
	return err
}

func (s *jsonSink) object(row []any) error {
	s.w.WriteByte('{')
	for i, c := range s.cols {
		if i > 0 {
			s.w.WriteByte(',')
		}
		s.w.WriteString(strconv.Quote(c.Name))
		s.w.WriteByte(':')
		b, err := json.Marshal(row[i])
		if err != nil {
			return err
		}
		s.w.Write(b)
	}
	return s.w.WriteByte('}')
}

func (s *jsonSink) Row(row []any) error {
	if s.n > 0 {
		s.w.WriteByte(',')
	}
	s.n++
	s.w.WriteByte('\n')
	return s.object(row)
}

func (s *jsonSink) End(totals []any) error {
	s.w.WriteString("\n],\"totals\":")
	if err := s.object(totals); err != nil {
		return err
	}
	s.w.WriteString("}\n")
	return s.w.Flush()
}

// csvSink: a header of column names, the rows, and the totals row last.
type csvSink struct {
	w   *csv.Writer
	rec []string
}

func (s *csvSink) Begin(m Meta) error {
	s.rec = make([]string, len(m.Columns))
	for i, c := range m.Columns {
		s.rec[i] = c.Name
	}
	return s.w.Write(s.rec)
}

func (s *csvSink) Row(row []any) error {
	for i, v := range row {
		switch v := v.(type) {
		case string:
			s.rec[i] = v
		case int64:
			s.rec[i] = strconv.FormatInt(v, 10)
		default:
			return fmt.Errorf("report: csv cell of type %T", v)
		}
	}
	return s.w.Write(s.rec)
}

func (s *csvSink) End(totals []any) error {
	if err := s.Row(totals); err != nil {
		return err
	}
	s.w.Flush()
	return s.w.Error()
}

// xlsxSink writes one sheet through excelize's StreamWriter: a header, the
// rows, the totals row. Numbers are numeric cells (minor units).
type xlsxSink struct {
	out io.Writer
	f   *excelize.File
	sw  *excelize.StreamWriter
	row int
}

// Sheet is the name of the one sheet of an XLSX report.
const Sheet = "report"

func (s *xlsxSink) Begin(m Meta) error {
	s.f = excelize.NewFile()
	if err := s.f.SetSheetName("Sheet1", Sheet); err != nil {
		return err
	}
	var err error
	if s.sw, err = s.f.NewStreamWriter(Sheet); err != nil {
		return err
	}
	head := make([]any, len(m.Columns))
	for i, c := range m.Columns {
		head[i] = c.Name
	}
	return s.Row(head)
}

func (s *xlsxSink) Row(row []any) error {
	s.row++
	cell, err := excelize.CoordinatesToCellName(1, s.row)
	if err != nil {
		return err
	}
	return s.sw.SetRow(cell, row)
}

func (s *xlsxSink) End(totals []any) error {
	defer s.f.Close()
	if err := s.Row(totals); err != nil {
		return err
	}
	if err := s.sw.Flush(); err != nil {
		return err
	}
	_, err := s.f.WriteTo(s.out)
	return err
}
