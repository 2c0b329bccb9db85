package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/admitpark/admit/cluster/pki"
)

// errInsecure: a node would listen off loopback without TLS.
var errInsecure = errors.New("refusing to run without TLS")

// peerTLSConfigs are the Raft port's mutual-TLS configurations; both nil
// without TLS.
type peerTLSConfigs struct{ server, client *tls.Config }

// nodeTLS loads the node's TLS flags, and refuses a Raft or HTTP address
// off loopback without TLS unless --insecure.
func nodeTLS(log *slog.Logger, f *nodeFlags) (peerTLSConfigs, *tls.Config, error) {
	var peer peerTLSConfigs
	switch n := countSet(f.tlsCert, f.tlsKey, f.tlsCA); {
	case n == 3:
		var err error
		if peer.server, peer.client, err = pki.PeerTLS(f.tlsCert, f.tlsKey, f.tlsCA); err != nil {
			return peer, nil, fmt.Errorf("--tls-cert/--tls-key/--tls-ca: %w", err)
		}
		if id, _ := pki.NodeID(peer.server.Certificates[0].Leaf); id != f.id {
			return peer, nil, fmt.Errorf("--tls-cert names node %q, but this is node %q: peers would refuse its calls (make one with 'admit cluster certs node --id %s')", id, f.id, f.id)
		}
	case n != 0:
		return peer, nil, errors.New("give all of --tls-cert, --tls-key and --tls-ca, or none")
	}
	var httpTLS *tls.Config
	switch n := countSet(f.httpTLSCert, f.httpTLSKey); {
	case n == 2:
		var err error
		if httpTLS, err = pki.ServerTLS(f.httpTLSCert, f.httpTLSKey); err != nil {
			return peer, nil, fmt.Errorf("--http-tls-cert/--http-tls-key: %w", err)
		}
	case n != 0:
		return peer, nil, errors.New("give both --http-tls-cert and --http-tls-key, or neither")
	}

	raftAddrs := []string{f.raftAddr, f.advertiseAddr}
	if peer.server == nil && !allLoopback(raftAddrs...) {
		if !f.insecure {
			return peer, nil, fmt.Errorf("%w: the Raft address %s is not loopback, and anyone who can reach it could read the cluster's state, "+
				"forge or revoke tickets, add a node of their own and remove members. Give --tls-cert, --tls-key and --tls-ca "+
				"(make them with 'admit cluster certs'; see deploy/README.md), or --insecure if nothing but the cluster's nodes can reach this port",
				errInsecure, strings.Trim(strings.Join(raftAddrs, " "), " "))
		}
		log.Warn("INSECURE: Raft port off loopback without TLS (--insecure): anyone who reaches it can change the cluster", "raft_addr", f.raftAddr)
	}
	if httpTLS == nil && !allLoopback(f.httpAddr) {
		if !f.insecure {
			return peer, nil, fmt.Errorf("%w: the HTTP address %s is not loopback, and admin and gate tokens would cross the network in clear text. "+
				"Give --http-tls-cert and --http-tls-key (the node's certificate from 'admit cluster certs node' will do), "+
				"or --insecure if the network is trusted", errInsecure, f.httpAddr)
		}
		log.Warn("INSECURE: HTTP API off loopback without TLS (--insecure): tokens cross the network in clear text", "http_addr", f.httpAddr)
	}
	return peer, httpTLS, nil
}

func countSet(vals ...string) int {
	n := 0
	for _, v := range vals {
		if v != "" {
			n++
		}
	}
	return n
}

// allLoopback reports whether every non-empty host:port names a loopback
// host (127.0.0.0/8, ::1, localhost). An empty or unspecified host
// (0.0.0.0, ::) listens on every interface and is not loopback.
func allLoopback(addrs ...string) bool {
	for _, a := range addrs {
		if a == "" {
			continue
		}
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			return false
		}
		if host == "localhost" {
			continue
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return false
		}
	}
	return true
}
