package postgres_test

import (
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/dbtest"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/postgres"
)

const listSecret = "a secret for the listing tests, long enough"

// writer appends test entries, each on a chain of its own (so that no
// writer waits for another's chain head), in transactions it keeps open as
// long as a test needs.
type writer struct {
	t     testing.TB
	db    *postgres.DB
	chain *audit.Chain
}

// begin starts a transaction; early takes its transaction id at once, as a
// transaction that changes something before it appends does.
func (w writer) begin(early bool) *postgres.Tx {
	tx, err := w.db.Begin(context.Background())
	require.NoError(w.t, err)
	if early {
		_, err = tx.ExecContext(context.Background(), `SELECT pg_current_xact_id()`)
		require.NoError(w.t, err)
	}
	return tx
}

// add appends an entry whose comment is comment, and has it inserted now
// (its seq taken) although tx goes on: reading the log flushes what tx
// appended.
func (w writer) add(tx *postgres.Tx, comment string) {
	ctx := context.Background()
	var b [16]byte
	rand.Read(b[:])
	appID := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	_, err := w.chain.Append(ctx, tx, audit.Entry{Kind: audit.KindDataPatch, ApplicationID: appID, Comment: comment})
	require.NoError(w.t, err)
	_, err = tx.ActedSince(ctx, appID, 0)
	require.NoError(w.t, err)
}

func (w writer) commit(tx *postgres.Tx) { require.NoError(w.t, tx.Commit()) }

// reader pages through the log from where it last stopped, as a client
// holding a cursor does.
type reader struct {
	t      testing.TB
	db     *postgres.DB
	cursor int64
	seen   []string // comments, in listing order
}

// pages reads the pages after the cursor until one comes back short.
func (r *reader) pages(limit int) {
	for {
		rows, err := r.db.AuditEntries(context.Background(), postgres.AuditQuery{AfterSeq: r.cursor, Limit: limit})
		require.NoError(r.t, err)
		for _, row := range rows {
			rec, err := audit.Decode(row)
			require.NoError(r.t, err)
			r.seen = append(r.seen, rec.Comment)
			r.cursor = row.Seq
		}
		if len(rows) < limit {
			return
		}
	}
}

func (r *reader) saw(comment string) bool {
	for _, c := range r.seen {
		if c == comment {
			return true
		}
	}
	return false
}

// An entry's seq is taken at insert, its transaction commits later. Paging
// by seq alone, a reader that has passed seq n never sees an entry with a
// lower seq committed afterwards. The listing must not lose it: here the
// entry inserted first ("slow") commits last, after one ("quick") from a
// transaction that took its id earlier but inserted later, and after
// others that began after it, while a reader pages through.
func TestAuditListingSkipsNothingCommittedLate(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	w := writer{t: t, db: db, chain: audit.New(listSecret)}
	r := &reader{t: t, db: db}

	tx := w.begin(false)
	w.add(tx, "first")
	w.commit(tx)

	quick := w.begin(true) // its id first...
	slow := w.begin(false)
	w.add(slow, "slow") // ...but slow's entry gets the lower seq
	w.add(quick, "quick")
	w.commit(quick)
	for i := range 3 {
		tx := w.begin(false)
		w.add(tx, fmt.Sprintf("later %d", i))
		w.commit(tx)
	}

	// While slow is open, quick's entry is final (its transaction took its
	// id before slow's and has ended), the later ones are not yet. Another
	// database's transaction that ends while a listing reads the horizon
	// counts as this one's for that listing, so read until quick's entry
	// shows.
	for range 20 {
		if r.pages(1); r.saw("quick") {
			break
		}
	}
	require.Equal(t, []string{"first", "quick"}, r.seen, "slow's and the later entries wait for slow")

	tx = w.begin(false)
	w.add(tx, "after")
	w.commit(tx)
	w.commit(slow)
	r.pages(2)
	require.Equal(t, []string{"first", "quick", "slow", "later 0", "later 1", "later 2", "after"}, r.seen,
		"nothing skipped, nothing twice, in the order the transactions took their ids")
}

