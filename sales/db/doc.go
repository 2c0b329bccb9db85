// Package db owns the sales service's PostgreSQL database: opening
// connection pools (Open) and the schema, whose migrations are the SQL
// files in migrations/ compiled into the binary (Migrate, Status).
//
// Migration files are named NNNN_name.sql; versions start at 1 and run
// without gaps. schema_migrations(version, name, applied_at) records each
// applied one.
//
// Invariants:
//   - A migration is applied all or nothing: its SQL and its
//     schema_migrations row commit in one transaction. So a migration may
//     not use statements that refuse a transaction block (CREATE INDEX
//     CONCURRENTLY, VACUUM, ALTER TYPE ... ADD VALUE before PostgreSQL 12).
//   - Each migration is applied once per database, whatever the number of
//     processes migrating at the same time: every step holds
//     pg_advisory_xact_lock(migrationLockKey) and re-reads the version.
//   - The versions in schema_migrations are always 1..N with the names of
//     this binary's files; a binary never touches a database that has a
//     version it does not know (ErrSchemaTooNew) or that disagrees with its
//     files (ErrSchemaMismatch).
//   - An applied migration is never edited or renamed: add a new one.
//   - Errors never carry a DSN's password.
package db
