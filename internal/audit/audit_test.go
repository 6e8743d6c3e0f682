package audit_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/dbtest"
	"github.com/sciflow/sciflow/internal/postgres"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const secret = "audit-test-secret-audit-test-secret!"

// chainOf appends n entries, each with the comment "step i".
func chainOf(t *testing.T, n int) (*postgres.DB, *audit.Chain) {
	t.Helper()
	db := dbtest.New(t)
	c := audit.New(secret)
	ctx := context.Background()
	for i := 1; i <= n; i++ {
		tx, err := db.Begin(ctx)
		require.NoError(t, err)
		rec, err := c.Append(ctx, tx, audit.Entry{Kind: audit.KindLogin, Comment: fmt.Sprintf("step %d", i), Subject: "someone"})
		require.NoError(t, err)
		require.EqualValues(t, i, rec.Seq)
		require.NoError(t, tx.Commit())
	}
	return db, c
}

// tamper runs SQL as a superuser with the append-only triggers off, the way
// someone with full database access would.
func tamper(t *testing.T, db *postgres.DB, q string) {
	t.Helper()
	_, err := db.Exec(`ALTER TABLE audit_log DISABLE TRIGGER USER; ALTER TABLE audit_head DISABLE TRIGGER USER;` + q +
		`; ALTER TABLE audit_log ENABLE TRIGGER USER; ALTER TABLE audit_head ENABLE TRIGGER USER`)
	require.NoError(t, err)
}

func verify(t *testing.T, db *postgres.DB, c *audit.Chain) audit.Report {
	t.Helper()
	r, err := c.Verify(context.Background(), db)
	require.NoError(t, err)
	return r
}

func TestIntactChainVerifies(t *testing.T) {
	t.Parallel()
	db, c := chainOf(t, 5)
	r := verify(t, db, c)
	require.True(t, r.OK, "%+v", r.Problems)
	require.EqualValues(t, 5, r.Checked)
	require.EqualValues(t, 5, r.HeadCount)
	require.Len(t, r.HeadHash, 64)
}

func TestEmptyChainVerifies(t *testing.T) {
	t.Parallel()
	db, c := chainOf(t, 0)
	require.True(t, verify(t, db, c).OK)
}

func TestTamperingIsReportedPrecisely(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		sql  string
		want []audit.Problem
	}{
		{"altered comment", `UPDATE audit_log SET content = replace(content, 'step 3', 'step three') WHERE seq = 3`,
			[]audit.Problem{{Seq: 3, Kind: audit.ProblemAltered}}},
		{"deleted middle entry", `DELETE FROM audit_log WHERE seq = 3`,
			[]audit.Problem{{Seq: 3, Kind: audit.ProblemDeleted}}},
		{"deleted last entry", `DELETE FROM audit_log WHERE seq = 5`,
			[]audit.Problem{{Seq: 5, Kind: audit.ProblemTruncated}}},
		{"deleted last two entries", `DELETE FROM audit_log WHERE seq >= 4`,
			[]audit.Problem{{Seq: 4, Kind: audit.ProblemTruncated}, {Seq: 5, Kind: audit.ProblemTruncated}}},
		{"inserted forged entry", `INSERT INTO audit_log (seq, content, prev_hash, hash)
			SELECT 6, replace(content, '"seq":5', '"seq":6'), hash, hash FROM audit_log WHERE seq = 5`,
			[]audit.Problem{{Seq: 6, Kind: audit.ProblemAltered}, {Seq: 6, Kind: audit.ProblemInserted}}},
		{"head rewound to hide a truncation", `DELETE FROM audit_log WHERE seq = 5;
			UPDATE audit_head SET count = 4, last_hash = (SELECT hash FROM audit_log WHERE seq = 4)`,
			[]audit.Problem{{Seq: 4, Kind: audit.ProblemHead, Detail: "head signature does not match"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db, c := chainOf(t, 5)
			tamper(t, db, tc.sql)
			r := verify(t, db, c)
			require.False(t, r.OK)
			require.Equal(t, tc.want, r.Problems)
		})
	}
}

func TestAuditLogRefusesChanges(t *testing.T) {
	t.Parallel()
	db, _ := chainOf(t, 2)
	for _, q := range []string{
		`UPDATE audit_log SET content = '{}' WHERE seq = 1`,
		`DELETE FROM audit_log WHERE seq = 2`,
		`TRUNCATE audit_log`,
		`DELETE FROM audit_head`,
	} {
		_, err := db.Exec(q)
		require.ErrorContains(t, err, "append-only", q)
	}
}
