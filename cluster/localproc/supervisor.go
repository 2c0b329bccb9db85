package localproc

import (
	"context"
	"os"
	"sync"
	"time"
)

// EventKind says what happened to a supervised process.
type EventKind int

// Events of a Supervisor.
const (
	// Exited: the process ended by itself (Event.State says how).
	Exited EventKind = iota + 1
	// Restarted: it was started again from its data dir (Event.Pid).
	Restarted
	// RestartFailed: starting it again failed (Event.Err); the
	// Supervisor stops watching it.
	RestartFailed
)

// Event is something that happened to a supervised process.
type Event struct {
	Kind    EventKind
	Process *Process
	Pid     int              // Exited: the pid that ended; Restarted: the new one
	State   *os.ProcessState // Exited
	Err     error            // RestartFailed
}

// SupervisorConfig says what a Supervisor does when a process dies.
type SupervisorConfig struct {
	// RestartDelay is how long after a process exited it is started
	// again; 0: never (the Supervisor reports the exit and stops
	// watching that process).
	RestartDelay time.Duration
	// OnEvent is told of every exit and restart, from the watching
	// goroutine of that process; it may block until the Supervisor is
	// closed. Nil: nobody is told.
	OnEvent func(ctx context.Context, ev Event)
}

// Supervisor watches processes and restarts those that die. It owns one
// goroutine per watched process; Close ends them.
type Supervisor struct {
	cfg    SupervisorConfig
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewSupervisor returns a Supervisor; Close it when done.
func NewSupervisor(cfg SupervisorConfig) *Supervisor {
	if cfg.OnEvent == nil {
		cfg.OnEvent = func(context.Context, Event) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Supervisor{cfg: cfg, ctx: ctx, cancel: cancel}
}

// Watch supervises p from now on, until Close.
func (s *Supervisor) Watch(p *Process) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.watch(p)
	}()
}

// Close stops watching and waits for the watching goroutines to end. The
// processes keep running: stop them after Close, or a Supervisor could
// restart one being stopped.
func (s *Supervisor) Close() {
	s.cancel()
	s.wg.Wait()
}

func (s *Supervisor) watch(p *Process) {
	ctx := s.ctx
	for {
		c, exited := p.current()
		select {
		case <-ctx.Done():
			return
		case <-exited:
		}
		if ctx.Err() != nil {
			return
		}
		s.cfg.OnEvent(ctx, Event{Kind: Exited, Process: p, Pid: c.Process.Pid, State: c.ProcessState})
		if s.cfg.RestartDelay <= 0 {
			return
		}
		t := time.NewTimer(s.cfg.RestartDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if err := p.Restart(); err != nil {
			s.cfg.OnEvent(ctx, Event{Kind: RestartFailed, Process: p, Err: err})
			return
		}
		s.cfg.OnEvent(ctx, Event{Kind: Restarted, Process: p, Pid: p.Pid()})
	}
}
