package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/pgtest"
	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/sync/outbox"
	"github.com/admitpark/admit/validator/ticket"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// TestWriteReadMark: rows written by the Write functions and a row as
// older code inserted it are read back in seq order, decode, and are marked
// sent; a given-up row carries its note and the audit_log entry sales'
// audit.Record would have written for the relay.
func TestWriteReadMark(t *testing.T) {
	ctx := t.Context()
	pool := pgtest.NewDB(t)
	issue, err := outbox.DecodeTicket([]byte(oldIssue))
	if err != nil {
		t.Fatal(err)
	}
	id, err := ticket.ParseID(issue.ID)
	if err != nil {
		t.Fatal(err)
	}
	// An issue row as sales/orders inserted it before this package.
	var oldSeq int64
	if err := pool.QueryRow(ctx, `INSERT INTO outbox (kind, ticket_id, version, payload) VALUES ('issue', $1, 1, $2) RETURNING seq`,
		id, []byte(oldIssue)).Scan(&oldSeq); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	var seqs []int64
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		s1, err := outbox.WriteRevoke(ctx, tx, "", id, outbox.Change{Version: 3})
		if err != nil {
			return err
		}
		again, err := outbox.WriteRevoke(ctx, tx, "", id, outbox.Change{Version: 3})
		if err != nil || again != 0 {
			return fmt.Errorf("second revoke at version 3: seq %d, %v; want none written", again, err)
		}
		s2, err := outbox.WriteUpdate(ctx, tx, "", id, outbox.Change{Version: 4, Op: "extend", ValidUntil: at})
		if err != nil {
			return err
		}
		s3, err := outbox.WriteConfigure(ctx, tx, outbox.Configure{Zones: []outbox.Zone{{ID: "main", Cap: 20000, Warn: 18000}}})
		if err != nil {
			return err
		}
		reprint, err := outbox.DecodeTicket([]byte(oldReprint))
		if err != nil {
			return err
		}
		s4, err := outbox.WriteIssue(ctx, tx, reprint, at)
		if err != nil {
			return err
		}
		bad := reprint
		bad.Version = 5 // the code is for version 2
		if _, err := outbox.WriteIssue(ctx, tx, bad, time.Time{}); !errors.Is(err, outbox.ErrInvalidTicket) {
			return fmt.Errorf("WriteIssue of a ticket the cluster would refuse: %v", err)
		}
		seqs = []int64{oldSeq, s1, s2, s3, s4}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	rows, err := outbox.LoadUnsent(ctx, pool, 100)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	var got []int64
	for _, r := range rows {
		kinds, got = append(kinds, r.Kind), append(got, r.Seq)
	}
	if !reflect.DeepEqual(got, seqs) || !reflect.DeepEqual(kinds, []string{"issue", "revoke", "update", "configure", "issue"}) {
		t.Fatalf("LoadUnsent: seqs %v kinds %v; want %v", got, kinds, seqs)
	}
	if tk, err := outbox.DecodeTicket(rows[0].Payload); err != nil || !sameTicket(tk, issue) || rows[0].Ticket() != issue.ID || rows[0].Version != 1 {
		t.Errorf("old issue row: %+v, %v", tk, err)
	}
	if c, err := outbox.DecodeChange(rows[1].Payload); err != nil || c != (outbox.Change{Version: 3}) || rows[1].Version != 3 || !rows[1].HasTicket {
		t.Errorf("revoke row: %+v %+v, %v", rows[1], c, err)
	}
	if c, err := outbox.DecodeChange(rows[2].Payload); err != nil || c.Op != "extend" || !c.ValidUntil.Equal(at) {
		t.Errorf("update row: %+v, %v", c, err)
	}
	if c, err := outbox.DecodeConfigure(rows[3].Payload); err != nil || c.Zones[0] != (outbox.Zone{ID: "main", Cap: 20000, Warn: 18000}) ||
		rows[3].HasTicket || rows[3].Version != 0 {
		t.Errorf("configure row: %+v %+v, %v", rows[3], c, err)
	}
	if tk, err := outbox.DecodeTicket(rows[4].Payload); err != nil || tk.Version != 2 || !rows[4].CreatedAt.Equal(at) || rows[4].Version != 2 {
		t.Errorf("reprint row: %+v created %v, %v", tk, rows[4].CreatedAt, err)
	}
	if pending, err := outbox.IssuePending(ctx, pool, id); err != nil || !pending {
		t.Errorf("IssuePending = %v, %v", pending, err)
	}

	ages, err := outbox.MarkSent(ctx, pool, []int64{seqs[0], seqs[4]})
	if err != nil || len(ages) != 2 {
		t.Fatalf("MarkSent: %v, %v", ages, err)
	}
	if ages, err := outbox.MarkSent(ctx, pool, []int64{seqs[0]}); err != nil || len(ages) != 0 {
		t.Fatalf("MarkSent of a sent row: %v, %v; want no row marked", ages, err)
	}
	if pending, err := outbox.IssuePending(ctx, pool, id); err != nil || pending {
		t.Errorf("IssuePending after the issues were sent = %v, %v", pending, err)
	}
	if ages, err := outbox.GiveUp(ctx, pool, rows[1], "unknown"); err != nil || len(ages) != 1 {
		t.Fatalf("GiveUp: %v, %v", ages, err)
	}
	if n, err := outbox.Backlog(ctx, pool); err != nil || n != 2 {
		t.Fatalf("Backlog = %d, %v; want 2", n, err)
	}
	var note string
	if err := pool.QueryRow(ctx, `SELECT note FROM outbox WHERE seq = $1 AND sent_at IS NOT NULL`, seqs[1]).Scan(&note); err != nil || note != "unknown" {
		t.Fatalf("note %q, %v", note, err)
	}

	// The audit row is the one sales/audit.Record writes for the relay's
	// principal.
	details := map[string]any{"kind": "revoke", "ticket": issue.ID, "outcome": "unknown", "payload": json.RawMessage(rows[1].Payload)}
	if err := audit.Record(ctx, pool, web.Principal{Username: "sync-relay", Role: "system"}, "sync.outbox.given_up", "outbox",
		fmt.Sprint(seqs[1]), details); err != nil {
		t.Fatal(err)
	}
	type auditRow struct {
		UserID, KeyID                       *int64
		Action, Type, Object, Details, Addr string
	}
	list, err := pool.Query(ctx, `SELECT user_id, api_key_id, action, object_type, object_id, details::text, remote_addr
		FROM audit_log WHERE action = 'sync.outbox.given_up' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	audits, err := pgx.CollectRows(list, func(r pgx.CollectableRow) (auditRow, error) {
		var a auditRow
		return a, r.Scan(&a.UserID, &a.KeyID, &a.Action, &a.Type, &a.Object, &a.Details, &a.Addr)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(audits) != 2 || !reflect.DeepEqual(audits[0], audits[1]) {
		t.Fatalf("audit rows (GiveUp, then audit.Record):\n%+v", audits)
	}
	t.Logf("audit row: %+v", audits[0])
}

// TestWriteInRolledBackTx: a row commits or rolls back with the caller's
// transaction.
func TestWriteInRolledBackTx(t *testing.T) {
	ctx := t.Context()
	pool := pgtest.NewDB(t)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := outbox.WriteConfigure(ctx, tx, outbox.Configure{TimeZone: "Asia/Shanghai"}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, err := outbox.Backlog(ctx, pool); err != nil || n != 0 {
		t.Fatalf("Backlog after rollback = %d, %v", n, err)
	}
	if _, err := outbox.WriteConfigure(ctx, pool, outbox.Configure{}); !errors.Is(err, outbox.ErrPayload) {
		t.Fatalf("empty configure: %v", err)
	}
}
