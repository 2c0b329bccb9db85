package httpclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
)

// ErrBadCA: a CA file holds no PEM certificate.
var ErrBadCA = errors.New("no PEM certificate in CA file")

// TLSConfigFromCAFile returns a client TLS configuration that trusts the
// certificates in the PEM file at path (a cluster's CA, as made by `admit
// cluster certs init`) besides the system's roots. An empty path returns
// nil, nil: the system's roots only.
func TLSConfigFromCAFile(path string) (*tls.Config, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%w: %s", ErrBadCA, path)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// NewTransport returns a transport like http.DefaultTransport that uses
// cfg for https:// URLs; nil cfg returns http.DefaultTransport itself.
func NewTransport(cfg *tls.Config) http.RoundTripper {
	if cfg == nil {
		return http.DefaultTransport
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = cfg
	return t
}
