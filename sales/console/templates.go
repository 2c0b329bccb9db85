package console

import (
	"fmt"
	"html/template"
	"io/fs"
	"strings"
	"time"
)

// funcs are the few helpers templates need beyond the page's Locale.
var funcs = template.FuncMap{
	"money": Money,
	"short": shortID,
	"deref": func(t *time.Time) time.Time {
		if t == nil {
			return time.Time{}
		}
		return *t
	},
	"add":  func(a, b int) int { return a + b },
	"list": func(s ...string) []string { return s },
	"deref64": func(n *int64) int64 {
		if n == nil {
			return 0
		}
		return *n
	},
	"clip": func(s string, n int) string {
		if r := []rune(s); len(r) > n {
			return string(r[:n]) + "…"
		}
		return s
	},
	"derefm": func(n *int64) int64 {
		if n == nil {
			return 0
		}
		return *n
	},
	"deref_int": func(n *int) int {
		if n == nil {
			return 0
		}
		return *n
	},
	// actions are the buttons of a user row.
	"actions": func(disabled bool) []string {
		if disabled {
			return []string{"enable"}
		}
		return []string{"disable", "unlock", "reset"}
	},
}

// parse builds one template set per page: the layout, then the page's
// "body" (and its other blocks).
func (c *Console) parse() error {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return err
	}
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	c.pages = map[string]*template.Template{}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, f)
		if err != nil {
			return fmt.Errorf("console template %s: %w", f, err)
		}
		c.pages[name] = t
	}
	return nil
}
