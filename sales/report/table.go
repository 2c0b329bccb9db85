package report

import (
	"fmt"
	"time"
)

// Column kinds.
const (
	KindText  = "text"
	KindInt   = "int"   // a count
	KindMoney = "money" // minor units of Meta.Currency
)

// Column is one column of a report.
type Column struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// Meta describes a report's run.
type Meta struct {
	Report   string    `json:"report"`
	ParkID   string    `json:"park_id"`
	Currency string    `json:"currency"`
	TimeZone string    `json:"time_zone"`
	From     string    `json:"from"` // first day, in the park's time zone
	To       string    `json:"to"`   // last day (inclusive)
	Period   string    `json:"period,omitempty"`
	GroupBy  []string  `json:"group_by,omitempty"`
	Columns  []Column  `json:"columns"`
	At       time.Time `json:"generated_at"`
}

// totals sums the int and money columns of the rows it sees.
type totals struct {
	cols []Column
	sum  []int64
}

func newTotals(cols []Column) *totals { return &totals{cols: cols, sum: make([]int64, len(cols))} }

func (t *totals) add(row []any) error {
	if len(row) != len(t.cols) {
		return fmt.Errorf("report: row of %d cells for %d columns", len(row), len(t.cols))
	}
	for i, c := range t.cols {
		if c.Kind == KindText {
			if _, ok := row[i].(string); !ok {
				return fmt.Errorf("report: column %s holds %T, not text", c.Name, row[i])
			}
			continue
		}
		v, ok := row[i].(int64)
		if !ok {
			return fmt.Errorf("report: column %s holds %T, not an integer", c.Name, row[i])
		}
		t.sum[i] += v
	}
	return nil
}

// row is the totals row: "total" in the first text column, sums in the
// number columns, empty text elsewhere.
func (t *totals) row() []any {
	out := make([]any, len(t.cols))
	first := true
	for i, c := range t.cols {
		if c.Kind == KindText {
			out[i] = ""
			if first {
				out[i], first = "total", false
			}
			continue
		}
		out[i] = t.sum[i]
	}
	return out
}
