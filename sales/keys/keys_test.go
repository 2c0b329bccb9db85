package keys_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/pgtest"
	"github.com/admitpark/admit/validator/code"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// kek seals the keys of these tests.
var kek = mustKEK(bytes.Repeat([]byte{7}, 32))

func mustKEK(b []byte) *keys.KEK {
	k, err := keys.NewKEK(b)
	if err != nil {
		panic(err)
	}
	return k
}

func claims(version uint32) code.Claims {
	var id [16]byte
	rand.Read(id[:])
	from := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	return code.Claims{TicketID: id, Version: version, ValidFrom: from, ValidUntil: from.AddDate(0, 0, 1)}
}

// verify checks s against the database's published keys (what GET
// /v1/keys gives handhelds).
func verify(t *testing.T, db keys.DB, s string) error {
	t.Helper()
	ks, err := keys.KeySet(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	c, err := code.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return ks.Verify(c)
}

func sign(t *testing.T, db keys.DB) (string, uint8) {
	t.Helper()
	s, err := keys.Active(t.Context(), db, kek)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Sign(claims(1))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := code.Parse(c)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.KeyID() != s.KeyID {
		t.Fatalf("code carries key id %d, signed by key %d", parsed.KeyID(), s.KeyID)
	}
	return c, s.KeyID
}

func rotate(t *testing.T, db *pgxpool.Pool) uint8 {
	t.Helper()
	var id uint8
	if err := pgx.BeginFunc(t.Context(), db, func(tx pgx.Tx) (err error) {
		id, err = keys.Rotate(t.Context(), tx, kek)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestRotate: a rotation makes a new key current for signing, retires the
// old one, and codes signed with any earlier key still verify against the
// published set; a rotation rolled back changes nothing.
func TestRotate(t *testing.T) {
	ctx := t.Context()
	db := pgtest.NewDB(t)
	if _, err := keys.Active(ctx, db, kek); !errors.Is(err, keys.ErrNoActiveKey) {
		t.Fatalf("Active with no keys: %v, want ErrNoActiveKey", err)
	}
	if _, err := keys.Ensure(ctx, db, kek); err != nil {
		t.Fatal(err)
	}
	old, oldID := sign(t, db)
	if oldID != 1 {
		t.Fatalf("first key id %d, want 1", oldID)
	}

	newID := rotate(t, db)
	if newID != 2 {
		t.Fatalf("Rotate = %d, want 2", newID)
	}
	current, id := sign(t, db)
	if id != newID {
		t.Fatalf("after Rotate new codes are signed with key %d, want %d", id, newID)
	}
	list, err := keys.List(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != 2 || !list[0].Active || !list[0].RetiredAt.IsZero() ||
		list[1].ID != 1 || list[1].Active || list[1].RetiredAt.IsZero() {
		t.Fatalf("keys after a rotation: %+v; want 2 active, 1 retired", list)
	}
	if pub := ed25519.PublicKey(list[0].PublicKey); len(pub) != ed25519.PublicKeySize || pub.Equal(ed25519.PublicKey(list[1].PublicKey)) {
		t.Fatalf("the new key is not a new key pair: %x and %x", list[0].PublicKey, list[1].PublicKey)
	}
	for name, c := range map[string]string{"the old key": old, "the new key": current} {
		if err := verify(t, db, c); err != nil {
			t.Fatalf("a code signed with %s does not verify: %v", name, err)
		}
	}
	// Verification means something: the old key id with another key fails.
	_, forged, _ := ed25519.GenerateKey(rand.Reader)
	fc := claims(1)
	fc.KeyID = oldID
	bad, err := code.Sign(forged, fc)
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(t, db, bad); !errors.Is(err, code.ErrBadSignature) {
		t.Fatalf("a code under key id %d signed with another key: %v, want ErrBadSignature", oldID, err)
	}

	// Ensure leaves a rotated set alone.
	if _, err := keys.Ensure(ctx, db, kek); err != nil {
		t.Fatal(err)
	}
	// A rotation rolled back changes nothing.
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := keys.Rotate(ctx, tx, kek); err != nil || id != 3 {
		t.Fatalf("Rotate in a transaction = %d, %v", id, err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, id := sign(t, db); id != newID {
		t.Fatalf("after a rolled-back rotation the active key is %d, want %d", id, newID)
	}
	if list, _ := keys.List(ctx, db); len(list) != 2 {
		t.Fatalf("%d keys after a rolled-back rotation, want 2", len(list))
	}

	// A third rotation: every earlier code still verifies, one key is active.
	if id := rotate(t, db); id != 3 {
		t.Fatalf("Rotate = %d, want 3", id)
	}
	for name, c := range map[string]string{"key 1": old, "key 2": current} {
		if err := verify(t, db, c); err != nil {
			t.Fatalf("after two rotations a code signed with %s does not verify: %v", name, err)
		}
	}
	var active int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM signing_keys WHERE active`).Scan(&active); err != nil || active != 1 {
		t.Fatalf("%d active keys, %v; want 1", active, err)
	}
}

// TestRotateAtTheLastKeyID: key ids are one byte; a rotation past 255
// fails, and rolling back its transaction keeps the active key.
func TestRotateAtTheLastKeyID(t *testing.T) {
	ctx := t.Context()
	db := pgtest.NewDB(t)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := db.Exec(ctx, `INSERT INTO signing_keys (id, public_key, private_key, active) VALUES (255, $1, $2, true)`,
		[]byte(pub), priv.Seed()); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Ensure(ctx, db, kek); err != nil { // seals the plain key
		t.Fatal(err)
	}
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		_, err := keys.Rotate(ctx, tx, kek)
		return err
	})
	if err == nil {
		t.Fatal("Rotate past key id 255 succeeded")
	}
	t.Logf("Rotate past 255: %v", err)
	if _, id := sign(t, db); id != 255 {
		t.Fatalf("after a failed rotation the active key is %d, want 255", id)
	}
}
