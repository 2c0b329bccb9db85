package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// ticketSet is the one set of tickets every system is loaded with and
// scanned from: single-entry day tickets with real signed codes, as
// bench/load issues them. The load generator scans Codes in order; admit
// looks a code up by the ticket id inside it, the baselines by ID (the same
// 128-bit id) through index.
type ticketSet struct {
	Codes []string
	IDs   [][16]byte
	index map[string]int32 // code -> position
	from  time.Time
	until time.Time
}

const product = "day-adult"

// makeTickets signs n codes with a fresh key, on every core.
func makeTickets(n int) (*ticketSet, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now().Truncate(time.Minute)
	ts := &ticketSet{Codes: make([]string, n), IDs: make([][16]byte, n), from: now.Add(-time.Hour), until: now.Add(24 * time.Hour)}
	workers := runtime.NumCPU()
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				if _, err := rand.Read(ts.IDs[i][:]); err != nil {
					errs[w] = err
					return
				}
				c, err := code.Sign(key, code.Claims{TicketID: ts.IDs[i], Version: 1, Kind: uint8(ticket.Single), ValidFrom: ts.from, ValidUntil: ts.until})
				if err != nil {
					errs[w] = err
					return
				}
				ts.Codes[i] = c
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	ts.index = make(map[string]int32, n)
	for i, c := range ts.Codes {
		ts.index[c] = int32(i)
	}
	return ts, nil
}

// id returns the ticket id of a code of the set.
func (ts *ticketSet) id(c string) ([16]byte, error) {
	i, ok := ts.index[c]
	if !ok {
		return [16]byte{}, fmt.Errorf("code %.12s… is not in the ticket set", c)
	}
	return ts.IDs[i], nil
}

// issueRequest is tickets [from, to) as the gate API issues them.
func (ts *ticketSet) issueRequest(from, to int) gateapi.IssueRequest {
	req := gateapi.IssueRequest{Tickets: make([]gateapi.TicketJSON, 0, to-from)}
	for i := from; i < to; i++ {
		req.Tickets = append(req.Tickets, gateapi.TicketJSON{
			ID: ticket.FormatID(ts.IDs[i]), Version: 1, Product: product, Kind: ticket.Single.String(),
			ValidFrom: ts.from, ValidUntil: ts.until, Code: ts.Codes[i],
		})
	}
	return req
}

func hexID(id [16]byte) string { return hex.EncodeToString(id[:]) }

// inBatches calls fn for [from, to) ranges of per items out of n, from
// workers goroutines at once (worker is the goroutine's number). The first
// error cancels the rest and is returned.
func inBatches(ctx context.Context, n, per, workers int, fn func(ctx context.Context, worker, from, to int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	starts := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for from := range starts {
				if err := fn(ctx, w, from, min(from+per, n)); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
feed:
	for from := 0; from < n; from += per {
		select {
		case starts <- from:
		case <-ctx.Done():
			break feed
		}
	}
	close(starts)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
