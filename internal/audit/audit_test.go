package audit_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/dbtest"
	"github.com/sciflow/sciflow/internal/postgres"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const secret = "audit-test-secret-audit-test-secret!"

// appendEntries appends n entries to the "sessions" chain (failed logins
// under no account), each with the comment "step i", one transaction each.
func appendEntries(t *testing.T, db *postgres.DB, c *audit.Chain, from, n int) {
	t.Helper()
	ctx := context.Background()
	for i := from; i < from+n; i++ {
		tx, err := db.Begin(ctx)
		require.NoError(t, err)
		rec, err := c.Append(ctx, tx, audit.Entry{Kind: audit.KindLoginFailed, Comment: fmt.Sprintf("step %d", i), Subject: "someone"})
		require.NoError(t, err)
		require.Equal(t, audit.ChainSessions, rec.Chain)
		require.EqualValues(t, i, rec.ChainSeq)
		require.NoError(t, tx.Commit())
	}
}

func chainOf(t *testing.T, n int) (*postgres.DB, *audit.Chain) {
	t.Helper()
	db := dbtest.New(t)
	c := audit.New(secret)
	appendEntries(t, db, c, 1, n)
	return db, c
}

// tamper runs SQL as a superuser with the append-only triggers off, the way
// someone with full database access would.
func tamper(t *testing.T, db *postgres.DB, q string) {
	t.Helper()
	tables := []string{"audit_log", "audit_head", "audit_chains", "audit_seals", "audit_seal_chains", "audit_seal_head"}
	var off, on string
	for _, tb := range tables {
		off += "ALTER TABLE " + tb + " DISABLE TRIGGER USER; "
		on += "; ALTER TABLE " + tb + " ENABLE TRIGGER USER"
	}
	_, err := db.Exec(off + q + on)
	require.NoError(t, err)
}

func verify(t *testing.T, db *postgres.DB, c *audit.Chain) audit.Report {
	t.Helper()
	r, err := c.Verify(context.Background(), db)
	require.NoError(t, err)
	return r
}

// positions are the problems without the log's row numbers, which depend
// on what else the database holds: a chain position names an entry.
func positions(ps []audit.Problem) []audit.Problem {
	out := make([]audit.Problem, len(ps))
	for i, p := range ps {
		p.Seq = 0
		out[i] = p
	}
	return out
}

