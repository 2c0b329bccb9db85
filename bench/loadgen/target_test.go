package loadgen

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// memTarget decides scans from memory: a code is admitted once, then
// already_used; codes not starting with "T" are unknown. failEvery makes
// every n-th attempt fail (retryable), plainErrEvery every n-th return a
// plain error.
type memTarget struct {
	mu            sync.Mutex
	used          map[string]bool
	ids           map[string]int
	attempts      int
	failEvery     int
	plainErrEvery int
	conns, closed int
	gates         map[int]int
}

func (m *memTarget) Conn(gate int) (Conn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.conns++
	m.gates[gate]++
	return &memConn{m: m}, nil
}

type memConn struct{ m *memTarget }

func (c *memConn) Close() error {
	c.m.mu.Lock()
	c.m.closed++
	c.m.mu.Unlock()
	return nil
}

func (c *memConn) Do(_ context.Context, r *Request) error {
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	m.attempts++
	switch {
	case m.failEvery > 0 && m.attempts%m.failEvery == 0:
		return &AttemptError{Kind: "busy", Msg: "try again", Retry: true}
	case m.plainErrEvery > 0 && m.attempts%m.plainErrEvery == 0:
		return errors.New("broken")
	}
	for i, code := range r.Codes {
		m.ids[r.ScanID(i)]++
		switch {
		case !strings.HasPrefix(code, "T"):
			r.Results[i] = Result{Decision: Deny, Reason: "unknown"}
		case m.used[code]:
			r.Results[i] = Result{Decision: Deny, Reason: "already_used"}
		case i == 1:
			r.Results[i] = Result{Err: "lost"} // the second of a batch gets no decision
		default:
			m.used[code] = true
			r.Results[i] = Result{Decision: Admit}
		}
	}
	return nil
}

func newMem() *memTarget {
	return &memTarget{used: map[string]bool{}, ids: map[string]int{}, gates: map[int]int{}}
}

// Any Target gets the same engine: connections per gate, code order,
// decisions, retries with the same scan ids, errors by kind.
func TestRunnerDrivesAnyTarget(t *testing.T) {
	m := newMem()
	m.failEvery = 10
	cfg := DefaultConfig()
	cfg.Gates, cfg.ConnsPerGate, cfg.Retries, cfg.RetryDelay = 3, 2, 1, 0
	codes := append(testCodes(400), "X1")
	r, err := NewRunner(cfg, m, codes)
	if err != nil {
		t.Fatal(err)
	}
	if m.conns != 6 || len(m.gates) != 3 || m.gates[2] != 2 {
		t.Fatalf("%d conns for gates %v; want 2 for each of 3", m.conns, m.gates)
	}
	st, err := r.Step(context.Background(), 1000, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", st)
	// 300 scans: tickets 100 at a time, scanned twice; every 10th attempt
	// fails once and is retried with the same scan id.
	if st.Scans != 300 || st.Decided != 300 || st.Failed != 0 || st.Tickets != 200 || st.Admits != 200 || st.DenyReasons["already_used"] != 100 {
		t.Fatalf("stats %+v", st)
	}
	if st.Retries == 0 || st.Errors != st.Retries || st.ErrorKinds["busy"] != st.Errors || st.ErrorSamples["busy"] != "try again" {
		t.Fatalf("retries %d, errors %d %v %v", st.Retries, st.Errors, st.ErrorKinds, st.ErrorSamples)
	}
	for id, n := range m.ids {
		if n != 1 {
			t.Fatalf("scan id %s decided %d times", id, n)
		}
	}
	if r.NextSkip() != 200 || r.Wrapped() {
		t.Fatalf("next skip %d, wrapped %v", r.NextSkip(), r.Wrapped())
	}
	if _, err := r.Step(context.Background(), 0, time.Second); err == nil {
		t.Fatal("a step at 0 scans/s: no error")
	}

	// Batches: the undecided second scan of each batch is a failed scan,
	// counted by kind; a plain error is kind "error" and not retried.
	m.failEvery, m.plainErrEvery = 0, 7
	if err := r.Close(); err != nil || m.closed != 6 {
		t.Fatalf("close: %v, %d of 6 closed", err, m.closed)
	}
	cfg.Batch, cfg.Skip = 2, 200
	r, err = NewRunner(cfg, m, codes)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	st, _ = r.Step(context.Background(), 1000, 100*time.Millisecond)
	t.Logf("%+v", st)
	plain := st.ErrorKinds["error"]
	if st.Scans != 100 || plain == 0 || st.ErrorKinds["scan_lost"] != (100-plain)/2 || st.Failed != plain+st.ErrorKinds["scan_lost"] || st.Retries != 0 {
		t.Fatalf("stats %+v", st)
	}
	if !strings.HasPrefix(st.ErrorSamples["scan_lost"], "no decision for scan g") {
		t.Fatalf("samples %v", st.ErrorSamples)
	}
}
