package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/admitpark/admit/validator/gateapi"
)

func testRec(seq uint64) *Record {
	return &Record{Seq: seq, ScanID: fmt.Sprintf("s:%d", seq), Code: strings.Repeat("C", 100+int(seq%50)), Direction: "in",
		Persons: 1, DeviceTime: 1764633600000 + int64(seq), Admit: seq%3 != 0, TicketID: [16]byte{byte(seq), byte(seq >> 8)},
		Used: 1, Allowed: 1}
}

func commitN(t *testing.T, st *Store, from, to uint64, per int) {
	t.Helper()
	for seq := from; seq <= to; {
		var recs []*Record
		for i := 0; i < per && seq <= to; i++ {
			recs = append(recs, testRec(seq))
			seq++
		}
		if err := st.Commit(recs); err != nil {
			t.Fatal(err)
		}
	}
}

// pendingSeqs checks the whole backlog is first..last in order, each
// record as written.
func checkBacklog(t *testing.T, st *Store, first, last uint64) {
	t.Helper()
	got, err := st.Pending(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(got)) != last-first+1 {
		t.Fatalf("backlog holds %d decisions, want %d..%d", len(got), first, last)
	}
	for i, r := range got {
		if w := testRec(first + uint64(i)); r != *w {
			t.Fatalf("backlog[%d] = %+v, want %+v", i, r, *w)
		}
		if ix, found, err := st.Scan(r.ScanID); err != nil || !found || ix.Seq != r.Seq || ix.Code != "" {
			t.Fatalf("scan-id look-up of %s: %+v %v %v", r.ScanID, ix, found, err)
		}
	}
	if n, _ := st.BacklogLen(); n != len(got) {
		t.Fatalf("backlog length %d, %d pending", n, len(got))
	}
}

func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, logDirName, "*"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

// TestLogTornTailDropped: a torn frame at the end of the log (a crash in
// the middle of a write, before the decision was answered) and a frame
// whose bytes changed are dropped at open; every decision before them is
// kept, and decisions written afterwards read back without the old bytes.
func TestLogTornTailDropped(t *testing.T) {
	for _, c := range []struct {
		name string
		harm func(b []byte, at int) []byte // at: where the last frame starts
	}{
		{"torn write", func(b []byte, at int) []byte {
			n := len(appendFrame(nil, testRec(200)))
			for i := at + n/2; i < at+n; i++ {
				b[i] = 0 // only the first half reached the disk
			}
			return b
		}},
		{"bit flipped", func(b []byte, at int) []byte { b[at+frameHeader+10] ^= 0x20; return b }},
		{"length torn", func(b []byte, at int) []byte { b[at+2] = 0x7f; return b }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			st, err := openStore(dir, minSegment)
			if err != nil {
				t.Fatal(err)
			}
			commitN(t, st, 1, 199, 7) // several segments of 16 KiB
			commitN(t, st, 200, 200, 1)
			q := st.queue[len(st.queue)-1]
			at, last := q.off, q.seg.path
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			if len(segFiles(t, dir)) < 3 {
				t.Fatalf("segments %v: want the test to span several", segFiles(t, dir))
			}
			b, err := os.ReadFile(last)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(last, c.harm(b, int(at)), 0o600); err != nil {
				t.Fatal(err)
			}

			st, err = openStore(dir, minSegment)
			if err != nil {
				t.Fatal(err)
			}
			if st.Dropped() != 1 {
				t.Fatalf("dropped %d segments' tails, want 1", st.Dropped())
			}
			checkBacklog(t, st, 1, 199)
			if seq, _ := st.LastSeq(); seq != 199 {
				t.Fatalf("last seq %d after the torn decision was dropped, want 199", seq)
			}
			// The next decisions take the torn one's place, shorter ones
			// first: nothing of the old bytes may follow them.
			short := &Record{Seq: 200, ScanID: "s:200"}
			if err := st.Commit([]*Record{short}); err != nil {
				t.Fatal(err)
			}
			st.Close()
			st, err = openStore(dir, minSegment)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if st.Dropped() != 0 {
				t.Fatalf("dropped %d segments' tails at the second open, want 0", st.Dropped())
			}
			got, err := st.Pending(1000)
			if err != nil || len(got) != 200 || got[199] != *short {
				t.Fatalf("after rewriting the tail: %d pending (%v), last %+v", len(got), err, got[len(got)-1])
			}
		})
	}
}

