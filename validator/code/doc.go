// Package code owns what a ticket's QR code holds: the binary claims, their
// Ed25519 signature, the text form shown as a QR code, parsing, offline
// verification, and the digest the online gate path compares.
//
// Two paths read codes. Online gates call Parse (or ParseBytes) and Digest
// and ask the cluster whether that digest is the ticket's current one, so
// they never verify signatures: a forged code, or one replaced by a reprint,
// simply has another digest. The cluster verifies a code once, when its
// ticket is issued (FromBinary and VerifyKey against the park's keys it
// holds; see validator/fsm), never per scan. Offline handhelds call KeySet.Verify and decide
// zone validity from the ZoneMask claim. What Kind, Entries and the zone
// bits mean belongs to validator/ticket and the park configuration.
//
// # Format 1
//
// Big-endian, fixed layout, 101 bytes:
//
//	offset size field
//	     0    1 format version, 1
//	     1    1 KeyID: which signing key (keys rotate)
//	     2   16 TicketID
//	    18    4 Version: ticket version, higher for a reprint
//	    22    1 Kind
//	    23    2 Entries
//	    25    4 ValidFrom: Unix minutes, UTC; 0 = open start
//	    29    4 ValidUntil: likewise; 0 = open end
//	    33    4 ZoneMask
//	    37   64 Ed25519 signature of "admit/code\x00" || bytes 0..36
//
// The digest is the first 16 bytes of SHA-256 over all 101 bytes. Ed25519 is
// deterministic, so signing the same claims with the same key again yields
// the same code and digest; a reprint must raise Version to get a new one.
//
// # Text form
//
// The 101 bytes are Base45-encoded (RFC 9285) into 152 characters, all from
// the QR alphanumeric set (0-9 A-Z space $ % * + - . / :). Alphanumeric mode
// stores two characters in 11 bits and Base45 puts two bytes in three
// characters, so the text costs 836 bits, 3.5% over the raw 808. That fits a
// version 6 QR code (41x41 modules) at error correction level M, whose limit
// is 154 characters: a future format may grow by one byte before the symbol
// grows. Base64 would need byte mode and a version 8 symbol; decimal digits
// in numeric mode save 16 bits but not a symbol version; raw bytes in byte
// mode also fit version 6 but many scanner stacks mangle non-UTF-8 data.
// Decoding is strict (no lower case, no stray characters or whitespace,
// every group in range, no dangling character), so each code has exactly one
// text form and String reproduces what was parsed.
//
// # Performance
//
// Measured with go test -run xxx -bench . ./validator/code/ (Go 1.26.8,
// 2-core AMD EPYC dev machine, quietest run; the machine is shared and loaded
// runs were up to 2-3x slower):
//
//	BenchmarkParse      97 ns/op   0 allocs/op
//	BenchmarkDigest    224 ns/op   0 allocs/op  (Parse, TicketID, TicketVersion, Digest)
//	BenchmarkVerify  40900 ns/op   0 allocs/op
//	BenchmarkSign    18200 ns/op   2 allocs/op  (signature and text; 320 B)
//
// The scan path allocates nothing, on success or on rejection, so one core
// handles millions of scans a second against the 40k/s a park needs; Verify
// runs on handhelds, one scan at a time.
package code
