package agent

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// The store is a decision log (decisionlog.go: the offline decisions not
// yet uploaded, one fdatasync per group of decisions before the gates
// open) and one bbolt file (agent.db) in the data dir for the rest, every
// commit fsynced (bbolt's default). Buckets:
//
//	backlog  seq (8 bytes, big endian) -> Record   read once at open (agents before the log): moved to the log
//	scans    scan id                   -> Record   uploaded offline scans (no code), until the changefeed shows them
//	usage    ticket id (16)            -> use      the gate zone's usage as the changefeed showed it
//	deny     ticket id (16)            -> reason   tickets the cluster called revoked or suspended
//	forgotten seq (8, big endian)      -> ""       decisions not uploaded yet that the changefeed showed (a late live scan)
//	deny-until ticket id (16)          -> unix ms  end of validity of a ticket on the deny list from the revocation list (Prune)
//	meta     "cursor", "keys", "uploaded",         changefeed position; cached keys, time zone and gate; last uploaded seq;
//	         "revocations"                         revocation list position
//
// A decision not yet uploaded lives in the log and, for look-ups by scan
// id, in memory (rebuilt from the log at open). An upload batch moves its
// decisions into the scans bucket and the uploaded cursor in one bbolt
// transaction; a log segment whose decisions are all uploaded is deleted.
// A crash between the cluster's answer and that transaction uploads the
// batch again: the cluster answers a repeated scan id as a rescan.
var (
	bBacklog = []byte("backlog")
	bScans   = []byte("scans")
	bUsage   = []byte("usage")
	bDeny    = []byte("deny")
	bMeta    = []byte("meta")
	bForgot  = []byte("forgotten")
	bDenyEnd = []byte("deny-until")

	kCursor   = []byte("cursor")
	kRevoked  = []byte("revocations") // GET /v1/revocations position
	kKeys     = []byte("keys")
	kUploaded = []byte("uploaded")
)

// Store is the agent's durable state.
type Store struct {
	db      *bolt.DB
	backlog atomic.Int64 // decisions not uploaded

	mu        sync.Mutex // the log and what is in memory of it
	log       *decisionLog
	queue     []queued          // not uploaded, in sequence order
	unup      map[string]uint64 // scan id -> sequence, not uploaded (the record is read from the log)
	forgotten map[uint64]bool   // not uploaded, and the changefeed showed it already: no scan-id entry after upload
	uploaded  uint64            // last uploaded sequence
	lastSeq   uint64
	dropped   int // log segments in which a torn tail was dropped at open
}

// queued is where a decision not yet uploaded is in the log: the
// backlog is kept in memory as little more than that (32 bytes, plus its
// scan id in unup), the records stay on disk.
type queued struct {
	seq uint64
	seg *segment
	off int64
	n   int
}

// OpenStore opens (or creates) the store in dir.
func OpenStore(dir string) (*Store, error) { return openStore(dir, defaultSeg) }

func openStore(dir string, segSize int64) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// NoFreelistSync: a commit writes the changed pages and the meta page,
	// not the free list (rebuilt at open).
	db, err := bolt.Open(filepath.Join(dir, "agent.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second, NoFreelistSync: true,
		FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("agent store: %w (is another agent running on this data dir?)", err)
	}
	s := &Store{db: db, unup: map[string]uint64{}, forgotten: map[uint64]bool{}}
	if err := s.open(filepath.Join(dir, logDirName), segSize); err != nil {
		db.Close()
		if s.log != nil {
			s.log.close()
		}
		return nil, err
	}
	return s, nil
}

