package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// salesDir is the root of the sales packages, seen from this package.
const salesDir = ".."

// routeLiteralRe matches a ServeMux pattern with a method as a Go string
// literal, as the Routes methods pass them to mux.Handle and HandleFunc
// (directly or through a small helper, as catalog does).
var routeLiteralRe = regexp.MustCompile(`"(GET|POST|PUT|DELETE|PATCH) (/[^"]*)"`)

// pathParamRe matches a {name} segment of a path template.
var pathParamRe = regexp.MustCompile(`\{([^{}]+)\}`)

// httpMethods are the operation keys of an OpenAPI path item.
var httpMethods = []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}

// loadOpenAPI decodes the embedded document.
func loadOpenAPI(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(openAPI))
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	if dec.More() {
		t.Fatal("openapi.json holds more than one JSON value")
	}
	v, _ := doc["openapi"].(string)
	if !strings.HasPrefix(v, "3.") {
		t.Fatalf(`openapi.json: "openapi" is %q, want 3.x`, v)
	}
	return doc
}

// routeKey is "METHOD /path" with ServeMux wildcards as OpenAPI templates:
// {name...} becomes {name}; a trailing {$} is dropped.
func routeKey(method, pattern string) string {
	pattern = strings.TrimSuffix(pattern, "{$}")
	pattern = strings.ReplaceAll(pattern, "...}", "}")
	return method + " " + pattern
}