// seal seals until every chain written so far is sealed, and returns how
// many chains it sealed. A seal reaches only as far as the oldest writing
// transaction still running anywhere in the cluster (other tests' too), so
// it may take a few tries.
func seal(t *testing.T, db *postgres.DB, c *audit.Chain) int {
	t.Helper()
	total := 0
	for range 500 {
		n, err := c.Seal(context.Background(), db)
		require.NoError(t, err)
		total += n
		if verify(t, db, c).Unsealed == 0 {
			return total
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the chains were never sealed")
	return 0
}

func TestIntactChainVerifies(t *testing.T) {
	t.Parallel()
	db, c := chainOf(t, 5)
	r := verify(t, db, c)
	require.True(t, r.OK, "%+v", r.Problems)
	require.EqualValues(t, 5, r.Checked)
	require.EqualValues(t, 1, r.Chains)
	require.EqualValues(t, 1, r.Unsealed)

	require.Equal(t, 1, seal(t, db, c), "one chain written since no seal")
	require.Equal(t, 0, seal(t, db, c), "nothing new to seal")
	r = verify(t, db, c)
	require.True(t, r.OK, "%+v", r.Problems)
	require.EqualValues(t, 1, r.HeadCount)
	require.Len(t, r.HeadHash, 64)
	require.EqualValues(t, 0, r.Unsealed)
}

func TestEmptyChainVerifies(t *testing.T) {
	t.Parallel()
	db, c := chainOf(t, 0)
	require.True(t, verify(t, db, c).OK)
	require.Equal(t, 0, seal(t, db, c))
}

func TestTamperingIsReportedPrecisely(t *testing.T) {
	t.Parallel()
	const at = `chain = 'sessions' AND chain_seq `
	for _, tc := range []struct {
		name   string
		sealed bool // seal the five entries before tampering
		sql    string
		want   []audit.Problem
	}{
		{"altered comment", false, `UPDATE audit_log SET content = replace(content, 'step 3', 'step three') WHERE ` + at + `= 3`,
			[]audit.Problem{{Chain: "sessions", ChainSeq: 3, Kind: audit.ProblemAltered}}},
		{"deleted middle entry", false, `DELETE FROM audit_log WHERE ` + at + `= 3`,
			[]audit.Problem{{Chain: "sessions", ChainSeq: 3, Kind: audit.ProblemDeleted}}},
		{"deleted last entry", false, `DELETE FROM audit_log WHERE ` + at + `= 5`,
			[]audit.Problem{{Chain: "sessions", ChainSeq: 5, Kind: audit.ProblemTruncated}}},
		{"deleted last two entries", false, `DELETE FROM audit_log WHERE ` + at + `>= 4`,
			[]audit.Problem{{Chain: "sessions", ChainSeq: 4, Kind: audit.ProblemTruncated}, {Chain: "sessions", ChainSeq: 5, Kind: audit.ProblemTruncated}}},
		{"inserted forged entry", false, `INSERT INTO audit_log (content, prev_hash, hash)
			SELECT replace(content, '"chain_seq":5', '"chain_seq":6'), hash, hash FROM audit_log WHERE ` + at + `= 5`,
			[]audit.Problem{{Chain: "sessions", ChainSeq: 6, Kind: audit.ProblemAltered}, {Chain: "sessions", ChainSeq: 6, Kind: audit.ProblemInserted}}},
		{"head rewound to hide a truncation", false, `DELETE FROM audit_log WHERE ` + at + `= 5;
			UPDATE audit_chains SET count = 4, last_hash = (SELECT hash FROM audit_log WHERE ` + at + `= 4) WHERE chain = 'sessions'`,
			[]audit.Problem{{Chain: "sessions", ChainSeq: 4, Kind: audit.ProblemHead, Detail: "head signature does not match"}}},
		{"head deleted", false, `DELETE FROM audit_chains WHERE chain = 'sessions'`,
			[]audit.Problem{{Chain: "sessions", ChainSeq: 5, Kind: audit.ProblemHead, Detail: "the chain's head is missing"}}},
		{"whole chain and its head deleted after a seal", true, `DELETE FROM audit_log WHERE chain = 'sessions'; DELETE FROM audit_chains WHERE chain = 'sessions'`,
			[]audit.Problem{{Chain: "sessions", ChainSeq: 5, Seal: 1, Kind: audit.ProblemDeleted, Detail: "sealed in seal 1, gone from the log"}}},
		{"last seal deleted", true, `DELETE FROM audit_seals WHERE seq = 1`,
			[]audit.Problem{{Seal: 1, Kind: audit.ProblemTruncated}}},
		{"seal altered", true, `UPDATE audit_seals SET content = replace(content, '"count":5', '"count":4') WHERE seq = 1`,
			[]audit.Problem{{Seal: 1, Kind: audit.ProblemAltered}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db, c := chainOf(t, 5)
			if tc.sealed {
				require.Equal(t, 1, seal(t, db, c))
			}
			tamper(t, db, tc.sql)
			r := verify(t, db, c)
			require.False(t, r.OK)
			require.Equal(t, tc.want, positions(r.Problems))
		})
	}
}

// Entries newer than the last seal are protected by their chain's signed
// head: deleting every one of them is reported, by position.
func TestDeletingEverythingSinceTheLastSealIsReported(t *testing.T) {
	t.Parallel()
	db, c := chainOf(t, 3)
	require.Equal(t, 1, seal(t, db, c))
	appendEntries(t, db, c, 4, 2)
	tamper(t, db, `DELETE FROM audit_log WHERE chain_seq > 3`)
	r := verify(t, db, c)
	require.Equal(t, []audit.Problem{{Chain: "sessions", ChainSeq: 4, Kind: audit.ProblemTruncated},
		{Chain: "sessions", ChainSeq: 5, Kind: audit.ProblemTruncated}}, positions(r.Problems))
}

// Appends to different chains do not wait for each other, appends to one
// chain queue on its head, and the result verifies.
func TestConcurrentAppendsVerify(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	c := audit.New(secret)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 8 {
				tx, err := db.Begin(ctx)
				if err != nil {
					errs <- err
					return
				}
				// Half the writers share the accounts chain.
				e := audit.Entry{Kind: audit.KindLogin, ActorID: fmt.Sprintf("00000000-0000-0000-0000-00000000000%d", g)}
				if g%2 == 0 {
					e = audit.Entry{Kind: audit.KindUserChange, Subject: fmt.Sprint(g, i)}
				}
				if _, err := c.Append(ctx, tx, e); err != nil {
					errs <- err
				}
				errs <- tx.Commit()
			}
		}()
		if g == 3 {
			seal(t, db, c)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	seal(t, db, c)
	r := verify(t, db, c)
	require.True(t, r.OK, "%+v", r.Problems)
	require.EqualValues(t, 64, r.Checked)
	require.EqualValues(t, 5, r.Chains, "four users' sessions and the accounts")
	require.EqualValues(t, 0, r.Unsealed)
}

// The entries written before per-chain hashing keep verifying as the one
// chain they were, against the head they had, which is frozen now.
func TestLegacyChainVerifies(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	c := audit.New(secret)
	// As the single chain wrote them: seq in the content, each linked to
	// the one before, and the head signed over count and last hash.
	mac := func(parts ...[]byte) []byte {
		m := hmac.New(sha256.New, []byte(secret))
		for _, p := range parts {
			m.Write(p)
		}
		return m.Sum(nil)
	}
	prev := []byte{}
	for i := int64(1); i <= 3; i++ {
		content := fmt.Sprintf(`{"seq":%d,"at_us":1700000000000000,"kind":"login.failed","comment":"old %d"}`, i, i)
		hash := mac(prev, []byte(content))
		_, err := db.Exec(`INSERT INTO audit_log (seq, content, prev_hash, hash) VALUES ($1, $2, $3, $4)`, i, content, prev, hash)
		require.NoError(t, err)
		prev = hash
	}
	count := make([]byte, 8)
	binary.BigEndian.PutUint64(count, 3)
	_, err := db.Exec(`INSERT INTO audit_head (count, last_hash, signature) VALUES (3, $1, $2)`, prev,
		mac([]byte("sciflow audit head\x00"), count, prev))
	require.NoError(t, err)
	_, err = db.Exec(`SELECT setval(pg_get_serial_sequence('audit_log', 'seq'), 3)`)
	require.NoError(t, err)
	appendEntries(t, db, c, 1, 2)
	r := verify(t, db, c)
	require.True(t, r.OK, "%+v", r.Problems)
	require.EqualValues(t, 5, r.Checked)
	require.EqualValues(t, 2, r.Chains)

	tamper(t, db, `UPDATE audit_log SET content = replace(content, 'old 2', 'new 2') WHERE seq = 2`)
	require.Equal(t, []audit.Problem{{Seq: 2, Kind: audit.ProblemAltered}}, verify(t, db, c).Problems)
}

func TestAuditTablesRefuseChanges(t *testing.T) {
	t.Parallel()
	db, c := chainOf(t, 2)
	seal(t, db, c)
	for _, q := range []string{
		`UPDATE audit_log SET content = '{}' WHERE chain_seq = 1`,
		`DELETE FROM audit_log WHERE chain_seq = 2`,
		`TRUNCATE audit_log`,
		`DELETE FROM audit_chains`,
		`TRUNCATE audit_chains`,
		`UPDATE audit_seals SET content = '{}'`,
		`DELETE FROM audit_seals`,
		`DELETE FROM audit_seal_chains`,
		`TRUNCATE audit_seal_chains`,
		`DELETE FROM audit_seal_head`,
	} {
		_, err := db.Exec(q)
		require.ErrorContains(t, err, "append-only", q)
	}
}

// A chain's record finds the last seal that names it, through the seals'
// list of chains, and the one before when that seal was deleted.
func TestAChainFindsItsLastSeal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, c := chainOf(t, 2)
	seal(t, db, c)
	appendEntries(t, db, c, 3, 2)
	seal(t, db, c)
	r, err := c.VerifyChain(ctx, db, audit.ChainSessions)
	require.NoError(t, err)
	require.True(t, r.OK, "%+v", r.Problems)
	require.NotNil(t, r.Seal)
	require.EqualValues(t, 2, r.Seal.Seq)
	require.EqualValues(t, 4, r.Seal.Count)

	tamper(t, db, `DELETE FROM audit_seals WHERE seq = 2`)
	r, err = c.VerifyChain(ctx, db, audit.ChainSessions)
	require.NoError(t, err)
	require.NotNil(t, r.Seal)
	require.EqualValues(t, 1, r.Seal.Seq, "the seal still there")
	require.EqualValues(t, 2, r.Seal.Count)
}