func (s *Store) open(logDir string, segSize int64) error {
	var old []*Record
	var blSeq uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bBacklog, bScans, bUsage, bDeny, bMeta, bForgot, bDenyEnd} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if v := tx.Bucket(bMeta).Get(kUploaded); len(v) == 8 {
			s.uploaded = binary.BigEndian.Uint64(v)
		}
		if err := tx.Bucket(bForgot).ForEach(func(k, _ []byte) error {
			if len(k) == 8 && binary.BigEndian.Uint64(k) > s.uploaded {
				s.forgotten[binary.BigEndian.Uint64(k)] = true
			}
			return nil
		}); err != nil {
			return err
		}
		bl := tx.Bucket(bBacklog)
		blSeq = bl.Sequence()
		return bl.ForEach(func(k, v []byte) error {
			r, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("backlog %x: %w", k, err)
			}
			old = append(old, &r)
			return nil
		})
	})
	if err != nil {
		return err
	}
	l, frames, segOf, dropped, err := openLog(logDir, segSize)
	if err != nil {
		return err
	}
	s.log, s.dropped = l, dropped
	inLog := s.uploaded
	for i, f := range frames {
		if f.rec.Seq <= inLog {
			continue // uploaded, or a second copy
		}
		inLog = f.rec.Seq
		s.enqueue(&f.rec, segOf[i], f.off, f.n)
	}
	s.lastSeq = inLog
	// An agent from before the log: its backlog moves into the log once.
	var move []*Record
	for _, r := range old {
		if r.Seq > inLog {
			move = append(move, r)
		}
	}
	if len(move) > 0 {
		if err := s.commit(move); err != nil {
			return err
		}
	}
	s.lastSeq = max(s.lastSeq, blSeq)
	if len(old) > 0 {
		return s.db.Update(func(tx *bolt.Tx) error {
			seq := tx.Bucket(bBacklog).Sequence()
			if err := tx.DeleteBucket(bBacklog); err != nil {
				return err
			}
			b, err := tx.CreateBucket(bBacklog)
			if err != nil {
				return err
			}
			return b.SetSequence(seq)
		})
	}
	return nil
}

// Dropped says in how many log segments a torn or corrupt tail was dropped
// at open (decisions that were never answered).
func (s *Store) Dropped() int { return s.dropped }

func (s *Store) enqueue(r *Record, seg *segment, off int64, n int) {
	s.queue = append(s.queue, queued{seq: r.Seq, seg: seg, off: off, n: n})
	s.unup[r.ScanID] = r.Seq
	s.backlog.Add(1)
}

// Close closes the files.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.log.close(), s.db.Close())
}

// LastSeq returns the highest sequence ever given.
func (s *Store) LastSeq() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastSeq, nil
}

// Commit writes offline decisions to the log, in sequence order, and
// fdatasyncs once: when it returns nil they survive a power loss.
func (s *Store) Commit(recs []*Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commit(recs)
}

func (s *Store) commit(recs []*Record) error {
	slices.SortFunc(recs, func(a, b *Record) int { return cmpU64(a.Seq, b.Seq) })
	for _, r := range recs {
		if r.Seq <= s.lastSeq {
			return fmt.Errorf("agent store: decision %d committed after %d", r.Seq, s.lastSeq)
		}
	}
	at, err := s.log.append(recs)
	if err != nil {
		return err
	}
	for i, r := range recs {
		s.enqueue(r, at[i].seg, at[i].off, at[i].n)
		s.lastSeq = r.Seq
	}
	return nil
}

// Prepare makes the next log segment ahead of need, when the current one
// is half full: call it after answering, not before.
//
// Only the committer writes the log (Commit, Prepare), so the spare is
// made without holding mu: look-ups and the uploader go on meanwhile.
func (s *Store) Prepare() error {
	s.mu.Lock()
	l := s.log
	due := l.broken == nil && l.f != nil && l.off >= l.segSize/2
	s.mu.Unlock()
	if !due {
		return nil
	}
	return l.prepare()
}

// Pending returns up to n backlog records in order.
func (s *Store) Pending(n int) ([]Record, error) {
	s.mu.Lock()
	q := slices.Clone(s.queue[:min(n, len(s.queue))])
	s.mu.Unlock()
	return readQueued(q)
}

// readQueued reads the records of queue entries (in log order, not
// necessarily adjacent) from the log; the entries of one segment with one
// ReadAt.
func readQueued(q []queued) (out []Record, err error) {
	for len(q) > 0 {
		j := 1
		for j < len(q) && q[j].seg == q[0].seg {
			j++
		}
		base, last := q[0].off, q[j-1]
		frames, err := readFrames(q[0].seg, base, int(last.off-base)+last.n)
		if err != nil {
			return nil, err
		}
		k := 0
		for _, e := range q[:j] {
			for k < len(frames) && frames[k].off < e.off-base {
				k++
			}
			if k == len(frames) || frames[k].off != e.off-base || frames[k].rec.Seq != e.seq {
				return nil, fmt.Errorf("%w: log %s: decision %d is not where it was written (%d)", ErrCorrupt, e.seg.path, e.seq, e.off)
			}
			out = append(out, frames[k].rec)
		}
		q = q[j:]
	}
	return out, nil
}

// BacklogLen counts the scans waiting for upload (kept in memory).
func (s *Store) BacklogLen() (int, error) { return int(s.backlog.Load()), nil }

