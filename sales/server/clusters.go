package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/admitpark/admit/internal/httpclient"
	"github.com/admitpark/admit/validator/gateapi"
)

// ParkCluster is a park's own gate cluster: its nodes, admin token and the
// transport for HTTPS with its CA.
type ParkCluster struct {
	URLs      string            // comma-separated node URLs
	Token     string            // the cluster's admin token
	Transport http.RoundTripper // nil: the default transport
}

// clustersFile is the clusters file's format (`admit sales --clusters-file`):
//
//	{"parks": {"<park id>": {"urls": "https://10.1.0.1:7101,https://10.1.0.2:7101",
//	                         "token_file": "/etc/admit/park-a.token",
//	                         "cacert": "/etc/admit/park-a-ca.pem"}}}
//
// Tokens are never inline: token_file names a file holding the token.
// Relative paths are relative to the clusters file's directory.
type clustersFile struct {
	Parks map[string]parkEntry `json:"parks"`
}

type parkEntry struct {
	URLs      string `json:"urls"`
	TokenFile string `json:"token_file"`
	CACert    string `json:"cacert"`
	// Refused, named so that the error says why.
	Token      *json.RawMessage `json:"token"`
	AdminToken *json.RawMessage `json:"admin_token"`
}

var parkIDRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// LoadClustersFile reads a clusters file: the parks that have a gate
// cluster of their own, by park id. Unknown fields, an inline token, a
// park without URLs or token file, an unreadable or empty token file or
// CA file are errors.
func LoadClustersFile(path string) (map[string]ParkCluster, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("clusters file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f clustersFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("clusters file %s: %w", path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("clusters file %s: more than one JSON value", path)
	}
	dir := filepath.Dir(path)
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	ids := make([]string, 0, len(f.Parks))
	for id := range f.Parks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make(map[string]ParkCluster, len(ids))
	for _, id := range ids {
		e := f.Parks[id]
		bad := func(format string, args ...any) error {
			return fmt.Errorf("clusters file %s: park %q: %s", path, id, fmt.Sprintf(format, args...))
		}
		if !parkIDRe.MatchString(id) {
			return nil, bad("not a park id (1-64 lower-case letters, digits, - and _)")
		}
		if e.Token != nil || e.AdminToken != nil {
			return nil, bad("an inline token is refused (it would sit in a config file many can read): put it in a file of its own and name it in token_file")
		}
		if _, err := gateapi.ParseURLs(e.URLs); err != nil {
			return nil, bad("urls: %v", err)
		}
		if e.TokenFile == "" {
			return nil, bad("token_file is required")
		}
		tb, err := os.ReadFile(rel(e.TokenFile))
		if err != nil {
			return nil, bad("token_file: %v", err)
		}
		pc := ParkCluster{URLs: e.URLs, Token: strings.TrimSpace(string(tb))}
		if pc.Token == "" {
			return nil, bad("token_file %s is empty", e.TokenFile)
		}
		if e.CACert != "" {
			tlsCfg, err := httpclient.TLSConfigFromCAFile(rel(e.CACert))
			if err != nil {
				return nil, bad("cacert: %v", err)
			}
			pc.Transport = httpclient.NewTransport(tlsCfg)
		}
		out[id] = pc
	}
	if len(out) == 0 {
		return nil, errors.New("clusters file " + path + ": no parks (leave the flag out to use --cluster for every park)")
	}
	return out, nil
}
