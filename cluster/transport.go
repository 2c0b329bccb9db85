package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
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
	rpcConn   func(conn net.Conn, p peer) // set before serve starts
	open      chan struct{}               // one token per accepted connection open (Config.MaxConns)
	lastWarn  atomic.Int64                // unix nanos of the last "too many connections" warning
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
	return &mux{
		ln: ln, advertise: adv, cfg: cfg, log: log,
		raftCh: make(chan net.Conn), done: make(chan struct{}),
		open: make(chan struct{}, cfg.MaxConns),
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
			select {
			case m.open <- struct{}{}:
			default:
				conn.Close()
				m.warnLimited("raft port: too many connections; refusing", "remote", conn.RemoteAddr().String(), "max_conns", m.cfg.MaxConns)
				continue
			}
			conn = &countedConn{Conn: conn, release: func() { <-m.open }}
			m.wg.Add(1)
			go func() {
				defer m.wg.Done()
				m.route(conn)
			}()
		}
	}()
}

// warnLimited logs a warning about a refused connection, at most one a
// second: a flood of bad connections does not flood the log.
func (m *mux) warnLimited(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := m.lastWarn.Load()
	if now-last < int64(time.Second) || !m.lastWarn.CompareAndSwap(last, now) {
		return
	}
	m.log.Warn(msg, args...)
}

// peer is who is at the other end of an accepted connection.
type peer struct {
	// id is the CommonName of the peer's verified TLS certificate; empty
	// without TLS.
	id   string
	addr string
}

func (p peer) String() string {
	if p.id == "" {
		return "unauthenticated peer at " + p.addr
	}
	return p.id + " at " + p.addr
}

// countedConn gives back its slot of Config.MaxConns when closed.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

func (m *mux) route(conn net.Conn) {
	p := peer{addr: conn.RemoteAddr().String()}
	conn.SetDeadline(time.Now().Add(m.cfg.HandshakeTimeout))
	if m.cfg.ServerTLS != nil {
		tconn := tls.Server(conn, m.cfg.ServerTLS)
		if err := tconn.Handshake(); err != nil {
			m.warnLimited("raft port: TLS handshake failed; closing", "remote", p.addr, "err", err)
			conn.Close()
			return
		}
		if certs := tconn.ConnectionState().PeerCertificates; len(certs) > 0 {
			p.id = certs[0].Subject.CommonName
		}
		conn = tconn
	}
	var b [1]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		conn.Close()
		return
	}
	conn.SetDeadline(time.Time{})
	switch b[0] {
	case connRaft:
		select {
		case m.raftCh <- conn:
		case <-m.done:
			conn.Close()
		}
	case connRPC:
		m.rpcConn(conn, p)
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
