package code

import "testing"

var (
	sinkCode   Code
	sinkDigest Digest
	sinkStr    string
)

func BenchmarkParse(b *testing.B) {
	s := mustSign(b, testKeySet(b, 1), testClaims())
	b.ReportAllocs()
	for b.Loop() {
		c, err := Parse(s)
		if err != nil {
			b.Fatal(err)
		}
		sinkCode = c
	}
}

// BenchmarkDigest is the online scan: text to ticket id, version and digest.
func BenchmarkDigest(b *testing.B) {
	s := mustSign(b, testKeySet(b, 1), testClaims())
	b.ReportAllocs()
	for b.Loop() {
		c, err := Parse(s)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = c.TicketID(), c.TicketVersion()
		sinkDigest = c.Digest()
	}
}

func BenchmarkVerify(b *testing.B) {
	k := testKeySet(b, 1)
	c, err := Parse(mustSign(b, k, testClaims()))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := k.Verify(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	k := testKeySet(b, 1)
	c := testClaims()
	b.ReportAllocs()
	for b.Loop() {
		s, err := k.Sign(c)
		if err != nil {
			b.Fatal(err)
		}
		sinkStr = s
	}
}
