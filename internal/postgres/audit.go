package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sciflow/sciflow/internal/errs"
)

// AuditRow is one stored entry of the audit chain. Chain and ChainSeq are
// read from the content; both are empty for entries of the legacy chain.
type AuditRow struct {
	Seq      int64          `db:"seq"`
	Chain    sql.NullString `db:"chain"`
	ChainSeq sql.NullInt64  `db:"chain_seq"`
	Content  string         `db:"content"`
	PrevHash []byte         `db:"prev_hash"`
	Hash     []byte         `db:"hash"`
	// RedactedSHA256 is, for an entry whose personal data was redacted,
	// the digest of its original content; RedactionSig binds the redacted
	// content to the entry's hash (audit.Chain.Redact). Both nil otherwise.
	RedactedSHA256 []byte `db:"redacted_sha256"`
	RedactionSig   []byte `db:"redaction_sig"`
}

// AuditHead is the legacy chain's signed summary: the single chain every
// entry joined before migration 008; frozen since.
type AuditHead struct {
	Count     int64  `db:"count"`
	LastHash  []byte `db:"last_hash"`
	Signature []byte `db:"signature"`
}

// ChainHead is one audit chain's signed summary: how many entries it has
// and the last one's hash.
type ChainHead struct {
	Chain     string `db:"chain"`
	Count     int64  `db:"count"`
	LastHash  []byte `db:"last_hash"`
	Signature []byte `db:"signature"`
}

// auditBatch is a transaction's audit work: the heads it holds and the
// entries appended since the last write, written together in one statement.
type auditBatch struct {
	heads  map[string]ChainHead
	staged []stagedEntry
	// ctx is the context of the latest append, used by the write at Commit.
	ctx context.Context
}

type stagedEntry struct {
	content        string
	prevHash, hash []byte
}

// knowHead records a head read under lock in this transaction.
func (tx *Tx) knowHead(h ChainHead) {
	if tx.audit.heads == nil {
		tx.audit.heads = map[string]ChainHead{}
	}
	tx.audit.heads[h.Chain] = h
}

// LockChainHead returns chain's head, locked until the transaction ends:
// the one already read under lock in this transaction (an application's,
// by LockApplication), else read now, creating the chain on first use.
func (tx *Tx) LockChainHead(ctx context.Context, chain string) (ChainHead, error) {
	if h, ok := tx.audit.heads[chain]; ok {
		return h, nil
	}
	const sel = `SELECT chain, count, last_hash, signature FROM audit_chains WHERE chain = $1 FOR UPDATE`
	var h ChainHead
	err := tx.GetContext(ctx, &h, sel, chain)
	if errors.Is(err, sql.ErrNoRows) {
		const ins = `INSERT INTO audit_chains (chain, count, last_hash, signature) VALUES ($1, 0, '', '') ON CONFLICT (chain) DO NOTHING`
		if _, err := tx.ExecContext(ctx, ins, chain); err != nil {
			return h, mapError("create audit chain", err)
		}
		err = tx.GetContext(ctx, &h, sel, chain)
	}
	if err != nil {
		return h, mapError("lock audit chain head", err)
	}
	tx.knowHead(h)
	return h, nil
}

// StageAudit appends an entry to its chain, whose head the caller locked,
// and moves the head. The entries are written at Commit (or before the
// transaction next reads the log), all in one statement.
func (tx *Tx) StageAudit(ctx context.Context, content string, prevHash, hash []byte, head ChainHead) {
	if prevHash == nil {
		prevHash = []byte{} // a chain's first entry follows nothing, which is not NULL
	}
	tx.audit.staged = append(tx.audit.staged, stagedEntry{content: content, prevHash: prevHash, hash: hash})
	tx.knowHead(head)
	tx.audit.ctx = ctx
}

// flushAudit writes the staged entries and the heads they moved: one
// statement, however many entries and chains.
func (tx *Tx) flushAudit() error {
	with, args := tx.auditWrite()
	if with == "" {
		return nil
	}
	if _, err := tx.execPrepared(tx.audit.ctx, with+` SELECT 1`, args...); err != nil {
		return mapError("write audit entries", err)
	}
	tx.audit.written()
	return nil
}

