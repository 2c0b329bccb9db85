package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The decision log holds the offline decisions not yet uploaded: the
// write that must reach the disk before a gate opens. bbolt needs two
// fsyncs per commit (data pages, then the meta page); the log needs one
// fdatasync per group of decisions:
//
//   - Segments (dir/log/<first seq, 16 hex digits>) are created at full
//     size and filled with zeros, written and fsynced once (not fallocate:
//     ext4 then marks the extents unwritten, and each later write that
//     converts them is a metadata change fdatasync must flush). A decision
//     overwrites zeros in place: no size change, no new blocks, so
//     fdatasync flushes data pages only.
//   - A frame is len (uint32 LE, of the payload) | crc (CRC32C of the
//     four length bytes and the payload, uint32 LE) | payload
//     (appendRecord). A zero length ends a segment's frames (the zeros
//     not yet written).
//   - A crash can tear only what was not fdatasynced yet, that is the
//     decisions not yet answered. At open the first frame that does not
//     check ends the segment; the rest of a torn last segment is zeroed so
//     that a later, shorter frame cannot be followed by stale bytes.
//
// Records go in sequence order (the agent hands them over in the order it
// numbered them). What has been uploaded is kept in bbolt (the cursor,
// committed with the scan-id index per upload batch); a segment whose
// records are all at or below the cursor is deleted.

const (
	frameHeader  = 8
	maxFrame     = 4096 // a record is under 1 KiB (code ≤ 512 bytes, scan id ≤ 256)
	defaultSeg   = 4 << 20
	minSegment   = 16 << 10
	logDirName   = "log"
	segNameWidth = 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendFrame appends r as one frame.
func appendFrame(dst []byte, r *Record) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeader)...)
	dst = appendRecord(dst, r)
	n := uint32(len(dst) - start - frameHeader)
	binary.LittleEndian.PutUint32(dst[start:], n)
	crc := crc32.Update(crc32.Checksum(dst[start:start+4], castagnoli), castagnoli, dst[start+frameHeader:])
	binary.LittleEndian.PutUint32(dst[start+4:], crc)
	return dst
}

// frame is one record found in a segment, with where its frame is.
type frame struct {
	rec Record
	off int64
	n   int // frame length with its header
}

// scanFrames reads the frames of a segment image from its start. end is
// where the valid frames end; torn is true when bytes that are not zeros
// follow (a torn or corrupt frame, dropped). It never panics (fuzzed).
func scanFrames(b []byte) (out []frame, end int, torn bool) {
	for end+frameHeader <= len(b) {
		n := binary.LittleEndian.Uint32(b[end:])
		if n == 0 {
			break
		}
		if n > maxFrame || uint64(end)+frameHeader+uint64(n) > uint64(len(b)) {
			return out, end, true
		}
		payload := b[end+frameHeader : end+frameHeader+int(n)]
		crc := crc32.Update(crc32.Checksum(b[end:end+4], castagnoli), castagnoli, payload)
		if crc != binary.LittleEndian.Uint32(b[end+4:]) {
			return out, end, true
		}
		r, err := decodeRecord(payload)
		if err != nil {
			return out, end, true
		}
		out = append(out, frame{rec: r, off: int64(end), n: frameHeader + int(n)})
		end += frameHeader + int(n)
	}
	for _, c := range b[end:] {
		if c != 0 {
			return out, end, true
		}
	}
	return out, end, false
}

// segment is one log file.
type segment struct {
	path  string
	first uint64 // the first sequence it may hold (its name)
	last  uint64 // the last sequence written to it; 0: none
}

// decisionLog is the append side and the segments; the Store locks it.
type decisionLog struct {
	dir     string
	segSize int64
	segs    []*segment // in order; the last one is written to
	f       *os.File   // the last segment, open for writing
	off     int64      // where the next frame goes in f
	broken  error      // a failed write or sync: nothing more is written
	buf     []byte
}

// openLog opens dir's segments and returns the records they hold in order
// (every segment's valid frames; a torn tail of the last segment is zeroed).
// dropped counts the segments in which frames were dropped.
func openLog(dir string, segSize int64) (l *decisionLog, recs []frame, segOf []*segment, dropped int, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, nil, 0, err
	}
	l = &decisionLog{dir: dir, segSize: segSize}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(dir, name)) // a segment never finished
			continue
		}
		first, err := strconv.ParseUint(name, 16, 64)
		if err != nil || len(name) != segNameWidth {
			continue
		}
		l.segs = append(l.segs, &segment{path: filepath.Join(dir, name), first: first})
	}
	slices.SortFunc(l.segs, func(a, b *segment) int { return cmpU64(a.first, b.first) })
	for i, s := range l.segs {
		b, err := os.ReadFile(s.path)
		if err != nil {
			return nil, nil, nil, 0, err
		}
		fr, end, torn := scanFrames(b)
		for _, f := range fr {
			recs = append(recs, f)
			segOf = append(segOf, s)
			s.last = max(s.last, f.rec.Seq)
		}
		if torn {
			dropped++
		}
		if i == len(l.segs)-1 {
			if l.f, err = os.OpenFile(s.path, os.O_RDWR, 0o600); err != nil {
				return nil, nil, nil, 0, err
			}
			l.off = int64(end)
			if torn {
				// Zero what follows the last good frame, once.
				if err := l.zero(int64(end), int64(len(b))); err != nil {
					l.f.Close()
					return nil, nil, nil, 0, err
				}
			}
		}
	}
	return l, recs, segOf, dropped, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// zero writes zeros over [from, to) of the open segment and syncs.