// TestUploadedDropsSegments: uploaded decisions leave the backlog, land in
// the scan-id index, and their log segments are deleted; a reopen keeps
// exactly the rest.
func TestUploadedDropsSegments(t *testing.T) {
	dir := t.TempDir()
	st, err := openStore(dir, minSegment)
	if err != nil {
		t.Fatal(err)
	}
	commitN(t, st, 1, 300, 13)
	before := len(segFiles(t, dir))
	up, err := st.Pending(250)
	if err != nil || len(up) != 250 {
		t.Fatalf("pending: %d, %v", len(up), err)
	}
	if err := st.Uploaded(up); err != nil {
		t.Fatal(err)
	}
	if after := len(segFiles(t, dir)); after >= before || after == 0 {
		t.Fatalf("segments %d before the upload, %d after; want fewer, not none", before, after)
	}
	for _, seq := range []uint64{1, 250} {
		r, found, err := st.Scan(fmt.Sprintf("s:%d", seq))
		if err != nil || !found || !r.Uploaded || r.Code != "" || r.Seq != seq {
			t.Fatalf("uploaded scan %d: %+v %v %v", seq, r, found, err)
		}
	}
	checkBacklog(t, st, 251, 300)
	st.Close()
	st, err = openStore(dir, minSegment)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkBacklog(t, st, 251, 300)
	if seq, _ := st.LastSeq(); seq != 300 {
		t.Fatalf("last seq %d, want 300", seq)
	}
	up, _ = st.Pending(1000)
	if err := st.Uploaded(up); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.BacklogLen(); n != 0 || len(segFiles(t, dir)) != 1 {
		t.Fatalf("after uploading everything: backlog %d, segments %v; want 0 and the one written to", n, segFiles(t, dir))
	}
	commitN(t, st, 301, 301, 1)
	checkBacklog(t, st, 301, 301)
}

// FuzzScanFrames: any bytes read as a segment give a prefix of valid
// frames that encode back to exactly those bytes; never a panic.
func FuzzScanFrames(f *testing.F) {
	var seg []byte
	for seq := uint64(1); seq <= 3; seq++ {
		seg = appendFrame(seg, testRec(seq))
	}
	f.Add(seg)
	f.Add(append(seg[:len(seg)-5:len(seg)-5], 0, 0, 0))
	f.Add(append(append([]byte(nil), seg...), make([]byte, 64)...))
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, end, torn := scanFrames(b)
		if end < 0 || end > len(b) {
			t.Fatalf("end %d outside %d bytes", end, len(b))
		}
		var again []byte
		for i := range fr {
			if int(fr[i].off) != len(again) {
				t.Fatalf("frame %d at %d, want %d", i, fr[i].off, len(again))
			}
			again = appendFrame(again, &fr[i].rec)
		}
		// A record's varints may have other encodings than ours, so the
		// bytes need not match; the records must.
		fr2, end2, torn2 := scanFrames(again)
		if torn2 || end2 != len(again) || len(fr2) != len(fr) {
			t.Fatalf("re-encoded frames: %d of %d, end %d of %d, torn %v", len(fr2), len(fr), end2, len(again), torn2)
		}
		for i := range fr {
			if fr[i].rec != fr2[i].rec {
				t.Fatalf("frame %d: %+v re-reads as %+v", i, fr[i].rec, fr2[i].rec)
			}
		}
		if !torn && !bytes.Equal(b[end:], make([]byte, len(b)-end)) {
			t.Fatal("bytes after the frames are not zeros, and not reported torn")
		}
	})
}

