package server

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"slices"
)

// The OpenAPI document is openapi.json plus one fragment per domain under
// openapi.d/ (each with "paths" and "components" of its own, optionally
// "tags"), merged at start so that domains can be documented side by side
// without editing one big file. A name defined twice is an error.
//
//go:embed openapi.json
var openAPIBase []byte

//go:embed openapi.d
var openAPIFragments embed.FS

var openAPI = mustMergeOpenAPI(openAPIBase, openAPIFragments)

func mustMergeOpenAPI(base []byte, frags fs.FS) []byte {
	b, err := mergeOpenAPI(base, frags)
	if err != nil {
		panic("openapi: " + err.Error())
	}
	return b
}

// mergeOpenAPI adds every openapi.d/*.json fragment to the base document.
func mergeOpenAPI(base []byte, frags fs.FS) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(base, &doc); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	names, err := fs.Glob(frags, "openapi.d/*.json")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	for _, name := range names {
		raw, err := fs.ReadFile(frags, name)
		if err != nil {
			return nil, err
		}
		var frag map[string]any
		if err := json.Unmarshal(raw, &frag); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for key, v := range frag {
			switch key {
			case "paths":
				if err := mergeMap(doc, "paths", v, path.Base(name)+": paths"); err != nil {
					return nil, err
				}
			case "components":
				comps, _ := v.(map[string]any)
				dst, _ := doc["components"].(map[string]any)
				if dst == nil {
					dst = map[string]any{}
					doc["components"] = dst
				}
				for section, sv := range comps {
					if err := mergeMap(dst, section, sv, path.Base(name)+": components."+section); err != nil {
						return nil, err
					}
				}
			case "tags":
				tags, _ := v.([]any)
				have, _ := doc["tags"].([]any)
				doc["tags"] = append(have, tags...)
			default:
				return nil, fmt.Errorf("%s: a fragment holds only paths, components and tags, not %q", name, key)
			}
		}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// mergeMap adds src's keys to dst[key], refusing a key defined twice.
func mergeMap(dst map[string]any, key string, src any, where string) error {
	from, ok := src.(map[string]any)
	if !ok {
		return fmt.Errorf("%s is not an object", where)
	}
	into, _ := dst[key].(map[string]any)
	if into == nil {
		into = map[string]any{}
		dst[key] = into
	}
	for k, v := range from {
		if _, dup := into[k]; dup {
			return fmt.Errorf("%s: %q is already defined", where, k)
		}
		into[k] = v
	}
	return nil
}

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPI)
}
