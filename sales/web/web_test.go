package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
)

// body is a request type with the shapes sales bodies have.
type body struct {
	Name    string            `json:"name"`
	Note    string            `json:"note" text:"multiline"`
	Tags    []string          `json:"tags,omitempty"`
	Lines   []line            `json:"lines,omitempty"`
	Extra   map[string]string `json:"extra,omitempty"`
	Any     any               `json:"any,omitempty"`
	Ptr     *string           `json:"ptr,omitempty"`
	Count   int               `json:"count,omitempty"`
	Skipped string            `json:"-"`
}

type line struct {
	Holders []struct {
		Name string `json:"name"`
	} `json:"holders"`
}

func decodeString(t testing.TB, s string) (int, ProblemBody) {
	t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(s))
	var b body
	if Decode(w, r, &b, 0) {
		return http.StatusOK, ProblemBody{}
	}
	var p ProblemBody
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("reply %q: %v", w.Body.String(), err)
	}
	return w.Code, p
}

func TestDecodeRefusesBadTextNamingTheField(t *testing.T) {
	for _, tc := range []struct {
		body, field string // field "" means accepted
	}{
		{`{"name": "Ann", "note": "two\nlines\tand a tab"}`, ""},
		{`{"name": "Zoë 李", "tags": ["a", "b"], "extra": {"k": "v"}, "any": {"x": ["y"]}}`, ""},
		{`{"name": "nul\u0000here"}`, `"name"`},
		{`{"name": "line\nbreak"}`, `"name"`},
		{`{"note": "bell\u0007"}`, `"note"`},
		{`{"note": "del` + "\x7f" + `"}`, `"note"`},
		{`{"note": "c1` + "\u0085" + `"}`, `"note"`},
		{`{"name": "bad ` + "\xff" + ` utf8"}`, `"name"`},
		{`{"tags": ["ok", "n\u0000"]}`, `"tags[1]"`},
		{`{"lines": [{"holders": [{"name": "a"}]}, {"holders": [{"name": "b"}, {"name": "c\u0001"}]}]}`, `"lines[1].holders[1].name"`},
		{`{"extra": {"k\u0000": "v"}}`, `"extra.k?"`},
		{`{"extra": {"k": "v\n"}}`, `"extra.k"`},
		{`{"any": {"x": ["ok", "bad\u0000"]}}`, `"any.x[1]"`},
		{`{"ptr": "p\u0000"}`, `"ptr"`},
	} {
		status, p := decodeString(t, tc.body)
		if tc.field == "" {
			if status != http.StatusOK {
				t.Errorf("%s: refused %d %+v", tc.body, status, p)
			}
			continue
		}
		if status != http.StatusBadRequest || p.Code != "bad_text" || !strings.Contains(p.Error, tc.field) {
			t.Errorf("%s: %d %+v, want 400 bad_text naming %s", tc.body, status, p, tc.field)
		}
	}
	// Not text at all: the usual JSON errors, still 400.
	for _, s := range []string{``, `{`, `{"name": 1}`, `{"unknown": "x"}`, `{} {}`, `{"name": "a"} x`} {
		if status, p := decodeString(t, s); status != http.StatusBadRequest || p.Code == "bad_text" {
			t.Errorf("%q: %d %+v", s, status, p)
		}
	}
}

func TestSource(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.7:4242":          "198.51.100.7",
		"198.51.100.7":               "198.51.100.7",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:1":   "2001:db8:1:2::/64",
		"[::ffff:192.0.2.1]:80":      "192.0.2.1",
		"not an address":             "not an address",
		"@":                          "@",
	} {
		if got := Source(in); got != want {
			t.Errorf("Source(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUnavailableIsA503WithRetryAfter(t *testing.T) {
	// A real connect failure: nothing listens on port 1.
	_, err := pgconn.Connect(t.Context(), "postgres://admit:secret@127.0.0.1:1/admit?connect_timeout=2")
	if err == nil {
		t.Fatal("connected to port 1")
	}
	for _, e := range []error{err, &pgconn.PgError{Code: "57P01"}, &pgconn.PgError{Code: "08006"}} {
		if !Unavailable(e) {
			t.Errorf("Unavailable(%v) = false", e)
		}
		w := httptest.NewRecorder()
		Fail(w, nil, e)
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "5" {
			t.Errorf("%v: %d Retry-After %q", e, w.Code, w.Header().Get("Retry-After"))
		}
		if b := w.Body.String(); strings.Contains(b, "127.0.0.1") || strings.Contains(b, "admit") || strings.Contains(b, "secret") {
			t.Errorf("503 body names the setup: %s", b)
		}
	}
	for _, e := range []error{errors.New("boom"), &pgconn.PgError{Code: "23505"}} {
		if Unavailable(e) {
			t.Errorf("Unavailable(%v) = true", e)
		}
	}
}

// FuzzDecode: whatever the body, Decode answers (never panics), and what
// it accepts holds only acceptable text: valid UTF-8, no control
// characters, newlines and tabs only in the multiline field.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"name": "Ann", "note": "a\nb"}`,
		`{"name": "nul\u0000"}`,
		"{\"name\": \"\xff\xfe\"}",
		`{"lines": [{"holders": [{"name": "x"}]}], "extra": {"a": "b"}, "any": [1, "two", {"3": null}]}`,
		`{"tags": ["\ud800"], "ptr": "\t"}`,
		`{"note": "\u2028\u0085"}`,
		`[]`, `null`, `{"name": "a"} {"name": "b"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(data)))
		var b body
		if !Decode(w, r, &b, 1<<16) {
			if w.Code < 400 || w.Code >= 500 {
				t.Fatalf("refused with %d", w.Code)
			}
			return
		}
		check := func(s string, multiline bool) {
			if !utf8.ValidString(s) {
				t.Fatalf("accepted invalid UTF-8 %q", s)
			}
			for _, c := range s {
				if unicode.IsControl(c) && !(multiline && (c == '\n' || c == '\r' || c == '\t')) {
					t.Fatalf("accepted control character %U in %q", c, s)
				}
			}
		}
		check(b.Name, false)
		check(b.Note, true)
		for _, s := range b.Tags {
			check(s, false)
		}
		for k, v := range b.Extra {
			check(k, false)
			check(v, false)
		}
		if b.Ptr != nil {
			check(*b.Ptr, false)
		}
		for _, l := range b.Lines {
			for _, h := range l.Holders {
				check(h.Name, false)
			}
		}
		if err := CheckText(&b); err != nil {
			t.Fatalf("accepted, yet CheckText says %v", err)
		}
	})
}
