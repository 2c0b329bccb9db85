// Package sales is the money side of the park: catalog, quotas, orders,
// payments, issuance, refunds, users and reports, on PostgreSQL.
package sales

// Modules the sales packages use, held here while they are being written.
import (
	_ "github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/skip2/go-qrcode"
	_ "golang.org/x/crypto/argon2"
)
