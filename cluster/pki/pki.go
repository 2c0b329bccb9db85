// Package pki owns the cluster's certificates: it makes a cluster CA and
// node certificates (ECDSA P-256), writes and loads them as PEM files, and
// builds the mutual-TLS configurations of the Raft port from them.
//
// What a node certificate is: signed by the cluster CA, good for TLS
// server and client authentication, with the node id as its Subject
// CommonName, the organizational unit NodeOU ("admit-node"), and as SANs
// the hosts (DNS names or IP addresses) other nodes dial it at. A peer on
// the Raft port must present such a certificate (ServerTLS/ClientTLS check
// the chain and NodeOU); package cluster then accepts node-to-node calls
// (forwarded commands, membership, status, snapshots) only from a peer
// whose certificate's CommonName is a member of the cluster configuration.
//
// Files in a certificate directory: ca.crt and ca.key (the CA; keep ca.key
// off the nodes), and <id>.crt and <id>.key per node. Keys are written
// 0600, certificates 0644.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// NodeOU is the organizational unit every node certificate carries.
const NodeOU = "admit-node"

// Lifetimes of the certificates `admit cluster certs` makes by default.
const (
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
	DefaultNodeValidity = 365 * 24 * time.Hour
)

// Errors of this package; check them with errors.Is.
var (
	// ErrExists: a file to be written already exists (nothing is overwritten).
	ErrExists = errors.New("file exists")
	// ErrNotNode: a certificate is not an admit node certificate (no
	// NodeOU, or a CommonName that is not a node id).
	ErrNotNode = errors.New("not an admit node certificate")
	// ErrBadPEM: a file holds no usable PEM certificate or key.
	ErrBadPEM = errors.New("no usable PEM data")
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// CAFiles returns the paths of the CA certificate and key in dir.
func CAFiles(dir string) (cert, key string) {
	return filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
}

// NodeFiles returns the paths of node id's certificate and key in dir.
func NodeFiles(dir, id string) (cert, key string) {
	return filepath.Join(dir, id+".crt"), filepath.Join(dir, id+".key")
}

// InitCA makes a new cluster CA in dir (created 0700 if missing), valid
// for validity from now. It refuses (ErrExists) when dir already has one.
func InitCA(dir, name string, validity time.Duration) error {
	certPath, keyPath := CAFiles(dir)
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%w: %s (a cluster has one CA; see deploy/README.md for rotation)", ErrExists, p)
		}
	}
	if validity <= 0 {
		return fmt.Errorf("pki: CA validity %v must be positive", validity)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, OrganizationalUnit: []string{NodeOU}},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return writePair(certPath, keyPath, der, key)
}

// IssueNode makes a certificate for node id, signed by the CA in dir,
// naming hosts (DNS names or IP addresses; at least one) and valid for
// validity from now (never past the CA's end). It refuses (ErrExists) to
// overwrite an existing certificate unless replace.
func IssueNode(dir, id string, hosts []string, validity time.Duration, replace bool) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("pki: node id %q: use 1-64 letters, digits, '.', '_' or '-'", id)
	}
	if validity <= 0 {
		return fmt.Errorf("pki: validity %v must be positive", validity)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: id, OrganizationalUnit: []string{NodeOU}},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		switch ip := net.ParseIP(h); {
		case h == "":
		case ip != nil:
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		default:
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if len(tmpl.IPAddresses)+len(tmpl.DNSNames) == 0 {
		return fmt.Errorf("pki: node %s: name at least one host it is dialled at (--host)", id)
	}
	certPath, keyPath := NodeFiles(dir, id)
	if !replace {
		for _, p := range []string{certPath, keyPath} {
			if _, err := os.Stat(p); err == nil {
				return fmt.Errorf("%w: %s (replace it to rotate)", ErrExists, p)
			}
		}
	}
	caCertPath, caKeyPath := CAFiles(dir)
	ca, err := tls.LoadX509KeyPair(caCertPath, caKeyPath)
	if err != nil {
		return fmt.Errorf("pki: load the CA in %s (make it with 'admit cluster certs init'): %w", dir, err)
	}
	now := time.Now()
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-5*time.Minute), now.Add(validity)
	if tmpl.NotAfter.After(ca.Leaf.NotAfter) {
		tmpl.NotAfter = ca.Leaf.NotAfter
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Leaf, &key.PublicKey, ca.PrivateKey)
	if err != nil {
		return err
	}
	return writePair(certPath, keyPath, der, key)
}

