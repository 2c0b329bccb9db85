package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// One TCP port carries Raft and node-to-node calls. Each connection starts
// with one byte that says which.
const (
	connRaft byte = 'R'
	connRPC  byte = 'F'
)

// mux accepts connections on the Raft port and hands each to Raft or to the
// RPC server by its first byte.
type mux struct {
	ln        net.Listener
	advertise net.Addr
	cfg       *Config
	log       *slog.Logger
	raftCh    chan net.Conn
	rpcConn   func(net.Conn) // set before serve starts
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

func newMux(cfg *Config, log *slog.Logger) (*mux, error) {
	ln, err := net.Listen("tcp", cfg.RaftAddr)
	if err != nil {
		return nil, err
	}
	var adv net.Addr = ln.Addr()
	if cfg.AdvertiseAddr != "" {
		if adv, err = net.ResolveTCPAddr("tcp", cfg.AdvertiseAddr); err != nil {
			ln.Close()
			return nil, err
		}
	} else if err := checkDialable(ln.Addr().String()); err != nil {
		ln.Close()
		return nil, errors.Join(ErrConfig, errors.New("listening on an unspecified address: set AdvertiseAddr"), err)
	}
	if cfg.ServerTLS != nil {
		ln = tls.NewListener(ln, cfg.ServerTLS)
	}
	return &mux{
		ln: ln, advertise: adv, cfg: cfg, log: log,
		raftCh: make(chan net.Conn), done: make(chan struct{}),
	}, nil
}

func (m *mux) serve() {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			conn, err := m.ln.Accept()
			if err != nil {
				select {
				case <-m.done:
					return
				default:
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				m.log.Error("raft port accept failed", "err", err)
				return
			}
			m.wg.Add(1)
			go func() {
				defer m.wg.Done()
				m.route(conn)
			}()
		}
	}()
}

func (m *mux) route(conn net.Conn) {
	var b [1]byte
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(b[:]); err != nil {
		conn.Close()
		return
	}
	conn.SetReadDeadline(time.Time{})
	switch b[0] {
	case connRaft:
		select {
		case m.raftCh <- conn:
		case <-m.done:
			conn.Close()
		}
	case connRPC:
		m.rpcConn(conn)
	default:
		m.log.Warn("unknown connection type on raft port", "remote", conn.RemoteAddr().String(), "byte", b[0])
		conn.Close()
	}
}

// dial opens a connection of the given type to another node.
func (m *mux) dial(ctx context.Context, addr string, kind byte) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.DialTimeout)
	defer cancel()
	var conn net.Conn
	var err error
	if m.cfg.Dial != nil {
		conn, err = m.cfg.Dial(ctx, addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	if m.cfg.ClientTLS != nil {
		tcfg := m.cfg.ClientTLS
		if tcfg.ServerName == "" && !tcfg.InsecureSkipVerify {
			// Verify each peer by the host it is dialled at.
			tcfg = tcfg.Clone()
			tcfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tconn := tls.Client(conn, tcfg)
		if err := tconn.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		conn = tconn
	}
	if _, err := conn.Write([]byte{kind}); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// stop stops accepting connections. Connections already handed to the RPC
// server are closed by it; wait for them with close after that.
func (m *mux) stop() {
	m.closeOnce.Do(func() {
		close(m.done)
		m.ln.Close()
	})
}

func (m *mux) close() {
	m.stop()
	m.wg.Wait()
}

// raftLayer is the raft.StreamLayer view of the mux.
type raftLayer struct{ m *mux }

var _ raft.StreamLayer = raftLayer{}

func (l raftLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.m.raftCh:
		return c, nil
	case <-l.m.done:
		return nil, net.ErrClosed
	}
}

// Close is called by the Raft transport; the node closes the mux itself.
func (l raftLayer) Close() error   { return nil }
func (l raftLayer) Addr() net.Addr { return l.m.advertise }

func (l raftLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return l.m.dial(ctx, string(addr), connRaft)
}
