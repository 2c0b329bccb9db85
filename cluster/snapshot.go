package cluster

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/raft"
)

// Snapshot stream format: magic, then records (uvarint key length, key,
// uvarint value length, value), then a zero key length and the uvarint
// record count. Keys are never empty, so the zero marks the end, and a
// stream cut short is detected rather than restored half.
var snapshotMagic = []byte("ADMITSNAP1")

// maxSnapshotField bounds one key or value read from a snapshot stream.
const maxSnapshotField = 64 << 20

// Snapshot writes every change still in memory only to Badger and syncs
// it, then pins a read transaction: Persist streams the state as of the
// last applied index while Apply goes on (Raft calls Snapshot between
// applies). Flushing first makes Badger durable up to the snapshot's
// index, so Raft may drop the log before it and a restart never needs it:
// the log always holds every entry after Badger's applied index.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if err := f.flush.sync(); err != nil {
		return nil, fmt.Errorf("sync state before snapshot: %w", err)
	}
	return &fsmSnapshot{f: f, txn: f.db.NewTransaction(false)}, nil
}

type fsmSnapshot struct {
	f   *fsm
	txn *badger.Txn
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	s.f.stateMu.RLock() // a restore must not drop the tables under us
	err := writeSnapshot(s.txn, sink)
	s.f.stateMu.RUnlock()
	if err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() { s.txn.Discard() }

func writeSnapshot(txn *badger.Txn, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.Write(snapshotMagic); err != nil {
		return err
	}
	it := txn.NewIterator(badger.DefaultIteratorOptions)
	defer it.Close()
	var n uint64
	var lenBuf [binary.MaxVarintLen64]byte
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		k := item.Key()
		bw.Write(lenBuf[:binary.PutUvarint(lenBuf[:], uint64(len(k)))])
		bw.Write(k)
		err := item.Value(func(v []byte) error {
			bw.Write(lenBuf[:binary.PutUvarint(lenBuf[:], uint64(len(v)))])
			_, err := bw.Write(v)
			return err
		})
		if err != nil {
			return fmt.Errorf("snapshot key %q: %w", k, err)
		}
		n++
	}
	bw.WriteByte(0)
	bw.Write(lenBuf[:binary.PutUvarint(lenBuf[:], n)])
	return bw.Flush()
}

// Restore replaces all state with the snapshot. A marker file lives in the
// data dir while it runs: if the node dies mid-restore, the next start finds
// the marker and has Raft restore from its snapshot store again instead of
// trusting the half-written state.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := writeMarker(f.marker); err != nil {
		return err
	}
	if err := f.flush.sync(); err != nil { // nothing older may land after the drop
		return err
	}
	f.stateMu.Lock()
	defer f.stateMu.Unlock()
	f.broken.Store(true) // until the new state is complete
	if err := f.db.DropAll(); err != nil {
		return fmt.Errorf("drop state before restore: %w", err)
	}
	if err := readSnapshot(f.db, rc); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	if err := f.db.Sync(); err != nil {
		return fmt.Errorf("sync restored state: %w", err)
	}
	idx, err := loadAppliedIndex(f.db)
	if err != nil {
		return err
	}
	loaded, err := loadState(f.db, f.sm)
	if err != nil {
		return fmt.Errorf("load restored state: %w", err)
	}
	f.state.mu.Lock()
	f.state.replace(loaded)
	f.state.mu.Unlock()
	f.flush.reset(idx)
	f.applied.Store(idx)
	if err := os.Remove(f.marker); err != nil {
		return fmt.Errorf("remove restore marker: %w", err)
	}
	f.broken.Store(false)
	f.log.Info("restored state from snapshot", "applied_index", idx)
	return nil
}

var errBadSnapshot = errors.New("malformed snapshot stream")

func readSnapshot(db *badger.DB, r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<20)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != string(snapshotMagic) {
		return fmt.Errorf("%w: bad header", errBadSnapshot)
	}
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	var n uint64
	for {
		klen, err := binary.ReadUvarint(br)
		if err != nil {
			return fmt.Errorf("%w: record %d: %v", errBadSnapshot, n, err)
		}
		if klen == 0 {
			break
		}
		k, err := readField(br, klen)
		if err != nil {
			return err
		}
		vlen, err := binary.ReadUvarint(br)
		if err != nil {
			return fmt.Errorf("%w: record %d: %v", errBadSnapshot, n, err)
		}
		v, err := readField(br, vlen)
		if err != nil {
			return err
		}
		if err := wb.Set(k, v); err != nil {
			return err
		}
		n++
	}
	count, err := binary.ReadUvarint(br)
	if err != nil || count != n {
		return fmt.Errorf("%w: trailer says %d records, read %d", errBadSnapshot, count, n)
	}
	return wb.Flush()
}

func readField(r io.Reader, n uint64) ([]byte, error) {
	if n > maxSnapshotField {
		return nil, fmt.Errorf("%w: field of %d bytes", errBadSnapshot, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadSnapshot, err)
	}
	return b, nil
}

func writeMarker(path string) error {
	fh, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create restore marker: %w", err)
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Close(); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
