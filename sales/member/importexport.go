package member

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/web"
)

// ImportResult answers an import: good rows are in, each bad row is
// listed with its line and reason and left out whole (a row's member and
// card are written together or not at all).
type ImportResult struct {
	Rows    int         `json:"rows"`    // data rows read
	Created int         `json:"created"` // new members
	Updated int         `json:"updated"` // existing members (same phone or ID number) updated
	Cards   int         `json:"cards"`   // cards opened
	Errors  []RowError  `json:"errors"`
	Members []MemberRef `json:"members"` // per good row: the member written
}

// RowError is a bad row.
type RowError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// MemberRef names the member a row wrote.
type MemberRef struct {
	Line    int    `json:"line"`
	ID      int64  `json:"id"`
	Created bool   `json:"created"`
	Card    string `json:"card,omitempty"`
}

// Import reads a CSV or XLSX file of members (the template's columns) and
// writes its good rows in one transaction, each row in a savepoint.
// Members are deduplicated by phone and by ID number: a row whose phone or
// ID number a member has updates that member (its non-empty cells); a row
// whose phone and ID number name two different members is bad. A row with
// card_number opens that card in park (batch issue).
func (a *API) Import(ctx context.Context, p web.Principal, data []byte, format, park string) (ImportResult, error) {
	rows, err := parseTable(data, format, a.cfg.MaxImportRows)
	if err != nil {
		return ImportResult{}, bad("bad_file", "%v", err)
	}
	res := ImportResult{Rows: len(rows), Errors: []RowError{}, Members: []MemberRef{}}
	err = pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		for _, r := range rows {
			ref, err := a.importRow(ctx, tx, p, r, park)
			if err != nil {
				var pr *web.Problem
				if !errors.As(err, &pr) {
					return fmt.Errorf("line %d: %w", r.Line, err)
				}
				res.Errors = append(res.Errors, RowError{Line: r.Line, Reason: pr.Msg})
				continue
			}
			res.Members = append(res.Members, ref)
			if ref.Created {
				res.Created++
			} else {
				res.Updated++
			}
			if ref.Card != "" {
				res.Cards++
			}
		}
		return audit.Record(ctx, tx, p, "member.import", "member", "", map[string]any{"format": format, "park": park,
			"rows": res.Rows, "created": res.Created, "updated": res.Updated, "cards": res.Cards, "errors": res.Errors})
	})
	return res, err
}

// importRow writes one row inside a savepoint: all of it or, on a
// problem, nothing.
func (a *API) importRow(ctx context.Context, tx pgx.Tx, p web.Principal, r tableRow, park string) (ref MemberRef, err error) {
	ref.Line = r.Line
	in := MemberInput{}
	set := func(col string, dst **string) {
		if v := strings.TrimSpace(r.Cells[col]); v != "" {
			*dst = &v
		}
	}
	set("name", &in.Name)
	set("phone", &in.Phone)
	set("category", &in.Category)
	set("id_number", &in.IDNumber)
	set("photo_ref", &in.PhotoRef)
	set("note", &in.Note)
	card := strings.TrimSpace(r.Cells["card_number"])
	expires := strings.TrimSpace(r.Cells["card_expires_on"])
	if in.Name == nil {
		return ref, bad("bad_row", "name is empty")
	}
	if expires != "" && card == "" {
		return ref, bad("bad_row", "card_expires_on without card_number")
	}
	if card != "" && park == "" {
		return ref, bad("bad_row", "card_number needs the park the cards are for (park= on the import)")
	}
	m, err := a.apply(memberRow{}, in)
	if err != nil {
		return ref, err
	}
	sp, err := tx.Begin(ctx)
	if err != nil {
		return ref, err
	}
	defer func() {
		if err != nil {
			_ = sp.Rollback(ctx)
		} else {
			err = sp.Commit(ctx)
		}
	}()
	rows, err := sp.Query(ctx, `SELECT id FROM members WHERE (phone <> '' AND phone = $1) OR (id_hash IS NOT NULL AND id_hash = $2)
		ORDER BY id FOR UPDATE`, m.Phone, m.IDHash)
	if err != nil {
		return ref, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return ref, err
	}
	now := a.now()
	switch len(ids) {
	case 0:
		if ref.ID, err = insertMember(ctx, sp, m, now); err != nil {
			return ref, err
		}
		ref.Created = true
	case 1:
		ref.ID = ids[0]
		old, err := lockMember(ctx, sp, ref.ID)
		if err != nil {
			return ref, err
		}
		merged, err := a.apply(old, in)
		if err != nil {
			return ref, err
		}
		if err := updateMember(ctx, sp, ref.ID, merged, now); err != nil {
			return ref, err
		}
	default:
		return ref, conflict("duplicate_member", "the phone and the ID number belong to two different members (%d and %d)", ids[0], ids[1])
	}
	if card != "" {
		if ref.Card, err = a.openCard(ctx, sp, p, ref.ID, OpenRequest{Number: card, ParkID: park, ExpiresOn: expires}); err != nil {
			return ref, err
		}
	}
	return ref, nil
}

