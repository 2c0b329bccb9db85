package cluster_test

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/cluster/countersm"
	"github.com/admitpark/admit/cluster/pki"
)

// The probe of issue 13, as tests: a program that speaks the frame format
// of node-to-node calls (cluster/rpc.go) tries to read status, snapshot,
// apply, join, remove and transfer on a cluster running mutual TLS with
// certificates from cluster/pki.

// Operations of node-to-node frames (cluster/rpc.go).
const (
	opApply    = 1
	opJoin     = 2
	opRemove   = 3
	opTransfer = 4
	opSnapshot = 5
	opStatus   = 6
)

// pkiTLS configures each node with its own certificate from dir (made on
// first use, naming 127.0.0.1) and the cluster CA, as `admit node
// --tls-cert --tls-key --tls-ca` does.
func pkiTLS(t *testing.T, dir string) func(*cluster.Config) {
	return func(c *cluster.Config) {
		if err := pki.EnsureNodes(dir, []string{c.ID}, []string{"127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
		cert, key := pki.NodeFiles(dir, c.ID)
		ca, _ := pki.CAFiles(dir)
		srv, cli, err := pki.PeerTLS(cert, key, ca)
		if err != nil {
			t.Fatal(err)
		}
		c.ServerTLS, c.ClientTLS = srv, cli
	}
}

// clientCert loads a certificate made in dir for the probe.
func clientCert(t *testing.T, dir, id string) tls.Certificate {
	t.Helper()
	certFile, keyFile := pki.NodeFiles(dir, id)
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// probeCall sends one request frame on a fresh 'F' connection and returns
// the answer's status code and payload.
func probeCall(conn net.Conn, op byte, payload []byte) (code byte, body []byte, err error) {
	req := []byte{'F'}
	req = binary.BigEndian.AppendUint32(req, uint32(9+len(payload)))
	req = binary.BigEndian.AppendUint64(req, 7)
	req = append(req, op)
	req = append(req, payload...)
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(req); err != nil {
		return 0, nil, err
	}
	r := bufio.NewReader(conn)
	var h [13]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	body = make([]byte, binary.BigEndian.Uint32(h[:4])-9)
	_, err = io.ReadFull(r, body)
	return h[12], body, err
}

// probeOps are the probe's requests against a cluster whose followers are
// given: each would change or reveal something if it were served.
func probeOps(followers []*clustertest.Member) []struct {
	name    string
	op      byte
	payload []byte
} {
	js := func(v any) []byte { b, _ := json.Marshal(v); return b }
	apply := binary.BigEndian.AppendUint64(nil, uint64(time.Now().Add(5*time.Second).UnixNano()))
	apply = append(apply, countersm.Command(1<<50, 1000)...)
	return []struct {
		name    string
		op      byte
		payload []byte
	}{
		{"status", opStatus, nil},
		{"snapshot", opSnapshot, nil},
		{"apply", opApply, apply},
		{"join", opJoin, js(map[string]any{"id": "evil", "raft_addr": "127.0.0.1:9"})},
		{"remove", opRemove, js(map[string]any{"id": followers[1].ID})},
		{"transfer", opTransfer, js(map[string]any{"id": followers[0].ID})},
	}
}

func TestProbeRefusedWithoutMemberCertificate(t *testing.T) {
	dir := t.TempDir()
	h := counterHarness(t, pkiTLS(t, dir))
	applyOps(t, h.Followers()[0].Node(), 1, 5)
	before := converge(t, h, 1<<40)
	leader := h.Leader()
	snaps, err := leader.Node().Snapshots()
	if err != nil {
		t.Fatal(err)
	}
	ops := probeOps(h.Followers())
	pool, err := pki.LoadCAPool(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}

	// Certificates an attacker might hold: a CA-signed node certificate
	// for a name that is no member, one from another CA, and a CA-signed
	// certificate that is not a node certificate at all.
	if err := pki.IssueNode(dir, "n9", []string{"127.0.0.1"}, time.Hour, false); err != nil {
		t.Fatal(err)
	}
	otherDir := t.TempDir()
	if err := pki.EnsureNodes(otherDir, []string{"n1"}, []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	foreign := newTestPKI(t, "another CA")
	base := tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13}

	t.Run("plaintext", func(t *testing.T) {
		for _, o := range ops {
			conn, err := net.DialTimeout("tcp", leader.RaftAddr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			code, body, err := probeCall(conn, o.op, o.payload)
			conn.Close()
			if err == nil {
				t.Errorf("%s in plaintext: answered code %d %q", o.name, code, body)
			}
		}
	})
	for _, tc := range []struct {
		name string
		cert *tls.Certificate
	}{
		{"no client certificate", nil},
		{"certificate from another cluster's CA, named like a member", ptr(clientCert(t, otherDir, "n1"))},
		{"certificate from an unrelated CA", ptr(foreign.issue("n1"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base.Clone()
			if tc.cert != nil {
				cfg.Certificates = []tls.Certificate{*tc.cert}
			}
			for range ops {
				expectRefused(t, leader.RaftAddr, cfg)
			}
		})
	}
	t.Run("CA-signed certificate that names no member", func(t *testing.T) {
		cfg := base.Clone()
		cfg.Certificates = []tls.Certificate{clientCert(t, dir, "n9")}
		for _, o := range ops {
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", leader.RaftAddr, cfg)
			if err != nil {
				t.Fatalf("%s: handshake: %v", o.name, err)
			}
			code, body, err := probeCall(conn, o.op, o.payload)
			conn.Close()
			if err != nil {
				t.Fatalf("%s: %v", o.name, err)
			}
			if code == 0 || !strings.Contains(string(body), "not a member") {
				t.Errorf("%s by non-member n9: code %d %q, want refused as not a member", o.name, code, body)
			}
		}
	})

	// Nothing changed: same members, same counter, no new snapshot.
	members, err := leader.Node().Members()
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 3 {
		t.Fatalf("members after the probe: %v", members)
	}
	for _, m := range members {
		if m.ID == "evil" {
			t.Fatal("the probe joined a node")
		}
	}
	if after := converge(t, h, 1<<41); after.Total != before.Total {
		t.Fatalf("counter %d after the probe, %d before", after.Total, before.Total)
	}
	if now, _ := leader.Node().Snapshots(); len(now) != len(snaps) {
		t.Fatalf("the probe made a snapshot: %d, were %d", len(now), len(snaps))
	}

	t.Run("a member's certificate is served", func(t *testing.T) {
		cfg := base.Clone()
		cfg.Certificates = []tls.Certificate{clientCert(t, dir, h.Followers()[0].ID)}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", leader.RaftAddr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		code, body, err := probeCall(conn, opStatus, nil)
		if err != nil || code != 0 {
			t.Fatalf("status with a member's certificate: code %d %q, err %v", code, body, err)
		}
		var ms cluster.MemberStatus
		if err := json.Unmarshal(body, &ms); err != nil || ms.ID != leader.ID {
			t.Fatalf("status %q: %v", body, err)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// stallHarness is a one-node cluster (no peers hold connections) with short
// node-to-node timeouts and a small connection cap.
func stallHarness(t *testing.T) *clustertest.Harness {
	return clustertest.New(t, 1, clustertest.Options{
		StateMachine: func(string) cluster.StateMachine { return countersm.Counter{} },
		Configure: func(c *cluster.Config) {
			c.HandshakeTimeout = time.Minute // the cap test holds connections in it
			c.RPCIdleTimeout = 300 * time.Millisecond
			c.RPCReadTimeout = 300 * time.Millisecond
			c.MaxConns = 8
		},
	})
}

// waitClosed reads conn until the server closes it, failing after a
// generous deadline (the server's timeouts are far shorter).
func waitClosed(t *testing.T, conn net.Conn, what string) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the server kept the connection open", what)
	}
}

func TestStalledRPCConnectionIsClosed(t *testing.T) {
	h := stallHarness(t)
	addr := h.Members[0].RaftAddr
	for _, tc := range []struct {
		name string
		send []byte
	}{
		{"connection type only (idle timeout)", []byte{'F'}},
		{"one byte of a frame (read timeout)", []byte{'F', 0}},
		{"frame header, no body (read timeout)", append([]byte{'F'}, binary.BigEndian.AppendUint32(nil, 100)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			waitClosed(t, conn, tc.name)
		})
	}
	// A connection that keeps asking stays open past the idle timeout.
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if code, _, err := probeCall(conn, opStatus, nil); err != nil || code != 0 {
		t.Fatalf("status: code %d, err %v", code, err)
	}
}

func TestConnectionsBeyondCapAreRefused(t *testing.T) {
	h := stallHarness(t)
	addr := h.Members[0].RaftAddr
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	// Hold every slot: connections that send nothing wait in the handshake.
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	// Once the server has accepted them all, the next one is closed at once.
	clustertest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, err = c.Read(make([]byte, 1))
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return errors.New("a connection beyond the cap was kept open")
		}
		return nil
	}, "a connection beyond the cap of 8 to be refused")
	// A freed slot is usable again.
	held[0].Close()
	held = held[1:]
	clustertest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		code, _, err := probeCall(c, opStatus, nil)
		if err != nil || code != 0 {
			return fmt.Errorf("status: code %d, err %v", code, err)
		}
		return nil
	}, "a status call once a slot is free")
}

func TestConfigValidatesConnectionLimits(t *testing.T) {
	ok := cluster.DefaultConfig("n1", t.TempDir(), "127.0.0.1:0")
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*cluster.Config){
		"no handshake timeout": func(c *cluster.Config) { c.HandshakeTimeout = 0 },
		"no rpc idle timeout":  func(c *cluster.Config) { c.RPCIdleTimeout = 0 },
		"no rpc read timeout":  func(c *cluster.Config) { c.RPCReadTimeout = -time.Second },
		"max conns below 8":    func(c *cluster.Config) { c.MaxConns = 7 },
	} {
		c := ok
		edit(&c)
		if err := c.Validate(); !errors.Is(err, cluster.ErrConfig) {
			t.Errorf("%s: Validate() = %v, want ErrConfig", name, err)
		}
	}
}
