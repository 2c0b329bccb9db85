package linearize

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func admit(rescan bool) Output { return Output{Result: "admit", Rescan: rescan} }
func used(rescan bool) Output  { return Output{Result: "deny", Reason: "already_used", Rescan: rescan} }

func TestCorrectHistoryPasses(t *testing.T) {
	h := []Operation{
		// t1: two gates race; one admits, the other is denied.
		{Client: 0, Call: 0, Return: 10, Input: Input{"t1", "g0:1"}, Output: admit(false)},
		{Client: 1, Call: 2, Return: 12, Input: Input{"t1", "g1:1"}, Output: used(false)},
		// the denied gate retries its scan_id: the original decision.
		{Client: 1, Call: 20, Return: 25, Input: Input{"t1", "g1:1"}, Output: used(true)},
		// t2: an attempt timed out (took effect); the retry is a rescan.
		{Client: 2, Call: 0, Input: Input{"t2", "g2:1"}, Output: Output{Unknown: true}},
		{Client: 2, Call: 30, Return: 40, Input: Input{"t2", "g2:1"}, Output: admit(true)},
		// t3: an attempt timed out (did not take effect); the retry decides.
		{Client: 3, Call: 0, Input: Input{"t3", "g3:1"}, Output: Output{Unknown: true}},
		{Client: 3, Call: 30, Return: 40, Input: Input{"t3", "g3:1"}, Output: admit(false)},
		// t4: unknown outcome and then another gate admits: it did not apply.
		{Client: 4, Call: 0, Input: Input{"t4", "g4:1"}, Output: Output{Unknown: true}},
		{Client: 5, Call: 50, Return: 60, Input: Input{"t4", "g5:1"}, Output: admit(false)},
	}
	ok, res := Check(h, 10*time.Second, filepath.Join(t.TempDir(), "x.html"))
	if !ok {
		t.Fatalf("correct history rejected: %+v", res)
	}
	if res.Pending != 3 || res.Tickets != 4 {
		t.Fatalf("result %+v", res)
	}
	if n, _ := DoubleEntries(h); n != 0 {
		t.Fatalf("%d double entries", n)
	}
}

func TestDoubleAdmitFails(t *testing.T) {
	h := []Operation{
		{Client: 0, Call: 0, Return: 10, Input: Input{"t1", "g0:1"}, Output: admit(false)},
		{Client: 1, Call: 20, Return: 30, Input: Input{"t1", "g1:1"}, Output: admit(false)},
		{Client: 2, Call: 0, Return: 10, Input: Input{"t2", "g2:1"}, Output: admit(false)},
	}
	html := filepath.Join(t.TempDir(), "fail.html")
	ok, res := Check(h, 10*time.Second, html)
	if ok || res.Outcome != "Illegal" {
		t.Fatalf("two admits of one ticket passed: %+v", res)
	}
	b, err := os.ReadFile(html)
	if err != nil || res.HTMLPath != html {
		t.Fatalf("no visualization: %v %+v", err, res)
	}
	if !strings.Contains(string(b), "<html") {
		t.Fatalf("visualization is not HTML: %.200s", b)
	}
	if n, ex := DoubleEntries(h); n != 1 || len(ex) != 1 {
		t.Fatalf("double entries %d %v", n, ex)
	}
}

// A wrong rescan flag, or a repeated scan_id that changes its decision,
// is not linearizable either.
func TestRescanMustKeepDecision(t *testing.T) {
	h := []Operation{
		{Client: 0, Call: 0, Return: 10, Input: Input{"t1", "g0:1"}, Output: admit(false)},
		{Client: 1, Call: 20, Return: 30, Input: Input{"t1", "g1:1"}, Output: used(false)},
		{Client: 1, Call: 40, Return: 50, Input: Input{"t1", "g1:1"}, Output: admit(true)},
	}
	if ok, res := Check(h, 10*time.Second, ""); ok {
		t.Fatalf("changed decision passed: %+v", res)
	}
}

func TestRecorderConcurrent(t *testing.T) {
	r := NewRecorder()
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				call := r.Now()
				in := Input{Ticket: "t" + string(rune('a'+c)) + string(rune('a'+i%26)), ScanID: "x"}
				if i%2 == 0 {
					r.Record(c, call, r.Now(), in, Output{Result: "admit"})
				} else {
					r.RecordUnknown(c, call, in)
				}
			}
		}()
	}
	wg.Wait()
	if r.Len() != 800 {
		t.Fatalf("%d ops", r.Len())
	}
}
