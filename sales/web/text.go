package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text in request bodies: every JSON string of every sales request body,
// keys included, must be valid UTF-8 and free of control characters (NUL,
// which PostgreSQL text cannot hold, and the rest of C0, DEL and C1). A
// string field whose text may run over lines (a reason, a note) says so
// with the struct tag `text:"multiline"`: it may also hold newlines and
// tabs. Decode refuses anything else with 400 naming the field by its JSON
// path (e.g. "lines[1].holders[0].name").

// TextError says which string of a body is not acceptable text.
type TextError struct {
	Path string // JSON path, e.g. "holders[2].name"; "" for the top level
	Why  string
}

func (e *TextError) Error() string {
	if e.Path == "" {
		return "the body " + e.Why
	}
	return fmt.Sprintf("field %q %s", e.Path, e.Why)
}

// CheckJSONText scans body (one or more JSON values) and returns a
// *TextError for the first string, key or value, that is not valid UTF-8
// or holds a control character other than newline, carriage return and
// tab (those are checked per field by CheckText). Malformed JSON is left
// to the decoder: it returns nil at the first syntax error.
func CheckJSONText(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		array bool
		index int
		key   string
		isKey bool // in an object, the next string is a key
	}
	var stack []frame
	path := func() string {
		var b strings.Builder
		for i, f := range stack {
			if f.array {
				b.WriteString("[" + strconv.Itoa(f.index) + "]")
				continue
			}
			if f.key == "" && f.isKey {
				break
			}
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
		}
		return b.String()
	}
	// after a value completes, advance the enclosing container.
	done := func() {
		if len(stack) == 0 {
			return
		}
		top := &stack[len(stack)-1]
		if top.array {
			top.index++
		} else {
			top.isKey = true
		}
	}
	var prev int64
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return nil // syntax: the decoder says what is wrong
		}
		raw := body[prev:dec.InputOffset()]
		prev = dec.InputOffset()
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, frame{isKey: true})
			case '[':
				stack = append(stack, frame{array: true})
			case '}', ']':
				stack = stack[:len(stack)-1]
				done()
			}
		case string:
			inKey := len(stack) > 0 && !stack[len(stack)-1].array && stack[len(stack)-1].isKey
			if inKey {
				top := &stack[len(stack)-1]
				top.key, top.isKey = t, false
				if why := badText(raw, t, false); why != "" {
					top.key = clipKey(t)
					return &TextError{Path: path(), Why: "has a name that " + why}
				}
				continue
			}
			if why := badText(raw, t, true); why != "" {
				return &TextError{Path: path(), Why: why}
			}
			done()
		default:
			done()
		}
	}
}

func clipKey(k string) string {
	k = strings.ToValidUTF8(k, "?")
	k = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, k)
	if len(k) > 40 {
		k = k[:40] + "…"
	}
	return k
}

// badText says what is wrong with a string token: raw is its bytes as sent
// (encoding/json turns invalid UTF-8 into U+FFFD, so that is checked on
// raw), s its decoded value. lines allows newline, carriage return and tab
// (left for CheckText to judge per field).
func badText(raw []byte, s string, lines bool) string {
	if !utf8.Valid(raw) {
		return "is not valid UTF-8"
	}
	for _, r := range s {
		if !unicode.IsControl(r) {
			continue
		}
		if lines && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		return fmt.Sprintf("holds the control character %U", r)
	}
	return ""
}

// CheckText walks the decoded value v (a pointer to a struct, or any value)
// and returns a *TextError for the first string that holds a newline,
// carriage return or tab where its field is not tagged
// `text:"multiline"`, or that is not valid text at all (for values not made
// by decoding). Fields are named by their JSON names.
func CheckText(v any) error {
	return checkValue(reflect.ValueOf(v), "", false)
}

func checkValue(v reflect.Value, path string, multiline bool) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return checkValue(v.Elem(), path, multiline)
	case reflect.String:
		return checkString(v.String(), path, multiline)
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			p := name
			if f.Anonymous && f.Tag.Get("json") == "" {
				p = path // embedded: its fields are the outer object's
			} else if path != "" {
				p = path + "." + name
			}
			if err := checkValue(v.Field(i), p, f.Tag.Get("text") == "multiline"); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return nil // []byte, json.RawMessage: bytes, not text (the raw scan covered them)
		}
		for i := range v.Len() {
			if err := checkValue(v.Index(i), path+"["+strconv.Itoa(i)+"]", multiline); err != nil {
				return err
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			k := iter.Key()
			name := fmt.Sprint(k.Interface())
			p := name
			if path != "" {
				p = path + "." + name
			}
			if k.Kind() == reflect.String {
				if err := checkString(k.String(), p, false); err != nil {
					return err
				}
			}
			if err := checkValue(iter.Value(), p, multiline); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkString(s, path string, multiline bool) error {
	if !utf8.ValidString(s) {
		return &TextError{Path: clipKey(path), Why: "is not valid UTF-8"}
	}
	for _, r := range s {
		if !unicode.IsControl(r) {
			continue
		}
		if multiline && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		return &TextError{Path: clipKey(path), Why: fmt.Sprintf("holds the control character %U", r)}
	}
	return nil
}

// errText tells a decoding error about text apart.
func errText(err error) (*TextError, bool) {
	var te *TextError
	return te, errors.As(err, &te)
}