// TestKilledAfterAnswer: a real agent process decides scans offline from
// four devices at once and prints each answer as it gets it; it is
// SIGKILLed in the middle. Every decision it answered is in its store.
func TestKilledAfterAnswer(t *testing.T) {
	if dir := os.Getenv("ADMIT_AGENT_KILL_CHILD"); dir != "" {
		killChild(t, dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledAfterAnswer$", "-test.count=1")
	cmd.Env = append(os.Environ(), "ADMIT_AGENT_KILL_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	answered := map[string]string{}
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		id, result, ok := strings.Cut(sc.Text(), " ")
		if !ok || !strings.HasPrefix(id, "k") {
			continue // the test framework's own lines
		}
		answered[id] = result
		if len(answered) == 300 && !killed {
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("the child stopped after %d answers:\n%s", len(answered), stderr.String())
	}

	st, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.Pending(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]Record{}
	for i, r := range recs {
		if r.Seq != uint64(i+1) {
			t.Fatalf("backlog[%d] has seq %d: want 1, 2, … without holes", i, r.Seq)
		}
		stored[r.ScanID] = r
	}
	for id, result := range answered {
		r, ok := stored[id]
		if !ok {
			t.Fatalf("scan %s was answered %s and is not in the store after SIGKILL (%d answered, %d stored)", id, result, len(answered), len(recs))
		}
		if r.Admit != (result == gateapi.ResultAdmit) {
			t.Fatalf("scan %s answered %s, stored admit=%v", id, result, r.Admit)
		}
	}
	t.Logf("%d decisions answered before SIGKILL, %d stored", len(answered), len(recs))
}

// killChild is the process TestKilledAfterAnswer kills: an agent with no
// cluster, four devices scanning, each answer printed once the agent gave it.
func killChild(t *testing.T, dir string) {
	a, codes := offlineAgentIn(t, dir)
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	ctx := context.Background()
	var wg sync.WaitGroup
	for d := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				req := gateapi.ScanRequest{Code: codes[(i*4+d)%len(codes)], Gate: "g1", ScanID: fmt.Sprintf("k%d:%d", d, i), DeviceTime: time.Now()}
				r, err := a.decideOffline(ctx, &req)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintf(w, "%s %s\n", req.ScanID, r.Result)
				w.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestForgottenBeforeUpload: a decision the changefeed showed before it
// was uploaded (a live scan given up on, applied late) is no longer
// counted as pending (Scans), across a restart, and gets no scan-id
// entry when it is uploaded; the others do. Look-ups by scan id read the
// log, without the code.
func TestForgottenBeforeUpload(t *testing.T) {
	dir := t.TempDir()
	st, err := openStore(dir, minSegment)
	if err != nil {
		t.Fatal(err)
	}
	commitN(t, st, 1, 120, 9)
	if err := st.ApplyFeed(FeedBatch{Seen: []string{"s:3", "s:100", "not-ours"}, Cursor: "c1"}); err != nil {
		t.Fatal(err)
	}
	scans := func() map[string]bool {
		t.Helper()
		m := map[string]bool{}
		if err := st.Scans(func(r Record) error {
			if r.Code != "" {
				t.Fatalf("Scans gave %s with its code", r.ScanID)
			}
			m[r.ScanID] = true
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	check := func(when string) {
		t.Helper()
		m := scans()
		if len(m) != 118 || m["s:3"] || m["s:100"] || !m["s:4"] {
			t.Fatalf("%s: Scans gives %d, s:3 %v s:100 %v s:4 %v; want 118 without the two the feed showed", when, len(m), m["s:3"], m["s:100"], m["s:4"])
		}
	}
	check("before the restart")
	st.Close()
	if st, err = openStore(dir, minSegment); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	check("after the restart")
	r, found, err := st.Scan("s:57")
	if w := testRec(57); err != nil || !found || r.Code != "" || r.ScanID != w.ScanID || r.TicketID != w.TicketID || r.Admit != w.Admit {
		t.Fatalf("Scan(s:57) = %+v %v %v", r, found, err)
	}
	up, err := st.Pending(10)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Uploaded(up); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := st.Scan("s:3"); found {
		t.Fatal("s:3, shown by the feed, has a scan-id entry after its upload")
	}
	if r, found, _ := st.Scan("s:4"); !found || !r.Uploaded {
		t.Fatalf("s:4 after its upload: %+v %v", r, found)
	}
}

// TestOldBacklogMovesToTheLog: an agent.db from before the log (the
// backlog in a bbolt bucket) has its backlog moved into the log once, in
// order, at the first start.
func TestOldBacklogMovesToTheLog(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, "agent.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(bBacklog)
		if err != nil {
			return err
		}
		for seq := uint64(3); seq <= 5; seq++ { // 1 and 2 were uploaded
			if err := b.Put(binary.BigEndian.AppendUint64(nil, seq), appendRecord(nil, testRec(seq))); err != nil {
				return err
			}
		}
		return b.SetSequence(5)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		st, err := OpenStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		checkBacklog(t, st, 3, 5)
		if seq, _ := st.LastSeq(); seq != 5 {
			t.Fatalf("last seq %d, want 5", seq)
		}
		st.Close()
	}
}

// TestPruneRevoked: a revoked ticket leaves the deny list once its
// validity ended before the prune cutoff (its code is refused as expired
// from then on); one without an end, or still valid, stays.
func TestPruneRevoked(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	ended, valid, open := [16]byte{1}, [16]byte{2}, [16]byte{3}
	if err := st.ApplyRevocations([]Revoked{{ID: ended, ValidUntil: now.Add(-time.Hour).UnixMilli()},
		{ID: valid, ValidUntil: now.Add(time.Hour).UnixMilli()}, {ID: open}}, "5.0"); err != nil {
		t.Fatal(err)
	}
	if c, _ := st.RevocationCursor(); c != "5.0" {
		t.Fatalf("cursor %q", c)
	}
	if _, err := st.Prune(now); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[[16]byte]string{ended: "", valid: gateapi.ReasonRevoked, open: gateapi.ReasonRevoked} {
		if _, _, denied, err := st.Use(id, "main"); err != nil || denied != want {
			t.Fatalf("ticket %x after prune: denied %q, %v; want %q", id[0], denied, err, want)
		}
	}
}

// TestSpareSegment: once a segment is half full a spare is made ahead of
// need, and the next segment is the spare renamed; decisions read back in
// order across segments made either way.
func TestSpareSegment(t *testing.T) {
	dir := t.TempDir()
	st, err := openStore(dir, minSegment)
	if err != nil {
		t.Fatal(err)
	}
	spare := filepath.Join(dir, logDirName, spareName)
	seq := uint64(0)
	for _, prepare := range []bool{false, true, true} {
		segs := len(segFiles(t, dir))
		for len(segFiles(t, dir)) == segs || st.log.off < st.log.segSize/2 {
			seq++
			commitN(t, st, seq, seq, 1)
			if prepare {
				if err := st.Prepare(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := os.Stat(spare); prepare && err != nil {
			t.Fatalf("no spare past half a segment: %v", err)
		}
	}
	st.Close()
	st, err = openStore(dir, minSegment)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkBacklog(t, st, 1, seq)
}
