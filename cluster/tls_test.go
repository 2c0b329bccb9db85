package cluster_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster"
)

// testPKI is a throwaway certificate authority.
type testPKI struct {
	t      testing.TB
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	pool   *x509.CertPool
	serial atomic.Int64
}

func newTestPKI(t testing.TB, name string) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	p := &testPKI{t: t, cert: cert, key: key, pool: pool}
	p.serial.Store(1)
	return p
}

// issue makes a certificate for a node, good as server and as client, for
// the IP address 127.0.0.1.
func (p *testPKI) issue(cn string) tls.Certificate {
	p.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		p.t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial.Add(1)),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		p.t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		p.t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// tlsCounter counts verified TLS connections per node and side.
type tlsCounter struct {
	mu       sync.Mutex
	accepted map[string]int // by server node id
	dialled  map[string]int // by client node id
	peers    map[string]map[string]bool
}

func newTLSCounter() *tlsCounter {
	return &tlsCounter{accepted: map[string]int{}, dialled: map[string]int{}, peers: map[string]map[string]bool{}}
}

// mutualTLS configures a node for mutual TLS with a certificate of its own.
func mutualTLS(pki *testPKI, count *tlsCounter, serverName string) func(*cluster.Config) {
	return func(c *cluster.Config) {
		id := c.ID
		cert := pki.issue(id)
		c.ServerTLS = &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientCAs:    pki.pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS13,
			VerifyConnection: func(cs tls.ConnectionState) error {
				count.mu.Lock()
				defer count.mu.Unlock()
				count.accepted[id]++
				if count.peers[id] == nil {
					count.peers[id] = map[string]bool{}
				}
				count.peers[id][cs.PeerCertificates[0].Subject.CommonName] = true
				return nil
			},
		}
		c.ClientTLS = &tls.Config{
			Certificates: []tls.Certificate{cert},
			RootCAs:      pki.pool,
			ServerName:   serverName,
			MinVersion:   tls.VersionTLS13,
			VerifyConnection: func(cs tls.ConnectionState) error {
				count.mu.Lock()
				defer count.mu.Unlock()
				count.dialled[id]++
				return nil
			},
		}
	}
}

func TestMutualTLSCluster(t *testing.T) {
	pki := newTestPKI(t, "admit test CA")
	count := newTLSCounter()
	// Every node certificate names 127.0.0.1; the client config names the
	// server it expects (see the report: the transport does not derive it
	// from the address it dials).
	h := counterHarness(t, mutualTLS(pki, count, "127.0.0.1"))

	// Commands through both followers: forwarding goes over the same
	// TLS port as Raft.
	leader := h.Leader()
	followers := h.Followers()
	applyOps(t, followers[0].Node(), 1, 20)
	applyOps(t, followers[1].Node(), 21, 40)
	st := converge(t, h, 1<<40)
	if want := int64(40 * 41 / 2); st.Total != want {
		t.Fatalf("total %d, want %d", st.Total, want)
	}

	count.mu.Lock()
	for _, m := range h.Members {
		if count.dialled[m.ID] == 0 {
			t.Errorf("%s never dialled a peer over TLS", m.ID)
		}
		if count.accepted[m.ID] == 0 {
			t.Errorf("%s never accepted a TLS connection", m.ID)
		}
	}
	// The leader accepted connections from both followers, with their own
	// client certificates: followers dial the leader to forward commands
	// (Raft traffic goes the other way, leader to follower).
	if h.Leader() == leader {
		for _, f := range followers {
			if !count.peers[leader.ID][f.ID] {
				t.Errorf("leader %s accepted no TLS connection from %s; accepted from %v", leader.ID, f.ID, count.peers[leader.ID])
			}
		}
	} else {
		t.Logf("leadership moved during the test; not checking who dialled whom")
	}
	count.mu.Unlock()

	addr := leader.RaftAddr
	t.Run("plaintext RPC gets no answer", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// A well-formed status request, in the clear.
		req := []byte{'F'}
		req = binary.BigEndian.AppendUint32(req, 9)
		req = binary.BigEndian.AppendUint64(req, 1)
		req = append(req, 6) // opStatus
		if _, err := conn.Write(req); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, conn)
	})
	t.Run("TLS without a client certificate is refused", func(t *testing.T) {
		expectRefused(t, addr, &tls.Config{RootCAs: pki.pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13})
	})
	t.Run("certificate from another CA is refused", func(t *testing.T) {
		other := newTestPKI(t, "someone else's CA")
		expectRefused(t, addr, &tls.Config{
			Certificates: []tls.Certificate{other.issue("intruder")},
			RootCAs:      pki.pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13,
		})
	})

	// The cluster is undisturbed by all that.
	applyOps(t, followers[0].Node(), 41, 45)
	converge(t, h, 1<<41)
}

