package auth

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// tokenForms are the ways a bearer token could be kept that would give it
// away: the token and its random part, as text, in hex (which is also how
// a bytea column holding them shows as text) and in base64, and the random
// bytes themselves in hex and base64. All lower case, for a case-blind
// search.
func tokenForms(token string) map[string]string {
	secret := token[strings.IndexByte(token, '_')+1:]
	forms := map[string]string{}
	for name, s := range map[string]string{"token": token, "its random part": secret} {
		forms[name] = s
		forms[name+" in hex"] = hex.EncodeToString([]byte(s))
		forms[name+" in base64"] = base64.StdEncoding.EncodeToString([]byte(s))
		forms[name+" in raw base64"] = base64.RawStdEncoding.EncodeToString([]byte(s))
	}
	if raw, err := base64.RawURLEncoding.DecodeString(secret); err == nil {
		forms["its random bytes in hex"] = hex.EncodeToString(raw)
		forms["its random bytes in base64"] = base64.StdEncoding.EncodeToString(raw)
	}
	for name, s := range forms {
		forms[name] = strings.ToLower(s)
	}
	return forms
}

// wantTokenNotStored checks that no row of any table in the database holds
// token in any of tokenForms, in any column: every row is read as its JSON
// text, where bytea columns show as hex.
func wantTokenNotStored(t *testing.T, f *fixture, token string) {
	t.Helper()
	forms := tokenForms(token)
	tables, err := f.pool.Query(f.ctx, `SELECT quote_ident(table_name) FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(tables, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	rowsRead := 0
	for _, table := range names {
		rows, err := f.pool.Query(f.ctx, `SELECT lower(to_jsonb(x)::text) FROM `+table+` x`)
		if err != nil {
			t.Fatal(err)
		}
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range texts {
			rowsRead++
			for name, form := range forms {
				if strings.Contains(text, form) {
					t.Fatalf("table %s keeps the session token (%s): %s", table, name, text)
				}
			}
		}
	}
	t.Logf("%d rows in %d tables hold the token in none of %d forms", rowsRead, len(names), len(forms))
}
