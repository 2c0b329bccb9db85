// Package pgtest gives tests in other packages real PostgreSQL databases:
// NewDB and NewDSN return a fresh database with a random name, migrated
// with db.Migrate, that is dropped when the test ends.
//
// Every test binary that uses it runs its tests through Run:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }
//
// The databases live on the server whose DSN is in ADMIT_TEST_PG when it is
// set (its role must be allowed to create and drop databases), else on one
// throwaway server per test binary (sales/pgserver, fsync off), started on
// first use in a temp directory and stopped and removed by Run. Like every
// pgserver server it takes passwords on TCP and on its socket (in its 0700
// data directory): the DSNs handed out carry the superuser's password.
//
// Invariants:
//   - A database is used by one test only and is gone after its cleanup;
//     NewDB's pool is closed before the drop.
//   - A test that needs PostgreSQL fails (t.Fatal, with the reason) when
//     there is none; it never skips.
//   - The throwaway server is stopped by Run. One left by a test binary that
//     was killed first is stopped and removed by the next test binary that
//     starts one (its directory names its owner's pid).
package pgtest