// expectRefused dials addr with cfg and checks that the server does not
// serve the connection: the handshake fails, or the first read does (TLS 1.3
// reports a rejected client certificate after the client's handshake ends).
func expectRefused(t *testing.T, addr string, cfg *tls.Config) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return
	}
	defer conn.Close()
	conn.Write([]byte{'F'})
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = conn.Read(make([]byte, 1))
	if err == nil {
		t.Fatal("server answered a client it should have refused")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("server kept a refused client's connection open")
	}
}

// expectClosed checks that the server closes conn without sending a
// response, within a deadline.
func expectClosed(t *testing.T, conn net.Conn) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, bufio.NewReader(conn))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("server kept the connection open (read %d bytes)", n)
	}
	// A TLS server may send an alert record before closing; a plaintext
	// server answers nothing. Either way no frame of ours came back.
	if n > 64 {
		t.Fatalf("server sent %d bytes to a garbage connection", n)
	}
}

func garbage(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(0xff - i%7)
	}
	return b
}

// sendGarbage dials the raft port in plain TCP, sends kind and then garbage,
// and checks the server hangs up.
func sendGarbage(t *testing.T, addr string, kind byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(append([]byte{kind}, garbage(4096)...)); err != nil && !isConnReset(err) {
		t.Fatal(err)
	}
	expectClosed(t, conn)
}

// isConnReset reports a write that failed because the server already hung up.
func isConnReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func TestGarbageOnRaftPortDoesNotDisturbCluster(t *testing.T) {
	for _, tc := range []struct {
		name      string
		configure func(*cluster.Config)
	}{
		{"plain", nil},
		{"mutual TLS", mutualTLS(newTestPKI(t, "admit test CA"), newTLSCounter(), "127.0.0.1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := counterHarness(t, tc.configure)
			leader := h.Leader()
			applyOps(t, h.Followers()[0].Node(), 1, 10)
			converge(t, h, 1<<40)

			for _, m := range h.Members {
				sendGarbage(t, m.RaftAddr, 'R') // a Raft connection, then nonsense
				sendGarbage(t, m.RaftAddr, 'F') // an RPC connection, then nonsense
				sendGarbage(t, m.RaftAddr, 'X') // an unknown connection type
			}

			applyOps(t, h.Followers()[0].Node(), 11, 20)
			st := converge(t, h, 1<<41)
			if want := int64(20 * 21 / 2); st.Total != want {
				t.Fatalf("total %d, want %d", st.Total, want)
			}
			if l := h.WaitLeader(5 * time.Second); l != leader {
				t.Logf("leadership moved from %s to %s (not necessarily caused by the garbage)", leader.ID, l.ID)
			}
		})
	}
}

// TestTLSWithoutServerName: with ClientTLS.ServerName empty, each peer is
// verified by the host it is dialled at.
func TestTLSWithoutServerName(t *testing.T) {
	pki := newTestPKI(t, "admit test CA")
	h := counterHarness(t, mutualTLS(pki, newTLSCounter(), ""))
	applyOps(t, h.Followers()[0].Node(), 1, 3)
	converge(t, h, 1<<40)
}
