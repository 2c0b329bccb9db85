package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/admitpark/admit/sales/db"
	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/web"
)

// newSalesKeysRotateCmd is `admit sales keys rotate`.
func newSalesKeysRotateCmd(f *salesFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate",
		Short: "Make a new active ticket-signing key; the old one verifies its codes until they expire",
		Long: `Rotate the ticket-signing key (as POST /v1/keys/rotate does): new codes are
signed with a new key; the retired key keeps verifying the codes it signed.
The clusters verify with the active key and every retired key that is less
than 24 hours retired or still has a valid ticket; sync sends them the new
set (outbox configure rows), and the gate agents fetch it from their
cluster. Needs the database (--dsn) and the key-encryption key (--key-file
or $ADMIT_KEK); a running sales service signs with the new key at its next
issue, no restart needed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kek, err := loadKEK(f.keyFile)
			if err != nil {
				return err
			}
			pool, err := db.Open(cmd.Context(), f.dsn, db.DefaultPoolConfig())
			if err != nil {
				return err
			}
			defer pool.Close()
			res, err := keys.RotateRecorded(cmd.Context(), pool, kek, web.Principal{Role: web.RoleAdmin, Username: "cli"})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "signing key %d is active (retired %v); the clusters verify with keys %v once sync has sent them\n",
				res.KeyID, res.Retired, res.Sent)
			return nil
		},
	}
}
