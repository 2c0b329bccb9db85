// Package auth owns who may use the sales service: users and their roles,
// login sessions, distributors and their API keys, the throttling of wrong
// passwords (login_throttle), and the first administrator.
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
//   - Wrong passwords are throttled per (username, source), never per
//     account, so nobody can lock anyone out from afar: Config.MaxFailures
//     (3) wrong passwords in a row from one source (its IP; IPv6 by /64)
//     block that source for that username for Config.LockFor (15 minutes),
//     and each further one doubles the block up to Config.MaxLockFor. The
//     right password from any other source still works. A right password
//     clears its source's count; a password change, a reset, an admin's
//     unlock or `admit sales admin unlock USER` (OperatorUnlock, run on the
//     server against the database: the way back for the last admin) clear
//     every source's. Each block is audited (auth.lockout) and counted
//     (admit_sales_login_lockouts_total). Every time decision uses the
//     injected web.Clock.
//   - An unknown username and a wrong password give the same answer to the
//     caller (no user enumeration): the same status and body, the same
//     password-hash work (an unknown user is checked against a dummy
//     hash), and the same throttle (counted by the username as typed). The
//     audit log tells them apart.
//   - Changing one's password ends every other session of the user; the
//     session that changed it stays.
//   - A user with must_change_password (a one-time password from Init or a
//     reset) can log in, but the session only reaches GET /v1/me,
//     POST /v1/me/password and POST /v1/logout until the password is changed.
//   - Every state change, including each login attempt, writes an audit
//     record in the same transaction as the change.
package auth
