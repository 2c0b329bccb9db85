package agent

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// The store is one bbolt file (agent.db) in the data dir. Every commit is
// fsynced (bbolt's default), and an offline decision is committed before
// the gate is told to open. Buckets:
//
//	backlog  seq (8 bytes, big endian) -> Record   offline scans not yet uploaded, in decision order
//	scans    scan id                   -> Record   every scan decided offline (no code), until the changefeed shows it
//	usage    ticket id (16)            -> use      the gate zone's usage as the changefeed showed it
//	deny     ticket id (16)            -> reason   tickets the cluster called revoked or suspended
//	meta     "cursor", "keys"                      changefeed position; cached keys, time zone and gate
var (
	bBacklog = []byte("backlog")
	bScans   = []byte("scans")
	bUsage   = []byte("usage")
	bDeny    = []byte("deny")
	bMeta    = []byte("meta")

	kCursor = []byte("cursor")
	kKeys   = []byte("keys")
)

// Store is the agent's durable state.
type Store struct {
	db      *bolt.DB
	backlog atomic.Int64 // keys in the backlog bucket, counted once at open
}

// OpenStore opens (or creates) dir/agent.db.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// NoFreelistSync: a commit writes the changed pages and the meta page,
	// not the free list (rebuilt at open), so fewer bytes reach the disk
	// before the gate may open.
	db, err := bolt.Open(filepath.Join(dir, "agent.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second, NoFreelistSync: true,
		FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("agent store: %w (is another agent running on this data dir?)", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bBacklog, bScans, bUsage, bDeny, bMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{db: db}
	err = db.View(func(tx *bolt.Tx) error {
		s.backlog.Store(int64(tx.Bucket(bBacklog).Stats().KeyN))
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// LastSeq returns the highest sequence ever given (kept in the backlog
// bucket's sequence, which survives deletes).
func (s *Store) LastSeq() (seq uint64, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		seq = tx.Bucket(bBacklog).Sequence()
		return nil
	})
	return seq, err
}

// Commit writes offline decisions (backlog and scan-id index) in one
// fsynced transaction.
func (s *Store) Commit(recs []*Record) error {
	added := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		bl, sc := tx.Bucket(bBacklog), tx.Bucket(bScans)
		added = 0
		for _, r := range recs {
			if bl.Get(seqKey(r.Seq)) == nil {
				added++
			}
			// bbolt keeps the value slices until the commit: one each.
			if err := bl.Put(seqKey(r.Seq), appendRecord(nil, r)); err != nil {
				return err
			}
			ix := *r
			ix.Code = ""
			if err := sc.Put([]byte(r.ScanID), appendRecord(nil, &ix)); err != nil {
				return err
			}
			if r.Seq > bl.Sequence() {
				if err := bl.SetSequence(r.Seq); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		s.backlog.Add(int64(added))
	}
	return err
}

// Pending returns up to n backlog records in order, stopping at a gap (a
// later decision committed before an earlier one: the earlier one is on
// its way).
func (s *Store) Pending(n int) (out []Record, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bBacklog).Cursor()
		for k, v := c.First(); k != nil && len(out) < n; k, v = c.Next() {
			r, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("backlog %x: %w", k, err)
			}
			if len(out) > 0 && r.Seq != out[len(out)-1].Seq+1 {
				break
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// BacklogLen counts the scans waiting for upload (kept in memory).
func (s *Store) BacklogLen() (int, error) { return int(s.backlog.Load()), nil }

// Uploaded drops recs from the backlog and marks them uploaded in the
// scan-id index, in one transaction.
func (s *Store) Uploaded(recs []Record) error {
	gone := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		bl, sc := tx.Bucket(bBacklog), tx.Bucket(bScans)
		gone = 0
		for i := range recs {
			r := recs[i]
			if bl.Get(seqKey(r.Seq)) != nil {
				gone++
			}
			if err := bl.Delete(seqKey(r.Seq)); err != nil {
				return err
			}
			if sc.Get([]byte(r.ScanID)) != nil {
				r.Code, r.Uploaded = "", true
				if err := sc.Put([]byte(r.ScanID), appendRecord(nil, &r)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		s.backlog.Add(-int64(gone))
	}
	return err
}

// Scan returns the record of a scan id decided offline.
func (s *Store) Scan(scanID string) (r Record, found bool, err error) {
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

// Scans calls fn for every remembered offline scan.
func (s *Store) Scans(fn func(Record) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bScans).ForEach(func(k, v []byte) error {
			r, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("scan %q: %w", k, err)
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
	return s.db.Update(func(tx *bolt.Tx) error {
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
}

// Cursor returns the changefeed position ("" for the start).
func (s *Store) Cursor() (c string, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		c = string(tx.Bucket(bMeta).Get(kCursor))
		return nil
	})
	return c, err
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
// never showed (a rescan, or a feed read from a later start).
func (s *Store) Prune(t time.Time) (n int, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
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
