package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster/pki"
	"github.com/admitpark/admit/sales/pgtest"
	"github.com/admitpark/admit/sales/server"
)

// With TLS the sales API answers HTTPS to a client that trusts its CA,
// and nothing in plain HTTP: passwords and session tokens never cross the
// network in clear.
func TestSalesServesHTTPS(t *testing.T) {
	dir := t.TempDir()
	if err := pki.InitCA(dir, "test park", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := pki.IssueNode(dir, "sales", []string{"127.0.0.1"}, time.Hour, false); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := pki.NodeFiles(dir, "sales")
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.DefaultConfig()
	cfg.DSN, cfg.HTTPAddr, cfg.Migrate = pgtest.NewDSN(t), "127.0.0.1:0", true
	cfg.ClusterURLs, cfg.ClusterToken = "http://127.0.0.1:1", "unused-token"
	cfg.HolderSecret, cfg.KEK = bytes.Repeat([]byte("s"), 32), testKEK
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv, err := server.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Close(ctx)
	})
	caFile, _ := pki.CAFiles(dir)
	pool, err := pki.LoadCAPool(caFile)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get("https://" + srv.Addr() + "/healthz")
	if err != nil {
		t.Fatalf("HTTPS with the CA: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTPS /healthz: %d", resp.StatusCode)
	}
	// A client that does not trust the CA is refused by its own check.
	plainTLS := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool()}}}
	if _, err := plainTLS.Get("https://" + srv.Addr() + "/healthz"); err == nil {
		t.Fatal("a client without the CA accepted the certificate")
	}
	// Plain HTTP gets no answer from the API.
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + srv.Addr() + "/healthz"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("plain HTTP was served: %d %s", resp.StatusCode, body)
		}
	}
}