// Template is an empty import file: the header row.
func Template(w io.Writer, format string) error {
	return writeTable(w, format, templateColumns, nil)
}

// Export writes every member as CSV or XLSX: the template's columns (the
// ID number left empty: only its mask is kept, in id_masked) and the
// export-only ones. Importing the file again updates the same members.
func (a *API) Export(ctx context.Context, w io.Writer, format string) error {
	rows, err := a.cfg.Pool.Query(ctx, `SELECT m.id, m.name, m.phone, m.category, m.photo_ref, m.note, m.id_masked, m.created_at,
			coalesce((SELECT string_agg(c.number || ':' || c.status, ' ' ORDER BY c.id) FROM cards c WHERE c.member_id = m.id), '')
		FROM members m ORDER BY m.id`)
	if err != nil {
		return err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]string, error) {
		var id int64
		var name, phone, category, photo, note, masked, cards string
		var created time.Time
		if err := r.Scan(&id, &name, &phone, &category, &photo, &note, &masked, &created, &cards); err != nil {
			return nil, err
		}
		return []string{name, phone, category, "", photo, note, "", "", fmt.Sprint(id), masked, cards, created.UTC().Format(time.RFC3339)}, nil
	})
	if err != nil {
		return err
	}
	return writeTable(w, format, append(append([]string{}, templateColumns...), exportOnly...), out)
}

// contentTypes of the two formats.
var contentTypes = map[string]string{
	FormatCSV:  "text/csv; charset=utf-8",
	FormatXLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

func formatParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	f := r.URL.Query().Get("format")
	if f == "" {
		f = FormatCSV
	}
	if _, ok := contentTypes[f]; !ok {
		web.JSON(w, http.StatusBadRequest, web.ProblemBody{Error: "format= must be csv or xlsx", Code: "bad_format"})
		return "", false
	}
	return f, true
}

func (a *API) handleTemplate(w http.ResponseWriter, r *http.Request) {
	f, ok := formatParam(w, r)
	if !ok {
		return
	}
	var b bytes.Buffer
	if err := Template(&b, f); err != nil {
		web.Fail(w, a.cfg.Log, err)
		return
	}
	w.Header().Set("Content-Type", contentTypes[f])
	w.Header().Set("Content-Disposition", `attachment; filename="members-template.`+f+`"`)
	w.Write(b.Bytes())
}

func (a *API) handleExport(w http.ResponseWriter, r *http.Request) {
	f, ok := formatParam(w, r)
	if !ok {
		return
	}
	var b bytes.Buffer
	if err := a.Export(r.Context(), &b, f); err != nil {
		web.Fail(w, a.cfg.Log, err)
		return
	}
	w.Header().Set("Content-Type", contentTypes[f])
	w.Header().Set("Content-Disposition", `attachment; filename="members.`+f+`"`)
	w.Write(b.Bytes())
}

func (a *API) handleImport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "park" && k != "format" {
			web.JSON(w, http.StatusBadRequest, web.ProblemBody{Error: "unknown query parameter " + clip(k) + ": use park= and format=", Code: "bad_query"})
			return
		}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxImportBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			web.Error(w, http.StatusRequestEntityTooLarge, "file too large: limit is %d bytes", a.cfg.MaxImportBytes)
		} else {
			web.Error(w, http.StatusBadRequest, "read body: %v", err)
		}
		return
	}
	format := q.Get("format")
	if format == "" {
		format = SniffFormat(data)
	}
	res, err := a.Import(r.Context(), principal(r), data, format, q.Get("park"))
	a.reply(w, http.StatusOK, res, err)
}
