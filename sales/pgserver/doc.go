// Package pgserver runs a PostgreSQL server of its own in a directory: the
// throwaway server of the tests (sales/pgtest) and the local one of
// `admit dev`, whose data is kept between runs.
//
// It owns the server's data directory, its authentication and the server
// process: Start initdb's the directory if needed (superuser "admit" with a
// generated password, scram-sha-256, UTF8, C locale), starts the server
// with pg_ctl and returns once it accepts connections; Stop stops it.
// AppDatabase makes a database owned by a non-superuser application role. It uses the
// machine's binaries (initdb, pg_ctl, postgres: PATH, then
// /usr/lib/postgresql/<version>/bin) and installs nothing.
//
// Invariants:
//   - A Server returned by Start accepts connections at DSN; after Stop
//     returns nil the server no longer runs. Stop is idempotent.
//   - The server listens only on Config.Host (TCP) and on a Unix socket in
//     the data directory (0700, so only the server's OS user and root reach
//     it). Every connection, TCP or socket, needs a password
//     (scram-sha-256; pg_hba.conf is rewritten at every Start). The
//     superuser's password is in superuser.password, an application
//     role's in <role>.password, both 0600 in the data directory. DSN
//     connects as the superuser (for tests and tools); applications get
//     AppDatabase's DSN: a role that owns its database and nothing else,
//     without SUPERUSER, CREATEDB, CREATEROLE (so no COPY ... PROGRAM, no
//     reading server files, no other databases).
//   - A data directory from an older version (trust, no password file) is
//     given a superuser password and the new pg_hba.conf at its next Start;
//     AppDatabase hands the superuser's objects in it to the app role.
//   - The server runs in its own process group: a Ctrl-C aimed at this
//     process does not reach it, so its owner decides when it stops (after
//     the code using it). A server left running by a crashed process is
//     adopted by the next Start on the same directory.
//   - As root, every tool and the server run as the "postgres" OS user
//     (PostgreSQL refuses root). The data directory is given to that user,
//     and a parent directory it cannot enter gets o+x only when it lies in
//     the temp directory (as testing.T.TempDir's does); elsewhere Start
//     fails with ErrDirUnreachable and says what to change.
//   - initdb runs in a sibling directory (<Dir>.initdb) that is renamed into
//     place when complete, so an interrupted first start never leaves a
//     half-made data directory behind.
//   - One Server per directory at a time; PostgreSQL's own lock refuses a
//     second postmaster.
package pgserver
