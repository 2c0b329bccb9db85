package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"
)

// ServerConfig configures a node's HTTP server.
type ServerConfig struct {
	// Addr to listen on, host:port; port 0 picks one.
	Addr string
	// MaxBodyBytes bounds a request body; larger requests get 413.
	MaxBodyBytes int
	// ReadTimeout and WriteTimeout bound one request; IdleTimeout a kept-alive
	// connection between requests.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	Logger                                 *slog.Logger
	// TLS, when set, serves HTTPS with it (cluster/pki.ServerTLS loads
	// one); nil serves plain HTTP, for loopback only.
	TLS *tls.Config
}

// DefaultServerConfig suits gates on a LAN: small bodies, keep-alive.
func DefaultServerConfig(addr string) ServerConfig {
	return ServerConfig{
		Addr:         addr,
		MaxBodyBytes: 1 << 20,
		ReadTimeout:  10 * time.Second,
		WriteTimeout: 10 * time.Second,
		IdleTimeout:  2 * time.Minute,
	}
}

// Validate reports the first problem with c.
func (c ServerConfig) Validate() error {
	if c.Addr == "" {
		return errors.New("http address is required")
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("http address %q: %v", c.Addr, err)
	}
	if c.MaxBodyBytes < 1024 {
		return fmt.Errorf("max body bytes %d is below 1024", c.MaxBodyBytes)
	}
	if c.ReadTimeout <= 0 || c.WriteTimeout <= 0 || c.IdleTimeout <= 0 {
		return errors.New("http timeouts must be positive")
	}
	return nil
}

// Server serves a router until Shutdown.
type Server struct {
	srv  *fasthttp.Server
	ln   net.Listener
	done chan error
}

// Listen binds the address and starts serving h in a goroutine the Server
// owns; Shutdown stops it.
func Listen(cfg ServerConfig, h fasthttp.RequestHandler) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS)
	}
	s := &Server{
		ln:   ln,
		done: make(chan error, 1),
		srv: &fasthttp.Server{
			Handler:               h,
			Name:                  "admit",
			MaxRequestBodySize:    cfg.MaxBodyBytes,
			ReadTimeout:           cfg.ReadTimeout,
			WriteTimeout:          cfg.WriteTimeout,
			IdleTimeout:           cfg.IdleTimeout,
			NoDefaultServerHeader: true,
			NoDefaultDate:         true,
			CloseOnShutdown:       true,
			Logger:                fasthttpLogger{log},
			ErrorHandler: func(ctx *fasthttp.RequestCtx, err error) {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					// An idle connection timed out before sending a request:
					// close it; a 400 on it could be taken as the answer to
					// the next request the client sends there.
					ctx.SetConnectionClose()
					ctx.Conn().Close()
					return
				}
				status := http.StatusBadRequest
				msg := "malformed HTTP request: " + err.Error()
				if errors.Is(err, fasthttp.ErrBodyTooLarge) {
					status = http.StatusRequestEntityTooLarge
					msg = fmt.Sprintf("request body too large: limit is %d bytes", cfg.MaxBodyBytes)
				}
				Error(ctx, status, "%s", msg)
			},
		},
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Shutdown stops accepting, waits for open requests until ctx ends, and
// returns once the serving goroutine has.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.ShutdownWithContext(ctx)
	if serr := <-s.done; serr != nil && err == nil {
		err = serr
	}
	return err
}

type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Debug(fmt.Sprintf(format, args...), "component", "http")
}