// auditWrite is the WITH clause that writes the staged entries and moves
// their chains' heads, with its arguments (from $1), for a statement of its
// own or to lead another; "" when nothing is staged. Plain VALUES lists, not
// arrays: hashes then travel as bytes, and the text for a count of entries
// and heads is built once.
func (tx *Tx) auditWrite() (string, []any) {
	b := &tx.audit
	if len(b.staged) == 0 {
		return "", nil
	}
	moved := 0
	for _, h := range b.heads {
		if h.Signature != nil {
			moved++
		}
	}
	args := make([]any, 0, 3*len(b.staged)+4*moved)
	for _, e := range b.staged {
		args = append(args, e.content, e.prevHash, e.hash)
	}
	for _, h := range b.heads {
		if h.Signature != nil { // else read, not moved
			args = append(args, h.Chain, h.Count, h.LastHash, h.Signature)
		}
	}
	return auditWriteSQL(len(b.staged), moved), args
}

type auditWriteShape struct{ entries, heads int }

var auditWriteSQLs sync.Map // auditWriteShape → string

func auditWriteSQL(entries, heads int) string {
	k := auditWriteShape{entries, heads}
	if q, ok := auditWriteSQLs.Load(k); ok {
		return q.(string)
	}
	var q strings.Builder
	q.WriteString("\nWITH audit_entries AS (\n    INSERT INTO audit_log (content, prev_hash, hash) VALUES ")
	n := 0
	for i := range entries {
		if i > 0 {
			q.WriteString(", ")
		}
		fmt.Fprintf(&q, "($%d, $%d::bytea, $%d::bytea)", n+1, n+2, n+3)
		n += 3
	}
	q.WriteString("\n), audit_heads AS (\n    UPDATE audit_chains c SET count = h.count, last_hash = h.last_hash, signature = h.signature,\n" +
		"        written_xid = pg_current_xact_id()\n    FROM (VALUES ")
	for i := range heads {
		if i > 0 {
			q.WriteString(", ")
		}
		fmt.Fprintf(&q, "($%d::text, $%d::bigint, $%d::bytea, $%d::bytea)", n+1, n+2, n+3, n+4)
		n += 4
	}
	q.WriteString(") AS h(chain, count, last_hash, signature)\n    WHERE c.chain = h.chain\n)")
	auditWriteSQLs.Store(k, q.String())
	return q.String()
}

// written forgets the staged entries once a statement has written them;
// the heads stay known, as moved.
func (b *auditBatch) written() {
	b.staged = b.staged[:0]
	for k, h := range b.heads {
		h.Signature = nil
		b.heads[k] = h
	}
}

// LegacyHead reads the legacy chain's head; ok is false when there is none.
func (tx *Tx) LegacyHead(ctx context.Context) (h AuditHead, ok bool, err error) {
	err = tx.GetContext(ctx, &h, `SELECT count, last_hash, signature FROM audit_head WHERE id`)
	if errors.Is(err, sql.ErrNoRows) {
		return h, false, nil
	}
	if err != nil {
		return h, false, mapError("read audit head", err)
	}
	return h, true, nil
}

// ScanLegacyAudit calls fn for every entry of the legacy chain in seq
// order, streaming so that a chain of millions needs the memory of one.
func (tx *Tx) ScanLegacyAudit(ctx context.Context, fn func(AuditRow) error) error {
	return scanAudit(ctx, tx, `SELECT seq, chain, chain_seq, content, prev_hash, hash, redacted_sha256, redaction_sig FROM audit_log WHERE chain IS NULL ORDER BY seq`, fn)
}

// ChainEntry is an entry of a chain with the chain's head beside it; Row is
// empty for a head whose entries are all gone, Head for entries whose head
// is gone.
type ChainEntry struct {
	Row  AuditRow
	Head ChainHead
	// HasHead is false when the chain's head row is missing.
	HasHead bool
}