// EnsureNodes makes what is missing in dir for a local cluster: the CA,
// and a certificate for each id naming hosts. Existing files are kept
// (admit dev, drills, benchmarks and tests use it).
func EnsureNodes(dir string, ids, hosts []string) error {
	if _, err := os.Stat(filepath.Join(dir, "ca.key")); errors.Is(err, os.ErrNotExist) {
		if err := InitCA(dir, "admit local cluster CA", DefaultCAValidity); err != nil {
			return err
		}
	}
	for _, id := range ids {
		c, _ := NodeFiles(dir, id)
		if _, err := os.Stat(c); err == nil {
			continue
		}
		if err := IssueNode(dir, id, hosts, DefaultNodeValidity, false); err != nil {
			return err
		}
	}
	return nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}

func writePair(certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	return writeFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writeFile writes through a temporary file and a rename, so a reader never
// sees half a file.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// LoadCAPool reads the PEM certificates in file (one CA, or several while
// a CA is rotated) into a pool.
func LoadCAPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%w: %s holds no PEM certificate", ErrBadPEM, file)
	}
	return pool, nil
}

// NodeID returns the node id a verified node certificate names, or
// ErrNotNode.
func NodeID(cert *x509.Certificate) (string, error) {
	if cert == nil || !slices.Contains(cert.Subject.OrganizationalUnit, NodeOU) || cert.IsCA {
		return "", fmt.Errorf("%w: subject %q lacks OU=%s", ErrNotNode, subject(cert), NodeOU)
	}
	if !idPattern.MatchString(cert.Subject.CommonName) {
		return "", fmt.Errorf("%w: common name %q is not a node id", ErrNotNode, cert.Subject.CommonName)
	}
	return cert.Subject.CommonName, nil
}

func subject(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	return c.Subject.String()
}

// verifyNode is a tls.Config.VerifyConnection that requires the peer's
// (already chain-verified) certificate to be a node certificate.
func verifyNode(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("%w: no certificate", ErrNotNode)
	}
	_, err := NodeID(cs.PeerCertificates[0])
	return err
}

// PeerTLS loads a node's certificate, key and the cluster CA bundle and
// returns the Raft port's configurations: server (requires a client
// certificate chained to the CA) and client (verifies the server by the host
// it dials), both TLS 1.3, both requiring the peer to hold a node
// certificate. The certificate must be a node certificate itself.
func PeerTLS(certFile, keyFile, caFile string) (server, client *tls.Config, err error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("load node certificate: %w", err)
	}
	if _, err := NodeID(cert.Leaf); err != nil {
		return nil, nil, fmt.Errorf("%s: %w (make it with 'admit cluster certs node')", certFile, err)
	}
	pool, err := LoadCAPool(caFile)
	if err != nil {
		return nil, nil, err
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, nil, fmt.Errorf("%s is not signed by a CA in %s: %w", certFile, caFile, err)
	}
	server = &tls.Config{
		Certificates:     []tls.Certificate{cert},
		ClientCAs:        pool,
		ClientAuth:       tls.RequireAndVerifyClientCert,
		MinVersion:       tls.VersionTLS13,
		VerifyConnection: verifyNode,
	}
	client = &tls.Config{
		Certificates:     []tls.Certificate{cert},
		RootCAs:          pool,
		MinVersion:       tls.VersionTLS13,
		VerifyConnection: verifyNode,
	}
	return server, client, nil
}

// ServerTLS loads a certificate and key for an HTTPS server (the node's
// HTTP API): TLS 1.2 or newer, no client certificates.
func ServerTLS(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load HTTP certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
