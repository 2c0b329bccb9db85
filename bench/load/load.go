// Package load makes synthetic tickets with real signed codes and issues
// them into a cluster in batches, for tests, demos and benchmarks.
package load

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// Options describe the tickets to make.
type Options struct {
	Count      int
	BatchSize  int // tickets per request
	Workers    int // requests in flight
	Product    string
	Kind       ticket.Kind
	Entries    uint16
	Zones      []string
	ValidFrom  time.Time // whole minutes; zero: open
	ValidUntil time.Time
	KeyID      uint8
	Key        ed25519.PrivateKey // nil: a fresh key
}

// DefaultOptions: n single-entry day tickets valid from an hour ago for a day.
func DefaultOptions(n int) Options {
	now := time.Now().Truncate(time.Minute)
	return Options{
		Count: n, BatchSize: 1000, Workers: 4, Product: "day-adult", Kind: ticket.Single,
		ValidFrom: now.Add(-time.Hour), ValidUntil: now.Add(24 * time.Hour),
	}
}

// Validate reports the first problem with o.
func (o Options) Validate() error {
	switch {
	case o.Count < 1:
		return errors.New("count must be at least 1")
	case o.BatchSize < 1 || o.BatchSize > 5000:
		return errors.New("batch size must be 1-5000")
	case o.Workers < 1 || o.Workers > 64:
		return errors.New("workers must be 1-64")
	case !ticket.ValidName(o.Product):
		return errors.New("product name must be 1-64 bytes")
	case (o.Kind == ticket.Multi || o.Kind == ticket.Group) && o.Entries == 0:
		return fmt.Errorf("%s tickets need entries", o.Kind)
	}
	return nil
}

// Progress is called after each acknowledged batch with the running total.
type Progress func(done int)

// Result of a load.
type Result struct {
	Issued   int
	Stale    int
	Duration time.Duration
}

// Run makes o.Count tickets, issues them through client, and writes each
// code on its own line to codes (in no particular order). It stops at the
// first failed batch.
func Run(ctx context.Context, client *gateapi.Client, o Options, codes io.Writer, progress Progress) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	key := o.Key
	if key == nil {
		var err error
		if _, key, err = ed25519.GenerateKey(rand.Reader); err != nil {
			return Result{}, err
		}
	}
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan int)
	var wmu sync.Mutex
	w := bufio.NewWriterSize(codes, 1<<20)
	var issued, stale atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	for i := 0; i < o.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range batches {
				req, lines, err := makeBatch(o, key, n)
				var out gateapi.IssueResponse
				if err == nil {
					out, err = client.Issue(ctx, req.Tickets)
				}
				if err == nil && out.Refused > 0 {
					err = refusedError(out)
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				wmu.Lock()
				for _, l := range lines {
					w.WriteString(l)
					w.WriteByte('\n')
				}
				wmu.Unlock()
				issued.Add(int64(out.Applied))
				stale.Add(int64(out.Stale))
				if progress != nil {
					progress(int(issued.Load() + stale.Load()))
				}
			}
		}()
	}
feed:
	for left := o.Count; left > 0; left -= o.BatchSize {
		select {
		case batches <- min(left, o.BatchSize):
		case <-ctx.Done():
			break feed
		}
	}
	close(batches)
	wg.Wait()
	if err := w.Flush(); err != nil && firstErr == nil {
		firstErr = err
	}
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return Result{Issued: int(issued.Load()), Stale: int(stale.Load()), Duration: time.Since(start)}, firstErr
}

// ErrRefused: the cluster refused tickets (it holds the park's signing
// keys, and synthetic tickets are signed with a key of their own).
var ErrRefused = errors.New("the cluster refused the tickets")

func refusedError(out gateapi.IssueResponse) error {
	first := ""
	for _, o := range out.Outcomes {
		if gateapi.IssueRefused(o) {
			first = o
			break
		}
	}
	return fmt.Errorf("%w: %d of %d refused (%s): a cluster that knows the park's signing keys admits only codes sales signed; "+
		"load synthetic tickets into a cluster without keys (admit dev --sales=false, admit drill, admit bench)",
		ErrRefused, out.Refused, len(out.Outcomes), first)
}

func makeBatch(o Options, key ed25519.PrivateKey, n int) (gateapi.IssueRequest, []string, error) {
	req := gateapi.IssueRequest{Tickets: make([]gateapi.TicketJSON, n)}
	lines := make([]string, n)
	for i := range n {
		var id [16]byte
		rand.Read(id[:])
		c, err := code.Sign(key, code.Claims{
			KeyID: o.KeyID, TicketID: id, Version: 1, Kind: uint8(o.Kind), Entries: o.Entries,
			ValidFrom: o.ValidFrom, ValidUntil: o.ValidUntil,
		})
		if err != nil {
			return req, nil, err
		}
		req.Tickets[i] = gateapi.TicketJSON{
			ID: ticket.FormatID(id), Version: 1, Product: o.Product, Kind: o.Kind.String(), Entries: o.Entries,
			Zones: o.Zones, ValidFrom: o.ValidFrom, ValidUntil: o.ValidUntil, Code: c,
		}
		lines[i] = c
	}
	return req, lines, nil
}