// Writers interleave at random, some rolling back, while a reader pages
// through: in the end the reader has seen every committed entry once and
// no rolled-back one.
func TestAuditListingUnderConcurrentWriters(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	w := writer{t: t, db: db, chain: audit.New(listSecret)}
	r := &reader{t: t, db: db}

	const writers, each = 6, 12
	var (
		mu        sync.Mutex
		committed = map[string]bool{}
		wg        sync.WaitGroup
	)
	for n := range writers {
		wg.Go(func() {
			for i := range each {
				tx := w.begin(mrand.IntN(2) == 0)
				time.Sleep(time.Duration(mrand.IntN(3)) * time.Millisecond)
				var mine []string
				for j := range 1 + mrand.IntN(2) {
					c := fmt.Sprintf("w%d.%d.%d", n, i, j)
					w.add(tx, c)
					mine = append(mine, c)
				}
				time.Sleep(time.Duration(mrand.IntN(6)) * time.Millisecond)
				if i%5 == 4 {
					tx.Rollback()
					continue
				}
				w.commit(tx)
				mu.Lock()
				for _, c := range mine {
					committed[c] = true
				}
				mu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for reading := true; reading; {
		select {
		case <-done:
			reading = false
		default:
			r.pages(3)
		}
	}
	r.pages(3) // what committed since the last page: every writer has ended

	count := map[string]int{}
	for _, c := range r.seen {
		count[c]++
	}
	for c, n := range count {
		require.Equal(t, 1, n, "%s listed %d times", c, n)
		require.True(t, committed[c], "%s was rolled back but listed", c)
	}
	require.Len(t, count, len(committed), "every committed entry listed")
}

// q finds entries by their comment or a text value of their data, in any
// case, Chinese included, taking % and _ literally; for administrators only
// entries not about an application.
func TestAuditSearch(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	chain := audit.New(listSecret)
	app := "11111111-1111-4111-8111-111111111111"
	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	for _, e := range []audit.Entry{
		{Kind: audit.KindTransition, ApplicationID: app, AppSeq: 1, Event: "submit", Comment: "请补充中试合同 Pilot Contract"},
		{Kind: engine.KindObjection, ApplicationID: app, AppSeq: 2, Data: map[string]any{"reason": "与评审专家存在利害关系",
			"objector": map[string]any{"name": "张三", "phone": "13800138000"}}},
		{Kind: audit.KindUserChange, Subject: "u1", Data: map[string]any{"name": "李四", "note": "100% 完成_备注"}},
	} {
		_, err := chain.Append(ctx, tx, e)
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit())

	find := func(q string, admin bool) []string {
		rows, err := db.AuditEntries(ctx, postgres.AuditQuery{Search: q, SearchOutsideApplications: admin, Limit: 10})
		require.NoError(t, err)
		var kinds []string
		for _, row := range rows {
			rec, err := audit.Decode(row)
			require.NoError(t, err)
			kinds = append(kinds, rec.Kind)
		}
		return kinds
	}
	for _, c := range []struct {
		q     string
		admin bool
		want  []string
	}{
		{"中试合同", false, []string{audit.KindTransition}},
		{"pilot contract", false, []string{audit.KindTransition}},
		{"利害关系", false, []string{engine.KindObjection}},
		{"13800138000", false, []string{engine.KindObjection}}, // nested in the data
		{"张三", false, []string{engine.KindObjection}},
		{"objector", false, nil}, // a key, not a value
		{"submit", false, nil},   // the event, not the comment
		{"100%", false, []string{audit.KindUserChange}},
		{"0%", false, []string{audit.KindUserChange}},
		{"%", false, []string{audit.KindUserChange}}, // literally
		{"_", false, []string{audit.KindUserChange}},
		{"完成_备", false, []string{audit.KindUserChange}},
		{"完成x备", false, nil},
		{"中试合同", true, nil}, // administrators may not read it, so may not find by it
		{"张三", true, nil},
		{"李四", true, []string{audit.KindUserChange}},
	} {
		require.Equal(t, c.want, find(c.q, c.admin), "q=%q admin=%v", c.q, c.admin)
	}

	_, err = db.AuditEntries(ctx, postgres.AuditQuery{Search: strings.Repeat("长", postgres.MaxAuditSearch+1), Limit: 10})
	require.Equal(t, errs.BadRequest, errs.CodeOf(err))
	_, err = db.AuditEntries(ctx, postgres.AuditQuery{AfterSeq: 1 << 40, Limit: 10})
	require.Equal(t, errs.BadRequest, errs.CodeOf(err), "a cursor naming no entry")
}
