package cluster

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzReadFrame feeds arbitrary bytes to the decoder of node-to-node frames,
// which reads what any peer on the Raft port sends: it must never panic nor
// allocate for a length over the limit, and a frame it accepts must encode
// back to the bytes it came from. `go test -fuzz FuzzReadFrame ./cluster/`;
// plain `go test` runs the seeds.
func FuzzReadFrame(f *testing.F) {
	frame := func(id uint64, kind byte, payload []byte) []byte {
		var b bytes.Buffer
		w := bufio.NewWriter(&b)
		if err := writeFrame(w, id, kind, payload); err != nil {
			panic(err) // a bytes.Buffer does not fail
		}
		return b.Bytes()
	}
	f.Add(frame(1, byte(opStatus), nil))
	f.Add(frame(7, byte(opApply), []byte("0123456789abcdef")))
	f.Add(append(frame(2, byte(opJoin), []byte(`{"id":"n4","raft_addr":"10.0.0.4:7201"}`)), frame(3, byte(opRemove), []byte(`{"id":"n4"}`))...))
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add(binary.BigEndian.AppendUint32(nil, 8))          // below the minimum
	f.Add(binary.BigEndian.AppendUint32(nil, 0xffffffff)) // far over the limit
	f.Add(append(binary.BigEndian.AppendUint32(nil, 100), 1, 2, 3))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		consumed := 0
		for {
			id, kind, payload, err := readFrame(r)
			if err != nil {
				return
			}
			if len(payload) > MaxCommandSize+64 {
				t.Fatalf("accepted a payload of %d bytes", len(payload))
			}
			again := frame(id, kind, payload)
			if !bytes.Equal(again, data[consumed:consumed+len(again)]) {
				t.Fatalf("frame %x re-encodes as %x", data[consumed:consumed+len(again)], again)
			}
			consumed += len(again)
		}
	})
}