func (l *decisionLog) zero(from, to int64) error {
	z := make([]byte, 64<<10)
	for off := from; off < to; {
		n := min(int64(len(z)), to-off)
		if _, err := l.f.WriteAt(z[:n], off); err != nil {
			return err
		}
		off += n
	}
	return l.f.Sync()
}

// spareName is a zero-filled segment made ahead of need (prepare), so
// that the decision that fills a segment waits for a rename, not for 4 MiB
// of zeros.
const spareName = "spare"

// zeroFile writes a zero-filled file of segSize at path (via path.tmp,
// fsynced before the rename) and returns it open.
func (l *decisionLog) zeroFile(path string) (*os.File, error) {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	z := make([]byte, 256<<10)
	for off := int64(0); off < l.segSize; off += int64(len(z)) {
		if _, err := f.Write(z[:min(int64(len(z)), l.segSize-off)]); err != nil {
			f.Close()
			return nil, err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// prepare makes the spare segment unless there is one (Store.Prepare
// says when).
func (l *decisionLog) prepare() error {
	path := filepath.Join(l.dir, spareName)
	if st, err := os.Stat(path); err == nil && st.Size() == l.segSize {
		return nil
	}
	f, err := l.zeroFile(path)
	if err != nil {
		return err
	}
	return f.Close() // the rename is made durable with the next segment's
}

// newSegment makes the spare, or else a new zero-filled file, the segment
// for sequences from first on, and the one written to.
func (l *decisionLog) newSegment(first uint64) error {
	name := filepath.Join(l.dir, fmt.Sprintf("%0*x", segNameWidth, first))
	spare := filepath.Join(l.dir, spareName)
	var f *os.File
	if st, err := os.Stat(spare); err == nil && st.Size() == l.segSize {
		if err := os.Rename(spare, name); err != nil {
			return err
		}
		if f, err = os.OpenFile(name, os.O_RDWR, 0o600); err != nil {
			return err
		}
	} else {
		var err error
		if f, err = l.zeroFile(name); err != nil {
			return err
		}
	}
	if err := syncDir(l.dir); err != nil {
		f.Close()
		return err
	}
	if l.f != nil {
		l.f.Close()
	}
	l.f, l.off = f, 0
	l.segs = append(l.segs, &segment{path: name, first: first})
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// place is where a frame went.
type place struct {
	seg *segment
	off int64
	n   int
}

// append writes recs (in sequence order) and fdatasyncs: when it returns
// nil they survive a power loss. After a failure nothing more is written
// (what reached the disk is unknown; the agent must be restarted).
func (l *decisionLog) append(recs []*Record) ([]place, error) {
	if l.broken != nil {
		return nil, l.broken
	}
	at, err := l.appendSync(recs)
	if err != nil {
		l.broken = fmt.Errorf("agent: decision log failed earlier, restart the agent: %w", err)
		return nil, err
	}
	return at, nil
}

func (l *decisionLog) appendSync(recs []*Record) ([]place, error) {
	at := make([]place, 0, len(recs))
	l.buf = l.buf[:0]
	base := l.off // where buf goes
	flush := func() error {
		if len(l.buf) == 0 {
			return nil
		}
		if _, err := l.f.WriteAt(l.buf, base); err != nil {
			return err
		}
		l.off = base + int64(len(l.buf))
		l.buf = l.buf[:0]
		return fdatasync(l.f)
	}
	for _, r := range recs {
		before := len(l.buf)
		l.buf = appendFrame(l.buf, r)
		n := len(l.buf) - before
		if n > maxFrame+frameHeader {
			return nil, fmt.Errorf("agent: record of scan %q is larger than %d bytes", r.ScanID, maxFrame)
		}
		if l.f == nil || base+int64(len(l.buf)) > l.segSize {
			frame := append([]byte(nil), l.buf[before:]...)
			l.buf = l.buf[:before]
			if l.f != nil {
				if err := flush(); err != nil {
					return nil, err
				}
			}
			if err := l.newSegment(r.Seq); err != nil {
				return nil, err
			}
			base = 0
			l.buf = append(l.buf[:0], frame...)
			before = 0
		}
		s := l.segs[len(l.segs)-1]
		s.last = max(s.last, r.Seq)
		at = append(at, place{seg: s, off: base + int64(before), n: n})
	}
	return at, flush()
}

// readFrames reads the frames in [off, off+n) of a segment (their
// offsets relative to off).
func readFrames(s *segment, off int64, n int) ([]frame, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		return nil, err
	}
	fr, _, torn := scanFrames(b)
	if torn {
		return nil, fmt.Errorf("%w: log %s at %d", ErrCorrupt, s.path, off)
	}
	return fr, nil
}

// drop deletes the segments (not the one written to) whose records are
// all at or below seq.
func (l *decisionLog) drop(seq uint64) error {
	var errs []error
	for len(l.segs) > 1 && l.segs[0].last <= seq {
		if err := os.Remove(l.segs[0].path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			break
		}
		l.segs = l.segs[1:]
	}
	return errors.Join(errs...)
}

func (l *decisionLog) close() error {
	if l.f == nil {
		return nil
	}
	return l.f.Close()
}
