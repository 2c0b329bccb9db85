package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// handshake runs a TLS handshake between a server and a client config over
// an in-memory pipe and returns the server's error.
func handshake(t *testing.T, server, client *tls.Config) error {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	done := make(chan error, 1)
	go func() {
		c := tls.Client(b, client)
		err := c.Handshake()
		if err == nil {
			_, err = c.Read(make([]byte, 1)) // TLS 1.3: a refused client certificate shows here
		}
		b.Close()
		done <- err
	}()
	s := tls.Server(a, server)
	a.SetDeadline(time.Now().Add(10 * time.Second))
	err := s.Handshake()
	if err == nil {
		s.Write([]byte{1})
	}
	a.Close()
	<-done
	return err
}

func TestNodeCertificatesAuthenticateEachOther(t *testing.T) {
	dir := t.TempDir()
	if err := EnsureNodes(dir, []string{"n1", "n2"}, []string{"127.0.0.1", "n.example"}); err != nil {
		t.Fatal(err)
	}
	if err := InitCA(dir, "again", time.Hour); !errors.Is(err, ErrExists) {
		t.Fatalf("second InitCA: %v, want ErrExists", err)
	}
	if err := IssueNode(dir, "n1", []string{"127.0.0.1"}, time.Hour, false); !errors.Is(err, ErrExists) {
		t.Fatalf("IssueNode over n1: %v, want ErrExists", err)
	}
	if err := IssueNode(dir, "n3", nil, time.Hour, false); err == nil {
		t.Fatal("IssueNode without hosts succeeded")
	}
	if fi, err := os.Stat(dir + "/ca.key"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ca.key mode: %v %v", fi.Mode(), err)
	}
	ca, _ := CAFiles(dir)
	c1, k1 := NodeFiles(dir, "n1")
	c2, k2 := NodeFiles(dir, "n2")
	s1, _, err := PeerTLS(c1, k1, ca)
	if err != nil {
		t.Fatal(err)
	}
	_, cl2, err := PeerTLS(c2, k2, ca)
	if err != nil {
		t.Fatal(err)
	}
	cl2 = cl2.Clone()
	cl2.ServerName = "127.0.0.1"
	if err := handshake(t, s1, cl2); err != nil {
		t.Fatalf("n2 to n1: %v", err)
	}
	if id, err := NodeID(s1.Certificates[0].Leaf); err != nil || id != "n1" {
		t.Fatalf("NodeID = %q, %v", id, err)
	}

	// A certificate the CA signed, but not as a node: refused.
	caPair, err := tls.LoadX509KeyPair(CAFiles(dir))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "n1"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caPair.Leaf, &key.PublicKey, caPair.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	intruder := cl2.Clone()
	intruder.Certificates = []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}
	if err := handshake(t, s1, intruder); !errors.Is(err, ErrNotNode) {
		t.Fatalf("CA-signed certificate without OU=%s: %v, want ErrNotNode", NodeOU, err)
	}
	// A node certificate from another CA: refused.
	other := t.TempDir()
	if err := EnsureNodes(other, []string{"n2"}, []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	oc, ok := NodeFiles(other, "n2")
	_, foreign, err := PeerTLS(oc, ok, other+"/ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	foreign.RootCAs, foreign.ServerName = cl2.RootCAs, "127.0.0.1"
	if err := handshake(t, s1, foreign); err == nil {
		t.Fatal("a node certificate of another CA was accepted")
	}
	// A node's certificate with another cluster's CA file: refused at load.
	if _, _, err := PeerTLS(c1, k1, other+"/ca.crt"); err == nil {
		t.Fatal("PeerTLS accepted a certificate its CA file did not sign")
	}
}