// registeredRoutes scans the non-test Go source under sales/ for route
// patterns and returns them with where each was found.
func registeredRoutes(t *testing.T) map[string][]string {
	t.Helper()
	routes := map[string][]string{}
	err := filepath.WalkDir(salesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != salesDir && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for n, line := range strings.Split(string(src), "\n") {
			for _, m := range routeLiteralRe.FindAllStringSubmatch(line, -1) {
				// The web console's pages (sales/console) answer HTML to a
				// browser session, not the API: only its /v1 routes count.
				if strings.Contains(filepath.ToSlash(path), "/console/") && !strings.HasPrefix(m[2], "/v1/") {
					continue
				}
				k := routeKey(m[1], m[2])
				routes[k] = append(routes[k], fmt.Sprintf("%s:%d", filepath.ToSlash(path), n+1))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", salesDir, err)
	}
	return routes
}

// documentedRoutes returns "METHOD /path" for every operation of doc.
func documentedRoutes(t *testing.T, doc map[string]any) map[string]map[string]any {
	t.Helper()
	paths, ok := doc["paths"].(map[string]any)
	if !ok {
		t.Fatal(`openapi.json: "paths" is not an object`)
	}
	out := map[string]map[string]any{}
	for path, item := range paths {
		ops, ok := item.(map[string]any)
		if !ok {
			t.Errorf("openapi.json: path %s is not an object", path)
			continue
		}
		for _, m := range httpMethods {
			if op, ok := ops[m]; ok {
				o, ok := op.(map[string]any)
				if !ok {
					t.Errorf("openapi.json: %s %s is not an object", strings.ToUpper(m), path)
					continue
				}
				out[strings.ToUpper(m)+" "+path] = o
			}
		}
	}
	return out
}

// TestOpenAPICoversRoutes fails when a route registered in the sales
// packages is missing from openapi.json, or openapi.json documents a route
// no package registers.
func TestOpenAPICoversRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	registered := registeredRoutes(t)
	documented := documentedRoutes(t, doc)

	// The scan must see every package that serves routes; finding none in
	// one means the scan broke, not that the package has no routes.
	for _, dir := range []string{"auth", "catalog", "orders", "refund", "lookup", "server"} {
		found := false
		for _, where := range registered {
			for _, w := range where {
				if strings.HasPrefix(w, filepath.ToSlash(filepath.Join(salesDir, dir))+"/") {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("found no route pattern in sales/%s; is the scan (%s) still right?", dir, routeLiteralRe)
		}
	}

	var missing, stale []string
	for k, where := range registered {
		if _, ok := documented[k]; !ok {
			missing = append(missing, fmt.Sprintf("%s (%s)", k, strings.Join(where, ", ")))
		}
	}
	for k := range documented {
		if _, ok := registered[k]; !ok {
			stale = append(stale, k)
		}
	}
	slices.Sort(missing)
	slices.Sort(stale)
	if len(missing) > 0 {
		t.Errorf("%d routes are registered but missing from openapi.json:\n\t%s", len(missing), strings.Join(missing, "\n\t"))
	}
	if len(stale) > 0 {
		t.Errorf("%d routes in openapi.json are registered nowhere (removed or renamed?):\n\t%s", len(stale), strings.Join(stale, "\n\t"))
	}
	t.Logf("%d routes registered, %d documented", len(registered), len(documented))
}

// TestOpenAPIWellFormed checks what the document promises its readers:
// every operation has a summary, explicit security naming known schemes,
// a success response, its path parameters declared, and every $ref
// resolves.
func TestOpenAPIWellFormed(t *testing.T) {
	doc := loadOpenAPI(t)
	components, _ := doc["components"].(map[string]any)
	schemes, _ := components["securitySchemes"].(map[string]any)
	if len(schemes) == 0 {
		t.Fatal("openapi.json: no components.securitySchemes")
	}

	var refs []string
	collectRefs(doc, &refs)
	for _, r := range refs {
		if _, err := resolve(doc, r); err != nil {
			t.Errorf("openapi.json: $ref %s: %v", r, err)
		}
	}

	for key, op := range documentedRoutes(t, doc) {
		if s, _ := op["summary"].(string); strings.TrimSpace(s) == "" {
			t.Errorf("%s: no summary", key)
		}

		sec, ok := op["security"].([]any)
		if !ok {
			t.Errorf(`%s: no "security" (use [] for an anonymous route)`, key)
		}
		for _, req := range sec {
			m, _ := req.(map[string]any)
			for name := range m {
				if _, ok := schemes[name]; !ok {
					t.Errorf("%s: security scheme %q is not in components.securitySchemes", key, name)
				}
			}
		}

		resps, _ := op["responses"].(map[string]any)
		success := false
		for status := range resps {
			if strings.HasPrefix(status, "2") {
				success = true
			}
		}
		if !success {
			t.Errorf("%s: no 2xx response", key)
		}
		if len(sec) > 0 {
			if _, ok := resps["401"]; !ok {
				t.Errorf("%s: needs a token but documents no 401", key)
			}
		}

		path := key[strings.Index(key, " ")+1:]
		declared := map[string]bool{}
		params, _ := op["parameters"].([]any)
		for _, p := range params {
			pm, _ := p.(map[string]any)
			if r, ok := pm["$ref"].(string); ok {
				v, err := resolve(doc, r)
				if err != nil {
					continue // reported above
				}
				pm, _ = v.(map[string]any)
			}
			if pm["in"] == "path" {
				name, _ := pm["name"].(string)
				declared[name] = true
				if !strings.Contains(path, "{"+name+"}") {
					t.Errorf("%s: path parameter %q is not in the path", key, name)
				}
			}
		}
		for _, m := range pathParamRe.FindAllStringSubmatch(path, -1) {
			if !declared[m[1]] {
				t.Errorf("%s: path parameter {%s} is not declared", key, m[1])
			}
		}
	}

	// Headers the API's contract rests on.
	for _, want := range []struct{ route, header string }{
		{"POST /v1/orders", "Idempotency-Key"},
		{"POST /v1/payments/webhook/{provider}", "X-Admit-Signature"},
	} {
		op, ok := documentedRoutes(t, doc)[want.route]
		if !ok {
			continue // TestOpenAPICoversRoutes reports it
		}
		found := false
		params, _ := op["parameters"].([]any)
		for _, p := range params {
			pm, _ := p.(map[string]any)
			if r, ok := pm["$ref"].(string); ok {
				v, _ := resolve(doc, r)
				pm, _ = v.(map[string]any)
			}
			if pm["in"] == "header" && strings.EqualFold(fmt.Sprint(pm["name"]), want.header) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: header %s is not documented", want.route, want.header)
		}
	}
}

// TestOpenAPIServed checks GET /openapi.json answers the embedded document.
func TestOpenAPIServed(t *testing.T) {
	rec := httptest.NewRecorder()
	serveOpenAPI(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if !bytes.Equal(rec.Body.Bytes(), openAPI) {
		t.Error("the body is not the embedded openapi.json")
	}
}

// collectRefs appends every "$ref" value in v.
func collectRefs(v any, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "$ref" {
				*out = append(*out, s)
				continue
			}
			collectRefs(e, out)
		}
	case []any:
		for _, e := range x {
			collectRefs(e, out)
		}
	}
}

// resolve follows a local JSON pointer ref ("#/components/...").
func resolve(doc map[string]any, ref string) (any, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("not a local reference")
	}
	var cur any = doc
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%q is not inside an object", tok)
		}
		if cur, ok = m[tok]; !ok {
			return nil, fmt.Errorf("no %q", tok)
		}
	}
	return cur, nil
}

func TestOpenAPIMergeRefusesDuplicates(t *testing.T) {
	base := []byte(`{"openapi":"3.1.0","paths":{"/a":{}},"components":{"schemas":{"A":{}}}}`)
	frags := fstest.MapFS{
		"openapi.d/b.json": {Data: []byte(`{"paths":{"/b":{}},"components":{"schemas":{"B":{}}}}`)},
	}
	out, err := mergeOpenAPI(base, frags)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths      map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Paths) != 2 || len(doc.Components.Schemas) != 2 {
		t.Fatalf("merged document has paths %v and schemas %v, want both of each", doc.Paths, doc.Components.Schemas)
	}
	frags["openapi.d/c.json"] = &fstest.MapFile{Data: []byte(`{"components":{"schemas":{"A":{}}}}`)}
	if _, err := mergeOpenAPI(base, frags); err == nil || !strings.Contains(err.Error(), `"A" is already defined`) {
		t.Fatalf("a schema defined twice: err = %v, want it named", err)
	}
}
