package cluster

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Node-to-node calls share the Raft port. They carry commands from followers
// to the leader, membership changes to the leader, and status and snapshot
// requests to any member. Each connection is multiplexed: requests carry an
// id, answers come back in any order, so one persistent connection serves
// every concurrent caller.
//
// Frame: uint32 length of the rest, uint64 request id, one byte (op in a
// request, status code in an answer), payload.

type rpcOp byte

const (
	opApply rpcOp = iota + 1
	opJoin
	opRemove
	opTransfer
	opSnapshot
	opStatus
	opLeaderCall
)

// Status codes in answers; each error code maps to one sentinel error.
const (
	codeOK byte = iota
	codeNoLeader
	codeNotLeader
	codeOutcomeUnknown
	codeRejected
	codeShutdown
	codeBadRequest
	codeUnknownNode
	codeInternal
	codeTooLarge
	codeUnauthorized
)

var codeErrors = map[byte]error{
	codeNoLeader:       ErrNoLeader,
	codeNotLeader:      ErrNotLeader,
	codeOutcomeUnknown: ErrOutcomeUnknown,
	codeRejected:       ErrRejected,
	codeShutdown:       ErrShutdown,
	codeBadRequest:     ErrBadRequest,
	codeUnknownNode:    ErrUnknownNode,
	codeTooLarge:       ErrTooLarge,
	codeUnauthorized:   ErrUnauthorized,
}

func errorCode(err error) byte {
	for code, sentinel := range codeErrors {
		if errors.Is(err, sentinel) {
			return code
		}
	}
	return codeInternal
}

// remoteError rebuilds an error from an answer: the sentinel for errors.Is,
// and the remote message for people.
func remoteError(code byte, msg []byte) error {
	if sentinel, ok := codeErrors[code]; ok {
		return &rpcError{sentinel: sentinel, msg: string(msg)}
	}
	return &rpcError{msg: string(msg)}
}

type rpcError struct {
	sentinel error
	msg      string
}

func (e *rpcError) Error() string { return e.msg }
func (e *rpcError) Unwrap() error { return e.sentinel }

const (
	frameHeader = 4 + 8 + 1
	// MaxCommandSize bounds one command and one node-to-node frame.
	MaxCommandSize = 16 << 20
)

var (
	// errUnreachable: the peer could not be dialled; nothing was sent.
	errUnreachable = errors.New("peer unreachable")
	// errConnLost: the request may have been sent but no answer came.
	errConnLost = errors.New("connection to peer lost")
)

func writeFrame(w *bufio.Writer, id uint64, kind byte, payload []byte) error {
	var h [frameHeader]byte
	binary.BigEndian.PutUint32(h[0:], uint32(8+1+len(payload)))
	binary.BigEndian.PutUint64(h[4:], id)
	h[12] = kind
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	if _, err := w.Write(payload); err != nil {
		return err
	}
	return w.Flush()
}

func readFrame(r *bufio.Reader) (id uint64, kind byte, payload []byte, err error) {
	var h [frameHeader]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return
	}
	n := binary.BigEndian.Uint32(h[0:])
	if n < 9 || n-9 > MaxCommandSize+64 {
		err = fmt.Errorf("frame of %d bytes", n)
		return
	}
	id = binary.BigEndian.Uint64(h[4:])
	kind = h[12]
	payload = make([]byte, n-9)
	_, err = io.ReadFull(r, payload)
	return
}

// rpcHandler answers one request.
type rpcHandler func(ctx context.Context, op rpcOp, payload []byte) ([]byte, error)

// rpcServer serves node-to-node calls on connections the mux hands it.
type rpcServer struct {
	handle rpcHandler
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup

	// idle and read are Config.RPCIdleTimeout and RPCReadTimeout.
	idle, read time.Duration
}

func newRPCServer(h rpcHandler, log *slog.Logger, idle, read time.Duration) *rpcServer {
	ctx, cancel := context.WithCancel(context.Background())
	return &rpcServer{handle: h, log: log, idle: idle, read: read, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
}

type peerKey struct{}

// peerFrom returns the peer whose request ctx carries; ok is false for a
// call made on this node itself.
func peerFrom(ctx context.Context) (p peer, ok bool) {
	p, ok = ctx.Value(peerKey{}).(peer)
	return p, ok
}

// awaitFrame waits, up to the idle timeout, for the first byte of the next
// frame, as long as none of this connection's requests is in flight.
func (s *rpcServer) awaitFrame(conn net.Conn, r *bufio.Reader, inFlight *atomic.Int64) error {
	for {
		conn.SetReadDeadline(time.Now().Add(s.idle))
		_, err := r.Peek(1)
		var ne net.Error
		if err == nil || !errors.As(err, &ne) || !ne.Timeout() || inFlight.Load() == 0 {
			return err
		}
	}
}

func (s *rpcServer) serveConn(conn net.Conn, p peer) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		conn.Close()
		return
	}
	s.conns[conn] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
		conn.Close()
	}()

	r := bufio.NewReaderSize(conn, 64<<10)
	w := bufio.NewWriterSize(conn, 64<<10)
	var wmu sync.Mutex
	var reqs sync.WaitGroup
	defer reqs.Wait()
	ctx := context.WithValue(s.ctx, peerKey{}, p)
	var inFlight atomic.Int64
	for {
		if err := s.awaitFrame(conn, r, &inFlight); err != nil {
			return
		}
		conn.SetReadDeadline(time.Now().Add(s.read))
		id, op, payload, err := readFrame(r)
		if err != nil {
			return
		}
		reqs.Add(1)
		inFlight.Add(1)
		go func() {
			defer reqs.Done()
			defer inFlight.Add(-1)
			res, err := s.handle(ctx, rpcOp(op), payload)
			code := codeOK
			if err != nil {
				code, res = errorCode(err), []byte(err.Error())
			}
			wmu.Lock()
			defer wmu.Unlock()
			conn.SetWriteDeadline(time.Now().Add(s.read)) // a peer that stops reading is dropped
			if werr := writeFrame(w, id, code, res); werr != nil {
				conn.Close()
			}
		}()
	}
}

