package keys_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/pgtest"
)

// TestPrivateKeysAreSealedAtRest: a key made by Ensure or Rotate is stored
// sealed (never the seed), a plain key an older version stored is sealed
// by the next Ensure and still signs the same, and another KEK can neither
// start on the database nor sign.
func TestPrivateKeysAreSealedAtRest(t *testing.T) {
	ctx := t.Context()
	db := pgtest.NewDB(t)
	// An older version's plain key 1.
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := db.Exec(ctx, `INSERT INTO signing_keys (id, public_key, private_key, active) VALUES (1, $1, $2, true)`,
		[]byte(pub), priv.Seed()); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Active(ctx, db, kek); !errors.Is(err, keys.ErrWrongKEK) {
		t.Fatalf("Active on a plain key before Ensure: %v", err)
	}
	if n, err := keys.Ensure(ctx, db, kek); err != nil || n != 1 {
		t.Fatalf("Ensure sealed %d, %v; want 1", n, err)
	}
	if n, err := keys.Ensure(ctx, db, kek); err != nil || n != 0 {
		t.Fatalf("second Ensure sealed %d, %v; want 0", n, err)
	}
	rotate(t, db)
	rows, err := db.Query(ctx, `SELECT id, private_key, kek_id FROM signing_keys ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var id int
		var stored []byte
		var kekID *string
		if err := rows.Scan(&id, &stored, &kekID); err != nil {
			t.Fatal(err)
		}
		n++
		if kekID == nil || *kekID != kek.ID() || len(stored) == ed25519.SeedSize || bytes.Contains(stored, priv.Seed()) {
			t.Fatalf("key %d stored as %x under %v: not sealed with %s", id, stored, kekID, kek.ID())
		}
	}
	rows.Close()
	if n != 2 {
		t.Fatalf("%d keys", n)
	}
	c, _ := sign(t, db)
	if err := verify(t, db, c); err != nil {
		t.Fatal(err)
	}

	other := mustKEK(bytes.Repeat([]byte{9}, 32))
	if _, err := keys.Ensure(ctx, db, other); !errors.Is(err, keys.ErrWrongKEK) {
		t.Fatalf("Ensure with another KEK: %v", err)
	}
	if _, err := keys.Active(ctx, db, other); !errors.Is(err, keys.ErrWrongKEK) {
		t.Fatalf("Active with another KEK: %v", err)
	}
	if _, err := keys.Active(ctx, db, nil); !errors.Is(err, keys.ErrNoKEK) {
		t.Fatalf("Active without a KEK: %v", err)
	}
	// A tampered seal does not open.
	if _, err := db.Exec(ctx, `UPDATE signing_keys SET private_key = set_byte(private_key, 20, get_byte(private_key, 20) # 1) WHERE active`); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Active(ctx, db, kek); !errors.Is(err, keys.ErrWrongKEK) {
		t.Fatalf("Active on a tampered key: %v", err)
	}
}

// TestRewrap moves every key to a new KEK in one go; the old KEK no longer
// opens them; a rewrap from the wrong old KEK changes nothing.
func TestRewrap(t *testing.T) {
	ctx := t.Context()
	db := pgtest.NewDB(t)
	if _, err := keys.Ensure(ctx, db, kek); err != nil {
		t.Fatal(err)
	}
	rotate(t, db)
	newKEK := mustKEK(bytes.Repeat([]byte{8}, 32))
	wrong := mustKEK(bytes.Repeat([]byte{9}, 32))
	if _, err := keys.Rewrap(ctx, db, wrong, newKEK); !errors.Is(err, keys.ErrWrongKEK) {
		t.Fatalf("Rewrap from the wrong KEK: %v", err)
	}
	if _, err := keys.Active(ctx, db, kek); err != nil {
		t.Fatalf("a failed rewrap changed the keys: %v", err)
	}
	if n, err := keys.Rewrap(ctx, db, kek, newKEK); err != nil || n != 2 {
		t.Fatalf("Rewrap: %d, %v; want 2", n, err)
	}
	if n, err := keys.Rewrap(ctx, db, kek, newKEK); err != nil || n != 0 {
		t.Fatalf("Rewrap again: %d, %v; want 0 (idempotent)", n, err)
	}
	if _, err := keys.Active(ctx, db, kek); !errors.Is(err, keys.ErrWrongKEK) {
		t.Fatalf("the old KEK after the rewrap: %v", err)
	}
	if s, err := keys.Active(ctx, db, newKEK); err != nil || s.KeyID != 2 {
		t.Fatalf("the new KEK after the rewrap: %v", err)
	}
	if _, err := keys.Ensure(ctx, db, newKEK); err != nil {
		t.Fatal(err)
	}
}

func TestKEKFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kek")
	k, err := keys.GenerateKEKFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("KEK file mode %v, %v", fi.Mode().Perm(), err)
	}
	if _, err := keys.GenerateKEKFile(path); err == nil {
		t.Fatal("GenerateKEKFile overwrote a KEK")
	}
	got, err := keys.LoadKEKFile(path)
	if err != nil || got.ID() != k.ID() {
		t.Fatalf("LoadKEKFile: %v", err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.LoadKEKFile(path); !errors.Is(err, keys.ErrKEKFileMode) {
		t.Fatalf("group-readable KEK file: %v", err)
	}
	for _, bad := range []string{"", "abc", string(bytes.Repeat([]byte("zz"), 32))} {
		if _, err := keys.ParseKEK(bad); !errors.Is(err, keys.ErrBadKEK) {
			t.Fatalf("ParseKEK(%q): %v", bad, err)
		}
	}
}
