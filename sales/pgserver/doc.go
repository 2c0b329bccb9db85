// Package pgserver runs a PostgreSQL server of its own in a directory: the
// throwaway server of the tests (sales/pgtest) and the local one of
// `admit dev`, whose data is kept between runs.
//
// It owns the server's data directory and the server process: Start
// initdb's the directory if needed (superuser "admit", trust
// authentication, UTF8, C locale), starts the server with pg_ctl and
// returns once it accepts connections; Stop stops it. It uses the
// machine's binaries (initdb, pg_ctl, postgres: PATH, then
// /usr/lib/postgresql/<version>/bin) and installs nothing.
//
// Invariants:
//   - A Server returned by Start accepts connections at DSN; after Stop
//     returns nil the server no longer runs. Stop is idempotent.
//   - The server listens only on Config.Host (TCP) and on a Unix socket in
//     the data directory, with trust authentication: anyone who can reach
//     those can act as superuser, so Host stays a loopback address unless
//     the machine's network is trusted.
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
