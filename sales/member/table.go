package member

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// The import and export template: one row per member, a header row
// naming the columns (any order; only name is required). A row with a
// card number also opens that card (batch issue).
var templateColumns = []string{"name", "phone", "category", "id_number", "photo_ref", "note", "card_number", "card_expires_on"}

// exportOnly are columns an export adds; an import ignores them, so an
// export can be edited and imported again.
var exportOnly = []string{"member_id", "id_masked", "cards", "created_at"}

// Formats of a table file.
const (
	FormatCSV  = "csv"
	FormatXLSX = "xlsx"
)

// tableRow is one data row: its line in the file (1 is the header) and
// its cells by column name.
type tableRow struct {
	Line  int
	Cells map[string]string
}

// errTable: the file as a whole is unusable (no header, unknown column,
// too many rows); the import writes nothing.
var errTable = errors.New("unusable table")

// SniffFormat tells an XLSX file (a zip archive) from CSV text.
func SniffFormat(data []byte) string {
	if bytes.HasPrefix(data, []byte("PK\x03\x04")) {
		return FormatXLSX
	}
	return FormatCSV
}

// parseTable reads a CSV or XLSX file into its rows, checking the header.
// Blank rows are skipped; at most maxRows data rows.
func parseTable(data []byte, format string, maxRows int) ([]tableRow, error) {
	var records [][]string
	var lines []int // each record's line in the file
	switch format {
	case FormatCSV:
		data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a spreadsheet's UTF-8 byte order mark
		if !utf8.Valid(data) {
			return nil, fmt.Errorf("%w: the CSV file is not UTF-8 text (save it as CSV UTF-8)", errTable)
		}
		r := csv.NewReader(bytes.NewReader(data))
		r.FieldsPerRecord = -1
		for {
			rec, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%w: %v", errTable, err)
			}
			line, _ := r.FieldPos(0) // blank lines are skipped; quoted cells span lines
			records, lines = append(records, rec), append(lines, line)
			if len(records) > maxRows+1 {
				return nil, fmt.Errorf("%w: more than %d rows; split the file", errTable, maxRows)
			}
		}
	case FormatXLSX:
		f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{UnzipSizeLimit: 256 << 20, UnzipXMLSizeLimit: 64 << 20})
		if err != nil {
			return nil, fmt.Errorf("%w: not an XLSX workbook: %v", errTable, err)
		}
		defer f.Close()
		sheets := f.GetSheetList()
		if len(sheets) == 0 {
			return nil, fmt.Errorf("%w: the workbook has no sheet", errTable)
		}
		rows, err := f.Rows(sheets[0])
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errTable, err)
		}
		defer rows.Close()
		for rows.Next() {
			rec, err := rows.Columns()
			if err != nil {
				return nil, fmt.Errorf("%w: %v", errTable, err)
			}
			records, lines = append(records, rec), append(lines, len(records)+1)
			if len(records) > maxRows+1 {
				return nil, fmt.Errorf("%w: more than %d rows; split the file", errTable, maxRows)
			}
		}
	default:
		return nil, fmt.Errorf("%w: format must be csv or xlsx, not %q", errTable, format)
	}
	if len(records) == 0 {
		return nil, fmt.Errorf("%w: the file is empty; the first row names the columns (%s)", errTable, strings.Join(templateColumns, ", "))
	}
	header := make([]string, len(records[0]))
	seen := map[string]bool{}
	for i, h := range records[0] {
		h = strings.ToLower(strings.TrimSpace(h))
		switch {
		case h == "":
		case slices.Contains(templateColumns, h) || slices.Contains(exportOnly, h):
			if seen[h] {
				return nil, fmt.Errorf("%w: column %q twice in the header", errTable, h)
			}
			seen[h] = true
		default:
			return nil, fmt.Errorf("%w: unknown column %q in the header (columns: %s)", errTable, clip(h), strings.Join(templateColumns, ", "))
		}
		header[i] = h
	}
	if !seen["name"] {
		return nil, fmt.Errorf("%w: the header has no name column (columns: %s)", errTable, strings.Join(templateColumns, ", "))
	}
	var out []tableRow
	for i, rec := range records[1:] {
		row := tableRow{Line: lines[i+1], Cells: map[string]string{}}
		blank := true
		for j, v := range rec {
			if strings.TrimSpace(v) != "" {
				blank = false
			}
			if j < len(header) && slices.Contains(templateColumns, header[j]) {
				row.Cells[header[j]] = v
			} else if j >= len(header) && strings.TrimSpace(v) != "" {
				return nil, fmt.Errorf("%w: line %d has more cells than the header", errTable, row.Line)
			}
		}
		if !blank {
			out = append(out, row)
		}
	}
	return out, nil
}

func clip(s string) string {
	if utf8.RuneCountInString(s) > 40 {
		return string([]rune(s)[:40]) + "…"
	}
	return s
}

// safeCell keeps a spreadsheet from reading a cell as a formula.
func safeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// writeTable writes header and rows as CSV or XLSX.
func writeTable(w io.Writer, format string, header []string, rows [][]string) error {
	switch format {
	case FormatCSV:
		cw := csv.NewWriter(w)
		if err := cw.Write(header); err != nil {
			return err
		}
		for _, r := range rows {
			safe := make([]string, len(r))
			for i, c := range r {
				safe[i] = safeCell(c)
			}
			if err := cw.Write(safe); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	case FormatXLSX:
		f := excelize.NewFile()
		defer f.Close()
		sheet := f.GetSheetName(0)
		sw, err := f.NewStreamWriter(sheet)
		if err != nil {
			return err
		}
		cells := func(r []string) []any {
			out := make([]any, len(r))
			for i, c := range r {
				out[i] = c // strings: never formulas
			}
			return out
		}
		if err := sw.SetRow("A1", cells(header)); err != nil {
			return err
		}
		for i, r := range rows {
			at, err := excelize.CoordinatesToCellName(1, i+2)
			if err != nil {
				return err
			}
			if err := sw.SetRow(at, cells(r)); err != nil {
				return err
			}
		}
		if err := sw.Flush(); err != nil {
			return err
		}
		return f.Write(w)
	}
	return fmt.Errorf("format must be csv or xlsx, not %q", format)
}