// ScanChains calls fn for every entry of every chain, by chain and
// position, each with its chain's head, and once for each head whose chain
// has no entries; streamed.
func (tx *Tx) ScanChains(ctx context.Context, fn func(ChainEntry) error) error {
	const q = `
SELECT l.seq, coalesce(l.chain, h.chain) AS chain, l.chain_seq, coalesce(l.content, '') AS content,
    coalesce(l.prev_hash, '') AS prev_hash, coalesce(l.hash, '') AS hash, l.redacted_sha256, l.redaction_sig,
    h.chain IS NOT NULL AS has_head, coalesce(h.count, 0) AS head_count,
    coalesce(h.last_hash, '') AS head_hash, coalesce(h.signature, '') AS head_signature
FROM (SELECT * FROM audit_log WHERE chain IS NOT NULL) l
FULL JOIN (SELECT * FROM audit_chains WHERE count > 0) h ON h.chain = l.chain
ORDER BY 2, l.chain_seq`
	rows, err := tx.QueryxContext(ctx, q)
	if err != nil {
		return mapError("scan audit chains", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r struct {
			Seq           sql.NullInt64 `db:"seq"`
			Chain         string        `db:"chain"`
			ChainSeq      sql.NullInt64 `db:"chain_seq"`
			Content       string        `db:"content"`
			PrevHash      []byte        `db:"prev_hash"`
			Hash          []byte        `db:"hash"`
			RedactedSHA   []byte        `db:"redacted_sha256"`
			RedactionSig  []byte        `db:"redaction_sig"`
			HasHead       bool          `db:"has_head"`
			HeadCount     int64         `db:"head_count"`
			HeadHash      []byte        `db:"head_hash"`
			HeadSignature []byte        `db:"head_signature"`
		}
		if err := rows.StructScan(&r); err != nil {
			return mapError("scan audit chain entry", err)
		}
		e := ChainEntry{HasHead: r.HasHead,
			Head: ChainHead{Chain: r.Chain, Count: r.HeadCount, LastHash: r.HeadHash, Signature: r.HeadSignature}}
		if r.Seq.Valid {
			e.Row = AuditRow{Seq: r.Seq.Int64, Chain: sql.NullString{String: r.Chain, Valid: true}, ChainSeq: r.ChainSeq,
				Content: r.Content, PrevHash: r.PrevHash, Hash: r.Hash, RedactedSHA256: r.RedactedSHA, RedactionSig: r.RedactionSig}
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return mapError("scan audit chains", rows.Err())
}

func scanAudit(ctx context.Context, tx *Tx, q string, fn func(AuditRow) error, args ...any) error {
	rows, err := tx.QueryxContext(ctx, q, args...)
	if err != nil {
		return mapError("scan audit log", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r AuditRow
		if err := rows.StructScan(&r); err != nil {
			return mapError("scan audit entry", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return mapError("scan audit log", rows.Err())
}

// ActedSince reports whether anything was recorded about an application
// after the chain entry seq, other than the expert draws that a stage's
// opening makes by itself.
func (tx *Tx) ActedSince(ctx context.Context, appID string, seq int64) (bool, error) {
	if err := tx.flushAudit(); err != nil {
		return false, err
	}
	const q = `SELECT EXISTS (SELECT 1 FROM audit_log WHERE application_id = $1 AND seq > $2 AND kind <> 'review.draw')`
	var acted bool
	if err := tx.GetContext(ctx, &acted, q, appID, seq); err != nil {
		return false, mapError("look for later actions", err)
	}
	return acted, nil
}

// StateMismatch is an application whose stored state is not where its
// history says it went.
type StateMismatch struct {
	ApplicationID string `db:"id"`
	State         string `db:"state"`
	HistoryState  string `db:"history_state"`
}

// StateMismatches compares every application's state with its last history
// entry: a state changed behind the engine's back shows up here.
func (tx *Tx) StateMismatches(ctx context.Context) ([]StateMismatch, error) {
	const q = `
SELECT a.id, a.state, coalesce(h.content::jsonb ->> 'to', '') AS history_state
FROM applications a
LEFT JOIN LATERAL (
    SELECT content FROM audit_log l
    WHERE l.application_id = a.id AND l.kind = 'transition'
    ORDER BY l.app_seq DESC LIMIT 1
) h ON true
WHERE h.content IS NULL OR a.state <> h.content::jsonb ->> 'to'
ORDER BY a.id`
	var out []StateMismatch
	if err := tx.SelectContext(ctx, &out, q); err != nil {
		return nil, mapError("compare states with history", err)
	}
	return out, nil
}

// AuditQuery filters the audit log for oversight.
type AuditQuery struct {
	ActorID       string
	Workflow      string
	Event         string
	ApplicationID string
	From, To      time.Time
	// Search is text that the entry's comment or one of the text values of
	// its data contains, ignoring case; "" matches every entry.
	Search string
	// SearchOutsideApplications makes Search match only entries not about an
	// application: administrators may not read those entries' comments and
	// data, so they must not find entries by them either.
	SearchOutsideApplications bool
	// AfterSeq is the cursor: the seq of the last entry of the previous
	// page; the listing goes on after that entry's place in its order.
	AfterSeq int64
	Limit    int
}

// MaxAuditSearch is the longest Search, in characters.
const MaxAuditSearch = 100

// Check refuses malformed filters before anything runs.
func (f AuditQuery) Check() error {
	for name, id := range map[string]string{"actor": f.ActorID, "application_id": f.ApplicationID} {
		if id != "" && !isUUID(id) {
			return errs.E(errs.BadRequest, "编号格式不正确："+name, "malformed id: "+name).Field(name, "编号格式不正确", "malformed id")
		}
	}
	if utf8.RuneCountInString(f.Search) > MaxAuditSearch {
		return errs.E(errs.BadRequest, fmt.Sprintf("搜索词不能超过 %d 个字", MaxAuditSearch), fmt.Sprintf("a search is at most %d characters", MaxAuditSearch)).
			Field("q", fmt.Sprintf("不能超过 %d 个字", MaxAuditSearch), fmt.Sprintf("at most %d characters", MaxAuditSearch))
	}
	return nil
}

// AuditEntries lists a page of entries by the filters given, in listing
// order: by writing transaction, then seq. Only entries whose transaction
// had ended before the oldest transaction still running took its id are
// listed (migration 009 says why): whatever commits later sorts after
// them, so paging on from a cursor never skips nor repeats an entry, however
// transactions interleave. An entry committed before the call is listed,
// unless a transaction of this database that took its id earlier is still
// running a second (auditSettle) later.
func (db *DB) AuditEntries(ctx context.Context, f AuditQuery) ([]AuditRow, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	after, err := db.auditStart(ctx, f.AfterSeq)
	if err != nil {
		return nil, err
	}
	q, args := f.listing(auditRowColumns, "", after)
	var out []AuditRow
	if err := db.SelectContext(ctx, &out, q, args...); err != nil {
		return nil, mapError("list audit entries", err)
	}
	return out, nil
}

const auditRowColumns = `l.seq, l.chain, l.chain_seq, l.content, l.prev_hash, l.hash, l.redacted_sha256, l.redaction_sig`

// auditHorizon is the listing's horizon: the oldest transaction of this
// database that was running when the statement's snapshot was taken, else
// the first not yet begun. Every transaction before it has ended, so every
// entry below it that will ever be committed is in the snapshot. The
// snapshot's own xmin would do, but it counts every database on the
// server: another database's long transaction, which cannot write here,
// would hold the listing back. A transaction holds the lock on its own id
// until it ends, so one whose holder is in another database is running
// there; any other (one that ended after the snapshot, a prepared one)
// counts as this database's, which only holds the listing back a moment.
const auditHorizon = `(
    SELECT coalesce(min(x), pg_snapshot_xmax(pg_current_snapshot())) FROM pg_snapshot_xip(pg_current_snapshot()) x
    WHERE NOT EXISTS (
        SELECT FROM pg_locks k JOIN pg_stat_activity a ON a.pid = k.pid
        WHERE k.locktype = 'transactionid' AND k.transactionid = x::xid AND k.mode = 'ExclusiveLock' AND k.granted
            AND a.datname IS DISTINCT FROM current_database()))`

// auditSettle is how long a listing waits for the transactions that were
// running when it began, whose entries it could not list before they end.
// Transactions take milliseconds; one that runs longer holds back the
// entries written after it began, from listings as from seals.
const auditSettle = time.Second

// auditStart begins a listing: it waits (up to auditSettle) until every
// transaction of this database that had taken an id when it was called has
// ended, so that every entry committed before the call is final, and it
// returns the xid of the cursor's entry ("" for no cursor), from which the
// listing goes on.
func (db *DB) auditStart(ctx context.Context, afterSeq int64) (string, error) {
	const q = `
SELECT ` + auditHorizon + ` < pg_snapshot_xmax(s) AS running, pg_snapshot_xmax(s)::text AS xmax,
    coalesce((SELECT xid::text FROM audit_log WHERE seq = $1), '') AS cursor_xid
FROM pg_current_snapshot() s`
	var r struct {
		Running   bool   `db:"running"`
		Xmax      string `db:"xmax"`
		CursorXID string `db:"cursor_xid"`
	}
	if err := db.GetContext(ctx, &r, q, afterSeq); err != nil {
		return "", mapError("start audit listing", err)
	}
	if afterSeq != 0 && r.CursorXID == "" {
		return "", errs.E(errs.BadRequest, "分页游标无效", "invalid cursor").Field("cursor", "无效", "invalid")
	}
	if !r.Running {
		return r.CursorXID, nil
	}
	deadline := time.Now().Add(auditSettle)
	for pause := 2 * time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		var ended bool
		if err := db.GetContext(ctx, &ended, `SELECT `+auditHorizon+` >= $1::xid8`, r.Xmax); err != nil {
			return "", mapError("wait for audit writers", err)
		}
		if ended || time.Now().After(deadline) {
			return r.CursorXID, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("wait for audit writers: %w", ctx.Err())
		case <-time.After(pause):
		}
	}
}

// listing is the query of the final entries the filters select after the
// cursor's place (afterXID and AfterSeq; none when afterXID is ""), in
// listing order, the first Limit of them (all for 0): columns of audit_log
// l and of what join adds. The horizon and the rows come from one snapshot,
// the statement's.
func (f AuditQuery) listing(columns, join, afterXID string) (string, []any) {
	q := `l.xid < ` + auditHorizon
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if afterXID != "" {
		q += ` AND (l.xid, l.seq) > (` + arg(afterXID) + `::xid8, ` + arg(f.AfterSeq) + `::bigint)`
	}
	if f.ActorID != "" {
		q += ` AND l.actor_id = ` + arg(f.ActorID)
	}
	if f.Workflow != "" {
		q += ` AND l.workflow = ` + arg(f.Workflow)
	}
	if f.Event != "" {
		q += ` AND l.event = ` + arg(f.Event)
	}
	if f.ApplicationID != "" {
		q += ` AND l.application_id = ` + arg(f.ApplicationID)
	}
	if !f.From.IsZero() {
		q += ` AND l.at >= ` + arg(f.From)
	}
	if !f.To.IsZero() {
		q += ` AND l.at < ` + arg(f.To)
	}
	if f.Search != "" {
		p := arg(likeContaining(f.Search))
		// PostgreSQL's text search does not split Chinese into words, and
		// pg_trgm takes no trigrams from it under the C locale the
		// embedded cluster runs: a substring match it is, without an index.
		q += ` AND (l.content::jsonb ->> 'comment' ILIKE ` + p + ` OR EXISTS (
    SELECT FROM jsonb_path_query(l.content::jsonb -> 'data', '$.** ? (@.type() == "string")') v
    WHERE v #>> '{}' ILIKE ` + p + `))`
		if plainInJSON(f.Search) {
			// Where the search reads the same in the stored JSON, a value
			// that contains it makes the content contain it: a cheap test
			// first spares decoding most entries.
			q += ` AND l.content ILIKE ` + p
		}
		if f.SearchOutsideApplications {
			q += ` AND l.application_id IS NULL`
		}
	}
	if f.Limit == 0 {
		return `SELECT ` + columns + ` FROM audit_log l ` + join + ` WHERE ` + q + ` ORDER BY l.xid, l.seq`, args
	}
	// A page is chosen by its entries' places first, from an index alone
	// where one covers the filters (migration 011: a month of a workflow's
	// entries is ranked inside the index, not fetched from the table), and
	// then only the page's own entries are read.
	page := `SELECT l.seq FROM audit_log l WHERE ` + q + ` ORDER BY l.xid, l.seq LIMIT ` + arg(f.Limit)
	return `SELECT ` + columns + ` FROM audit_log l ` + join + `
WHERE l.seq IN (` + page + `) ORDER BY l.xid, l.seq`, args
}

// likeContaining is the LIKE pattern of text containing s.
func likeContaining(s string) string {
	return "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s) + "%"
}

// plainInJSON reports whether s is written as itself inside a JSON string
// the way entries are encoded (encoding/json escapes quotes, backslashes,
// control characters and <, > and &).
func plainInJSON(s string) bool {
	b, err := json.Marshal(s)
	return err == nil && string(b) == `"`+s+`"`
}

// RecentRegistrations counts self-registrations from address since since,
// and when the oldest of them was; the audit log is their record.
func (db *DB) RecentRegistrations(ctx context.Context, address string, since time.Time) (int, time.Time, error) {
	const q = `
SELECT count(*), coalesce(min(at), now()) FROM audit_log
WHERE kind = 'user.create' AND at > $2
  AND content::jsonb -> 'data' ->> 'via' = 'registration'
  AND content::jsonb -> 'data' ->> 'address' = $1`
	var n int
	var oldest time.Time
	if err := db.QueryRowxContext(ctx, q, address, since).Scan(&n, &oldest); err != nil {
		return 0, time.Time{}, mapError("count registrations", err)
	}
	return n, oldest, nil
}