// Uploaded marks recs (the first of the backlog, in order) uploaded: the
// scan-id index gets them and the cursor moves, in one transaction; then
// fully uploaded log segments go.
func (s *Store) Uploaded(recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cursor := s.uploaded
	err := s.db.Update(func(tx *bolt.Tx) error {
		sc := tx.Bucket(bScans)
		for i := range recs {
			r := recs[i]
			cursor = max(cursor, r.Seq)
			if s.forgotten[r.Seq] {
				continue
			}
			r.Code, r.Uploaded = "", true
			if err := sc.Put([]byte(r.ScanID), appendRecord(nil, &r)); err != nil {
				return err
			}
		}
		fb := tx.Bucket(bForgot)
		for i := range recs {
			if s.forgotten[recs[i].Seq] {
				if err := fb.Delete(binary.BigEndian.AppendUint64(nil, recs[i].Seq)); err != nil {
					return err
				}
			}
		}
		return tx.Bucket(bMeta).Put(kUploaded, binary.BigEndian.AppendUint64(nil, cursor))
	})
	if err != nil {
		return err
	}
	s.uploaded = cursor
	n := 0
	for n < len(s.queue) && s.queue[n].seq <= cursor {
		delete(s.forgotten, s.queue[n].seq)
		n++
	}
	for i := range recs {
		if s.unup[recs[i].ScanID] == recs[i].Seq {
			delete(s.unup, recs[i].ScanID)
		}
	}
	s.queue = s.queue[n:]
	s.backlog.Add(-int64(n))
	return s.log.drop(cursor)
}

// Scan returns the record of a scan id decided offline.
func (s *Store) Scan(scanID string) (r Record, found bool, err error) {
	s.mu.Lock()
	var q []queued
	if seq, ok := s.unup[scanID]; ok {
		if i, found := slices.BinarySearchFunc(s.queue, seq, func(q queued, seq uint64) int { return cmpU64(q.seq, seq) }); found {
			q = []queued{s.queue[i]}
		}
	}
	s.mu.Unlock()
	if q != nil {
		recs, err := readQueued(q)
		if err != nil {
			return Record{}, false, err
		}
		recs[0].Code = ""
		return recs[0], true, nil
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bScans).Get([]byte(scanID))
		if v == nil {
			return nil
		}
		found = true
		r, err = decodeRecord(v)
		return err
	})
	return r, found, err
}

// Scans calls fn for every remembered offline scan: those not uploaded
// yet (the changefeed has not shown them), then the uploaded ones.
func (s *Store) Scans(fn func(Record) error) error {
	s.mu.Lock()
	var q []queued
	for _, e := range s.queue {
		if !s.forgotten[e.seq] {
			q = append(q, e)
		}
	}
	s.mu.Unlock()
	for len(q) > 0 { // in pieces: the backlog may be large
		n := min(len(q), 4096)
		recs, err := readQueued(q[:n])
		if err != nil {
			return err
		}
		for _, r := range recs {
			r.Code = ""
			if err := fn(r); err != nil {
				return err
			}
		}
		q = q[n:]
	}
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bScans).ForEach(func(k, v []byte) error {
			r, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("scan %q: %w", k, err)
			}
			if !r.Uploaded {
				return nil // an index entry from before the log: the log has it
			}
			return fn(r)
		})
	})
}

// Use returns the zone usage the changefeed showed for a ticket, and
// whether the ticket is on the deny list (with the reason).
func (s *Store) Use(id [16]byte, zone string) (u ticket.ZoneUse, found bool, denied string, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bDeny).Get(id[:]); v != nil {
			denied = string(v)
		}
		v := tx.Bucket(bUsage).Get(id[:])
		if v == nil {
			return nil
		}
		found = true
		u, err = decodeUse(v, zone)
		return err
	})
	return u, found, denied, err
}

// FeedBatch is what one page of the changefeed changes.
type FeedBatch struct {
	Uses   map[[16]byte]ticket.ZoneUse // new usage per ticket
	Seen   []string                    // offline scan ids the feed now shows: forgotten
	Cursor string
	Reset  bool // drop all usage first (the feed was read again from its start)
}

