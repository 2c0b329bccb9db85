package fsm

import (
	"encoding/binary"
	"fmt"

	"github.com/admitpark/admit/cluster"
)

// The scan-ID records (x/…) are derived keys (cluster.Derived): they live
// in memory only. What Badger holds instead is one scan log per ScanBatch
// entry, s/<index:8 BE>, with every x/ key and record the entry wrote, in
// order: one Badger write per entry instead of one per scan, which was
// two thirds of everything a node wrote to Badger under scan load. The
// scan logs are on disk only (not kept in memory). After a load (start,
// snapshot restore) Rebuild writes the x/ records again from the scan
// logs; a purge deletes a batch's scan log with its events.
//
// Scan log: 0x01 | repeated (bytes key | bytes record).
const (
	prefixScanLog = "s/"
	scanLogV1     = 1
	// maxScanLogKey bounds a key in a scan log: prefix, gate length byte,
	// gate and scan ID.
	maxScanLogKey = 2 + 1 + 255 + 1024
)

var _ cluster.Derived = Machine{}

// DerivedPrefixes are the keys kept in memory only: the scan-ID records.
func (Machine) DerivedPrefixes() []string { return []string{prefixScanID} }

// SourcePrefixes are the keys kept on disk only: the scan logs, which only
// Rebuild reads (in memory they would hold every scan record twice).
func (Machine) SourcePrefixes() []string { return []string{prefixScanLog} }

// Rebuild writes the scan-ID records of every scan log, oldest first.
func (Machine) Rebuild(txn cluster.Txn) error {
	return iterate(txn, prefixScanLog, func(k, v []byte) error {
		return eachScanLogRecord(k, v, func(key, rec []byte) error { return txn.Set(key, rec) })
	})
}

func appendScanLogKey(dst []byte, index uint64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, prefixScanLog...), index)
}

// appendScanLogRecord adds one x/ key and its record to a scan log.
func appendScanLogRecord(dst, key, rec []byte) []byte {
	if len(dst) == 0 {
		dst = append(dst, scanLogV1)
	}
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	dst = binary.AppendUvarint(dst, uint64(len(rec)))
	return append(dst, rec...)
}

// eachScanLogRecord calls fn with each key and record of the scan log v
// (stored at k); they alias v.
func eachScanLogRecord(k, v []byte, fn func(key, rec []byte) error) error {
	if len(v) == 0 || v[0] != scanLogV1 {
		return fmt.Errorf("%w: scan log %x", ErrVersion, k)
	}
	r := newReader(v, 1, "scan log")
	for r.Err == nil && r.Off < len(v) {
		key := r.Bytes("key", maxScanLogKey)
		rec := r.Bytes("record", 1<<16)
		if r.Err != nil {
			break
		}
		if len(key) < len(prefixScanID) || string(key[:len(prefixScanID)]) != prefixScanID {
			return fmt.Errorf("%w: scan log %x holds key %q", ErrMalformed, k, key)
		}
		if err := fn(key, rec); err != nil {
			return err
		}
	}
	return r.Finish()
}
