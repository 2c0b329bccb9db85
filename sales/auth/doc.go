// Package auth owns who may use the sales service: users and their roles,
// login sessions, distributors and their API keys, password lockout, and
// the first administrator.
//
// Invariants:
//
//   - Passwords are stored only as argon2id hashes in PHC string format
//     ("$argon2id$v=19$m=...,t=...,p=...$salt$hash"), each with its own
//     random salt, so two users with the same password never share a hash.
//     Verification uses the parameters stored in the hash and compares in
//     constant time; a hash made with older parameters is replaced on the
//     next successful login.
//   - Session tokens ("st_...") and API keys ("ak_...") are 32 random bytes,
//     base64url; only their SHA-256 is stored, so the database alone cannot
//     be used to log in. A key is shown once, when it is made.
//   - Config.MaxFailures (3) wrong passwords in a row lock an account for
//     Config.LockFor (15 minutes). While locked, even the right password is
//     refused, with the time the lock ends. A right password resets the
//     count; an admin's unlock clears it. Every time decision uses the
//     injected web.Clock.
//   - An unknown username and a wrong password give the same error to the
//     caller (no user enumeration); the audit log tells them apart.
//   - A user with must_change_password (a one-time password from Init or a
//     reset) can log in, but the session only reaches GET /v1/me,
//     POST /v1/me/password and POST /v1/logout until the password is changed.
//   - Every state change, including each login attempt, writes an audit
//     record in the same transaction as the change.
package auth
