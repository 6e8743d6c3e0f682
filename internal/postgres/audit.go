package postgres

import (
	"context"
	"database/sql"
	"errors"
	"strconv"

	"github.com/sciflow/sciflow/internal/errs"
	"time"
)

// AuditRow is one stored entry of the audit chain.
type AuditRow struct {
	Seq      int64  `db:"seq"`
	Content  string `db:"content"`
	PrevHash []byte `db:"prev_hash"`
	Hash     []byte `db:"hash"`
}

// AuditHead is the chain's signed summary.
type AuditHead struct {
	Count     int64  `db:"count"`
	LastHash  []byte `db:"last_hash"`
	Signature []byte `db:"signature"`
}

// LockAuditHead locks the head row for the rest of the transaction, creating
// it on the very first append. Every audited action passes here, so appends
// are strictly ordered.
func (tx *Tx) LockAuditHead(ctx context.Context) (AuditHead, error) {
	const sel = `SELECT count, last_hash, signature FROM audit_head WHERE id FOR UPDATE`
	var h AuditHead
	err := tx.GetContext(ctx, &h, sel)
	if errors.Is(err, sql.ErrNoRows) {
		const ins = `INSERT INTO audit_head (count, last_hash, signature) VALUES (0, '', '') ON CONFLICT (id) DO NOTHING`
		if _, err := tx.ExecContext(ctx, ins); err != nil {
			return h, mapError("create audit head", err)
		}
		err = tx.GetContext(ctx, &h, sel)
	}
	if err != nil {
		return h, mapError("lock audit head", err)
	}
	return h, nil
}

// AppendAudit stores an entry and moves the head to it, in the caller's
// transaction (which holds the head lock).
func (tx *Tx) AppendAudit(ctx context.Context, row AuditRow, head AuditHead) error {
	const ins = `INSERT INTO audit_log (seq, content, prev_hash, hash) VALUES ($1, $2, $3, $4)`
	if _, err := tx.ExecContext(ctx, ins, row.Seq, row.Content, row.PrevHash, row.Hash); err != nil {
		return mapError("insert audit entry", err)
	}
	const upd = `UPDATE audit_head SET count = $1, last_hash = $2, signature = $3 WHERE id`
	if _, err := tx.ExecContext(ctx, upd, head.Count, head.LastHash, head.Signature); err != nil {
		return mapError("update audit head", err)
	}
	return nil
}

// AuditHeadNow reads the head without locking; ok is false before the first entry.
func (tx *Tx) AuditHeadNow(ctx context.Context) (h AuditHead, ok bool, err error) {
	err = tx.GetContext(ctx, &h, `SELECT count, last_hash, signature FROM audit_head WHERE id`)
	if errors.Is(err, sql.ErrNoRows) {
		return h, false, nil
	}
	if err != nil {
		return h, false, mapError("read audit head", err)
	}
	return h, true, nil
}

// ScanAudit calls fn for every entry in seq order, streaming so that a
// chain of millions of entries needs no more memory than one.
func (tx *Tx) ScanAudit(ctx context.Context, fn func(AuditRow) error) error {
	rows, err := tx.QueryxContext(ctx, `SELECT seq, content, prev_hash, hash FROM audit_log ORDER BY seq`)
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
	AfterSeq      int64 // cursor: entries after this seq
	Limit         int
}

// AuditEntries lists entries oldest first, by the filters given.
func (db *DB) AuditEntries(ctx context.Context, f AuditQuery) ([]AuditRow, error) {
	for name, id := range map[string]string{"actor": f.ActorID, "application_id": f.ApplicationID} {
		if id != "" && !isUUID(id) {
			return nil, errs.E(errs.BadRequest, "编号格式不正确："+name, "malformed id: "+name).Field(name, "编号格式不正确", "malformed id")
		}
	}
	q := `SELECT seq, content, prev_hash, hash FROM audit_log WHERE seq > $1`
	args := []any{f.AfterSeq}
	add := func(cond string, v any) {
		args = append(args, v)
		q += " AND " + cond + strconv.Itoa(len(args))
	}
	if f.ActorID != "" {
		add("actor_id = $", f.ActorID)
	}
	if f.Workflow != "" {
		add("workflow = $", f.Workflow)
	}
	if f.Event != "" {
		add("event = $", f.Event)
	}
	if f.ApplicationID != "" {
		add("application_id = $", f.ApplicationID)
	}
	if !f.From.IsZero() {
		add("at >= $", f.From)
	}
	if !f.To.IsZero() {
		add("at < $", f.To)
	}
	args = append(args, f.Limit)
	q += " ORDER BY seq LIMIT $" + strconv.Itoa(len(args))
	var out []AuditRow
	if err := db.SelectContext(ctx, &out, q, args...); err != nil {
		return nil, mapError("list audit entries", err)
	}
	return out, nil
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
