package auth

import (
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/admitpark/admit/sales/web"
)

func TestAPIKeyAuthAndRevocation(t *testing.T) {
	f := newFixture(t)
	d, err := f.api.CreateDistributor(f.ctx, f.admin, "Fliggy")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.api.CreateDistributor(f.ctx, f.admin, " Fliggy ")
	wantProblem(t, err, ErrConflict, http.StatusConflict, "distributor_exists")
	_, _, err = f.api.CreateAPIKey(f.ctx, f.admin, 9999)
	wantProblem(t, err, ErrNotFound, http.StatusNotFound, "unknown_distributor")

	k, key, err := f.api.CreateAPIKey(f.ctx, f.admin, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, "ak_") || len(key) != 3+43 || k.Prefix != key[:11] || k.DistributorID != d.ID {
		t.Fatalf("key %q record %+v", key, k)
	}
	var stored []byte
	f.pool.QueryRow(f.ctx, `SELECT key_hash FROM api_keys WHERE id = $1`, k.ID).Scan(&stored)
	if sum := sha256.Sum256([]byte(key)); string(stored) != string(sum[:]) {
		t.Fatal("api_keys.key_hash is not the key's SHA-256")
	}

	p, err := f.api.Authenticate(f.ctx, key, "203.0.113.5:9")
	if err != nil {
		t.Fatal(err)
	}
	want := web.Principal{Role: web.RoleDistributor, DistributorID: d.ID, APIKeyID: k.ID, RemoteAddr: "203.0.113.5:9"}
	if p != want {
		t.Fatalf("principal %+v, want %+v", p, want)
	}

	other, _, err := f.api.CreateAPIKey(f.ctx, f.admin, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := f.api.ListAPIKeys(f.ctx, f.admin, d.ID)
	if err != nil || len(keys) != 2 || keys[0].ID != other.ID {
		t.Fatalf("keys %+v %v", keys, err)
	}

	f.clock.Advance(time.Hour)
	r, err := f.api.RevokeAPIKey(f.ctx, f.admin, k.ID)
	if err != nil || !r.RevokedAt.Equal(f.clock.Now()) {
		t.Fatalf("revoke: %+v %v", r, err)
	}
	_, err = f.api.Authenticate(f.ctx, key, "x")
	if !errors.Is(err, web.ErrUnauthenticated) || !errors.Is(err, ErrKeyRevoked) || !strings.Contains(err.Error(), k.Prefix) {
		t.Fatalf("revoked key: %v", err)
	}
	// Revoking again changes nothing.
	f.clock.Advance(time.Hour)
	r2, err := f.api.RevokeAPIKey(f.ctx, f.admin, k.ID)
	if err != nil || !r2.RevokedAt.Equal(r.RevokedAt) {
		t.Fatalf("second revoke: %+v %v", r2, err)
	}
	_, err = f.api.RevokeAPIKey(f.ctx, f.admin, 12345)
	wantProblem(t, err, ErrNotFound, http.StatusNotFound, "unknown_api_key")
	if f.auditCount("api_key.create", "") != 2 || f.auditCount("api_key.revoke", "") != 1 || f.auditCount("distributor.create", "") != 1 {
		t.Fatal("api key audit rows")
	}

	// An inactive distributor's keys stop working.
	f.pool.Exec(f.ctx, `UPDATE distributors SET active = false WHERE id = $1`, d.ID)
	ds, _ := f.api.ListDistributors(f.ctx, f.admin)
	if len(ds) != 1 || ds[0].Active {
		t.Fatalf("distributors %+v", ds)
	}
	_, _, err = f.api.CreateAPIKey(f.ctx, f.admin, d.ID)
	wantProblem(t, err, ErrConflict, http.StatusConflict, "distributor_inactive")
}

func TestLimiter(t *testing.T) {
	l := newLimiter(3, 1.0/20) // 3 at once, then one every 20 s
	now := time.Unix(0, 0)
	for i := range 3 {
		if ok, _ := l.allow("192.0.2.1:1000", now); !ok {
			t.Fatalf("attempt %d refused", i)
		}
	}
	// The port does not make another bucket.
	ok, wait := l.allow("192.0.2.1:1001", now)
	if ok || wait != 20*time.Second {
		t.Fatalf("fourth: %v %v", ok, wait)
	}
	if ok, _ := l.allow("192.0.2.2:1", now); !ok {
		t.Fatal("another address shares the bucket")
	}
	if ok, _ := l.allow("192.0.2.1:1", now.Add(20*time.Second)); !ok {
		t.Fatal("no refill")
	}
	if ok, _ := l.allow("[2001:db8::1]:80", now); !ok {
		t.Fatal("IPv6")
	}
	l.prune(now.Add(time.Hour))
	if len(l.buckets) != 0 {
		t.Fatalf("prune left %d", len(l.buckets))
	}
}

func TestParsePHCRejectsJunk(t *testing.T) {
	for _, s := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=4,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA"} {
		if _, _, _, err := parsePHC(s); err == nil {
			t.Errorf("parsePHC(%q) accepted", s)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := DefaultConfig()
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "Pool") {
		t.Fatalf("no pool: %v", err)
	}
	cfg.Argon2.MemoryKiB = 1
	cfg.MaxFailures = 0
	err = cfg.Validate()
	if !strings.Contains(err.Error(), "MemoryKiB") || !strings.Contains(err.Error(), "MaxFailures") {
		t.Fatalf("validate: %v", err)
	}
}

func TestOneTimePasswordShape(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		p := oneTimePassword()
		if len(p) != 19 || checkPassword(p) != nil || seen[p] {
			t.Fatalf("one-time password %q", p)
		}
		seen[p] = true
	}
}
