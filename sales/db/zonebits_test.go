package db

import (
	"encoding/json"
	"testing"
	"testing/fstest"
)

// TestZoneBitsSentToTheClusterOnce: the migration that sends zones' bits
// writes one configure row per zone with a bit, in the payload catalog
// writes (sync/outbox Configure), so that a cluster that learnt its zones
// before bits were sent learns them.
func TestZoneBitsSentToTheClusterOnce(t *testing.T) {
	pool := newDB(t)
	all, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	target := -1
	before := fstest.MapFS{}
	for _, m := range all {
		if m.Name == "zone_bits_to_cluster" {
			target = m.Version
		}
		if target < 0 {
			before[m.File] = &fstest.MapFile{Data: []byte(m.SQL)}
		}
	}
	if target < 0 {
		t.Fatal("no zone_bits_to_cluster migration")
	}
	if _, err := migrateFS(t.Context(), pool, before); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(t.Context(), `INSERT INTO parks (id, name, time_zone) VALUES ('sea', 'Sea', 'Asia/Shanghai');
		INSERT INTO zones (park_id, id, name, cap, warn, bit) VALUES ('sea', 'main', 'Main', 500, 400, 0), ('sea', 'aqua', 'Aqua', 0, 0, 1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := Migrate(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(t.Context(), `SELECT kind, park_id, payload::text FROM outbox ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type zone struct {
		ID   string `json:"id"`
		Cap  int    `json:"cap"`
		Warn int    `json:"warn"`
		Bit  *int   `json:"bit"`
	}
	var got []zone
	for rows.Next() {
		var kind, park, payload string
		if err := rows.Scan(&kind, &park, &payload); err != nil {
			t.Fatal(err)
		}
		var p struct {
			Park  string `json:"park"`
			Zones []zone `json:"zones"`
		}
		if err := json.Unmarshal([]byte(payload), &p); err != nil || kind != "configure" || park != "sea" || p.Park != "sea" || len(p.Zones) != 1 {
			t.Fatalf("outbox row %s %s %s (%v)", kind, park, payload, err)
		}
		got = append(got, p.Zones[0])
	}
	if len(got) != 2 || got[0].ID != "main" || got[0].Cap != 500 || got[0].Warn != 400 || got[0].Bit == nil || *got[0].Bit != 0 ||
		got[1].ID != "aqua" || got[1].Bit == nil || *got[1].Bit != 1 {
		t.Fatalf("zones sent: %+v", got)
	}
}