func (s *rpcServer) close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// rpcPool keeps one multiplexed connection per peer address.
type rpcPool struct {
	dial func(ctx context.Context, addr string) (net.Conn, error)
	// maxIdle: a connection unused for longer is closed and dialled anew
	// before the next call, so the peer's idle timeout (Config.RPCIdleTimeout,
	// twice this) never closes it under a request.
	maxIdle time.Duration
	mu      sync.Mutex
	clients map[string]*rpcClient
	closed  bool
	wg      sync.WaitGroup // reader goroutines
}

func newRPCPool(dial func(ctx context.Context, addr string) (net.Conn, error), maxIdle time.Duration) *rpcPool {
	return &rpcPool{dial: dial, maxIdle: maxIdle, clients: map[string]*rpcClient{}}
}

func (p *rpcPool) call(ctx context.Context, addr string, op rpcOp, payload []byte) ([]byte, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrShutdown
	}
	c, ok := p.clients[addr]
	if !ok {
		c = &rpcClient{pool: p, addr: addr, pending: map[uint64]pendingCall{}}
		p.clients[addr] = c
	}
	p.mu.Unlock()
	return c.call(ctx, op, payload)
}

func (p *rpcPool) close() {
	p.mu.Lock()
	p.closed = true
	clients := p.clients
	p.clients = map[string]*rpcClient{}
	p.mu.Unlock()
	for _, c := range clients {
		c.mu.Lock()
		if c.conn != nil {
			c.conn.Close()
		}
		c.mu.Unlock()
	}
	p.wg.Wait()
}

type rpcAnswer struct {
	code    byte
	payload []byte
	err     error
}

type rpcClient struct {
	pool    *rpcPool
	addr    string
	mu      sync.Mutex // guards all below
	conn    net.Conn
	w       *bufio.Writer
	nextID  uint64
	pending map[uint64]pendingCall
	used    time.Time // when conn last sent a request
}

type pendingCall struct {
	ch   chan rpcAnswer
	conn net.Conn // the connection the request went out on
}

func (c *rpcClient) call(ctx context.Context, op rpcOp, payload []byte) ([]byte, error) {
	ch := make(chan rpcAnswer, 1)
	c.mu.Lock()
	if c.conn != nil && len(c.pending) == 0 && time.Since(c.used) > c.pool.maxIdle {
		c.conn.Close() // its reader ends; nothing is pending on it
		c.conn, c.w = nil, nil
	}
	if c.conn == nil {
		conn, err := c.pool.dial(ctx, c.addr)
		if err != nil {
			c.mu.Unlock()
			return nil, fmt.Errorf("%w: %s: %v", errUnreachable, c.addr, err)
		}
		c.pool.mu.Lock()
		if c.pool.closed {
			c.pool.mu.Unlock()
			c.mu.Unlock()
			conn.Close()
			return nil, ErrShutdown
		}
		c.pool.wg.Add(1)
		c.pool.mu.Unlock()
		c.conn, c.w = conn, bufio.NewWriterSize(conn, 64<<10)
		go c.readLoop(conn)
	}
	c.nextID++
	c.used = time.Now()
	id := c.nextID
	c.pending[id] = pendingCall{ch: ch, conn: c.conn}
	if dl, ok := ctx.Deadline(); ok {
		c.conn.SetWriteDeadline(dl)
	}
	err := writeFrame(c.w, id, byte(op), payload)
	c.conn.SetWriteDeadline(time.Time{})
	if err != nil {
		c.conn.Close() // the reader fails every pending call
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %s: %v", errConnLost, c.addr, err)
	}
	c.mu.Unlock()

	select {
	case a := <-ch:
		if a.err != nil {
			return nil, a.err
		}
		if a.code != codeOK {
			return nil, remoteError(a.code, a.payload)
		}
		return a.payload, nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %s: %v", errConnLost, c.addr, ctx.Err())
	}
}

func (c *rpcClient) readLoop(conn net.Conn) {
	defer c.pool.wg.Done()
	r := bufio.NewReaderSize(conn, 64<<10)
	for {
		id, code, payload, err := readFrame(r)
		if err != nil {
			conn.Close()
			c.mu.Lock()
			if c.conn == conn {
				c.conn, c.w = nil, nil
			}
			for pid, pc := range c.pending {
				if pc.conn == conn {
					pc.ch <- rpcAnswer{err: fmt.Errorf("%w: %s: %v", errConnLost, c.addr, err)}
					delete(c.pending, pid)
				}
			}
			c.mu.Unlock()
			return
		}
		c.mu.Lock()
		pc, ok := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if ok {
			pc.ch <- rpcAnswer{code: code, payload: payload}
		}
	}
}