// ApplyFeed writes one page's usage, forgets the scan ids it showed and
// moves the cursor, in one transaction.
func (s *Store) ApplyFeed(b FeedBatch) error {
	s.mu.Lock()
	var forgot []uint64
	for _, id := range b.Seen {
		if seq, ok := s.unup[id]; ok && !s.forgotten[seq] {
			forgot = append(forgot, seq)
		}
	}
	s.mu.Unlock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		fb := tx.Bucket(bForgot)
		for _, seq := range forgot {
			if err := fb.Put(binary.BigEndian.AppendUint64(nil, seq), nil); err != nil {
				return err
			}
		}
		if b.Reset {
			if err := tx.DeleteBucket(bUsage); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(bUsage); err != nil {
				return err
			}
		}
		us, sc := tx.Bucket(bUsage), tx.Bucket(bScans)
		for id, u := range b.Uses {
			if err := us.Put(append([]byte(nil), id[:]...), appendUse(nil, &u)); err != nil {
				return err
			}
		}
		for _, id := range b.Seen {
			if err := sc.Delete([]byte(id)); err != nil {
				return err
			}
		}
		return tx.Bucket(bMeta).Put(kCursor, []byte(b.Cursor))
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	for _, seq := range forgot {
		s.forgotten[seq] = true
	}
	s.mu.Unlock()
	return nil
}

// Cursor returns the changefeed position ("" for the start).
func (s *Store) Cursor() (c string, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		c = string(tx.Bucket(bMeta).Get(kCursor))
		return nil
	})
	return c, err
}

// RevocationCursor returns the revocation list position ("" for the start).
func (s *Store) RevocationCursor() (c string, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		c = string(tx.Bucket(bMeta).Get(kRevoked))
		return nil
	})
	return c, err
}

// Revoked is a ticket on the cluster's revocation list.
type Revoked struct {
	ID         [16]byte
	ValidUntil int64 // unix ms; 0: open (kept on the deny list for good)
}

// ApplyRevocations puts revoked tickets on the deny list and moves the
// revocation list position, in one transaction.
func (s *Store) ApplyRevocations(revs []Revoked, cursor string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		d, end := tx.Bucket(bDeny), tx.Bucket(bDenyEnd)
		for _, r := range revs {
			k := append([]byte(nil), r.ID[:]...)
			if err := d.Put(k, []byte(gateapi.ReasonRevoked)); err != nil {
				return err
			}
			if r.ValidUntil != 0 {
				if err := end.Put(k, binary.BigEndian.AppendUint64(nil, uint64(r.ValidUntil))); err != nil {
					return err
				}
			}
		}
		return tx.Bucket(bMeta).Put(kRevoked, []byte(cursor))
	})
}

// AddDeny puts a ticket on the deny list.
func (s *Store) AddDeny(id [16]byte, reason string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bDeny).Put(id[:], []byte(reason)) })
}

// SaveKeys caches what GET /v1/keys answered.
func (s *Store) SaveKeys(k gateapi.KeysResponse) error {
	b, err := json.Marshal(k)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Put(kKeys, b) })
}

// LoadKeys returns the cached keys; found is false before the first fetch.
func (s *Store) LoadKeys() (k gateapi.KeysResponse, found bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bMeta).Get(kKeys)
		if v == nil {
			return nil
		}
		found = true
		if err := json.Unmarshal(v, &k); err != nil {
			return fmt.Errorf("%w: cached keys: %v", ErrCorrupt, err)
		}
		return nil
	})
	return k, found, err
}

// Prune forgets uploaded scan ids decided before t that the changefeed
// never showed (a rescan, or a feed read from a later start), and revoked
// tickets whose validity ended before t (their codes are refused as
// expired).
func (s *Store) Prune(t time.Time) (n int, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		d, end := tx.Bucket(bDeny), tx.Bucket(bDenyEnd)
		var gone [][]byte
		if err := end.ForEach(func(k, v []byte) error {
			if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) < t.UnixMilli() {
				gone = append(gone, append([]byte(nil), k...))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range gone {
			if err := d.Delete(k); err != nil {
				return err
			}
			if err := end.Delete(k); err != nil {
				return err
			}
		}
		sc := tx.Bucket(bScans)
		var drop [][]byte
		err := sc.ForEach(func(k, v []byte) error {
			r, err := decodeRecord(v)
			if err != nil || (r.Uploaded && r.DeviceTime < t.UnixMilli()) {
				drop = append(drop, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range drop {
			if err := sc.Delete(k); err != nil {
				return err
			}
		}
		n = len(drop)
		return nil
	})
	return n, err
}

var errStopped = errors.New("agent: stopped")

var errNoProgress = errors.New("agent: the cluster decided none of the uploaded scans")
