package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// SealHead is the signed summary of the chain of seals, and how far the last
// seal reached.
type SealHead struct {
	Count     int64  `db:"count"`
	LastHash  []byte `db:"last_hash"`
	Signature []byte `db:"signature"`
	// UptoXID is the oldest transaction that was still running when the last
	// seal was taken (a decimal xid8); chains written by it or any later one
	// are sealed next.
	UptoXID string `db:"upto_xid"`
}

// SealRow is one stored seal.
type SealRow struct {
	Seq      int64  `db:"seq"`
	Content  string `db:"content"`
	PrevHash []byte `db:"prev_hash"`
	Hash     []byte `db:"hash"`
}

// BeginSeal starts a sealer's transaction: one snapshot throughout, so that
// the chains it seals are exactly those its snapshot's horizon says are done.
func (db *DB) BeginSeal(ctx context.Context) (*Tx, error) {
	tx, err := db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return nil, fmt.Errorf("begin seal: %w", err)
	}
	return &Tx{Tx: tx, db: db, jobs: db.jobs, public: db.public}, nil
}

// SealStart takes the sealer's lock without waiting (false when another
// process is sealing), and reads the seal head (ok false before the first
// seal) and the snapshot's horizon: every transaction before it has ended.
func (tx *Tx) SealStart(ctx context.Context) (locked bool, head SealHead, ok bool, horizon string, err error) {
	const q = `
SELECT pg_try_advisory_xact_lock(hashtextextended('sciflow audit sealer', 0)) AS locked,
    h.count IS NOT NULL AS ok, coalesce(h.count, 0) AS count, coalesce(h.last_hash, '') AS last_hash,
    coalesce(h.signature, '') AS signature, coalesce(h.upto_xid, '0')::text AS upto_xid,
    pg_snapshot_xmin(pg_current_snapshot())::text AS horizon
FROM (SELECT) one LEFT JOIN audit_seal_head h ON true`
	var r struct {
		Locked  bool   `db:"locked"`
		OK      bool   `db:"ok"`
		Horizon string `db:"horizon"`
		SealHead
	}
	if err := tx.GetContext(ctx, &r, q); err != nil {
		return false, head, false, "", mapError("start seal", err)
	}
	return r.Locked, r.SealHead, r.OK, r.Horizon, nil
}

// ChainsWritten lists the heads of the chains last written by transactions
// from (inclusive) to before (exclusive), by chain.
func (tx *Tx) ChainsWritten(ctx context.Context, from, before string) ([]ChainHead, error) {
	const q = `
SELECT chain, count, last_hash, signature FROM audit_chains
WHERE written_xid >= $1::xid8 AND written_xid < $2::xid8 AND count > 0
ORDER BY chain`
	var out []ChainHead
	if err := tx.SelectContext(ctx, &out, q, from, before); err != nil {
		return nil, mapError("list chains to seal", err)
	}
	return out, nil
}

// AppendSeal stores a seal of the chains named, and moves the seal head to it.
func (tx *Tx) AppendSeal(ctx context.Context, row SealRow, head SealHead, chains []string) error {
	return AppendSeal(ctx, tx, row, head, chains)
}

// AppendSeal is Tx.AppendSeal for any transaction: the scale bench's
// generator seals its batches with it.
func AppendSeal(ctx context.Context, tx sqlx.ExecerContext, row SealRow, head SealHead, chains []string) error {
	const q = `
WITH seal AS (INSERT INTO audit_seals (seq, content, prev_hash, hash) VALUES ($1, $2, $3, $4)),
named AS (INSERT INTO audit_seal_chains (chain, seal) SELECT unnest($9::text[]), $1)
INSERT INTO audit_seal_head (count, last_hash, signature, upto_xid) VALUES ($5, $6, $7, $8::xid8)
ON CONFLICT (id) DO UPDATE SET count = excluded.count, last_hash = excluded.last_hash,
    signature = excluded.signature, upto_xid = excluded.upto_xid`
	if row.PrevHash == nil {
		row.PrevHash = []byte{} // the first seal links to nothing, not to NULL
	}
	if _, err := tx.ExecContext(ctx, q, row.Seq, row.Content, row.PrevHash, row.Hash,
		head.Count, head.LastHash, head.Signature, head.UptoXID, pq.StringArray(chains)); err != nil {
		return mapError("append seal", err)
	}
	return nil
}

// SealHeadNow reads the seal head; ok is false before the first seal.
func (tx *Tx) SealHeadNow(ctx context.Context) (h SealHead, ok bool, err error) {
	err = tx.GetContext(ctx, &h, `SELECT count, last_hash, signature, upto_xid::text AS upto_xid FROM audit_seal_head WHERE id`)
	if errors.Is(err, sql.ErrNoRows) {
		return h, false, nil
	}
	if err != nil {
		return h, false, mapError("read seal head", err)
	}
	return h, true, nil
}

// ScanSeals calls fn for every seal in order, streamed.
func (tx *Tx) ScanSeals(ctx context.Context, fn func(SealRow) error) error {
	rows, err := tx.QueryxContext(ctx, `SELECT seq, content, prev_hash, hash FROM audit_seals ORDER BY seq`)
	if err != nil {
		return mapError("scan seals", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r SealRow
		if err := rows.StructScan(&r); err != nil {
			return mapError("scan seal", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return mapError("scan seals", rows.Err())
}

// SealedEntryMissing is a chain head a seal recorded whose entry is gone
// from the log or has another hash now.
type SealedEntryMissing struct {
	Seal     int64  `db:"seal"`
	Chain    string `db:"chain"`
	ChainSeq int64  `db:"chain_seq"`
	Changed  bool   `db:"changed"`
}

// SealedEntriesMissing compares every head every seal recorded with the
// log: what a seal saw must still be there, unchanged.
func (tx *Tx) SealedEntriesMissing(ctx context.Context) ([]SealedEntryMissing, error) {
	const q = `
SELECT s.seq AS seal, x.chain, x.count AS chain_seq, l.seq IS NOT NULL AS changed
FROM audit_seals s
CROSS JOIN LATERAL jsonb_to_recordset(s.content::jsonb -> 'chains') AS x(chain text, count bigint, hash text)
LEFT JOIN audit_log l ON l.chain = x.chain AND l.chain_seq = x.count
WHERE l.seq IS NULL OR l.hash <> decode(x.hash, 'hex')
ORDER BY s.seq, x.chain`
	var out []SealedEntryMissing
	if err := tx.SelectContext(ctx, &out, q); err != nil {
		return nil, mapError("compare seals with the log", err)
	}
	return out, nil
}

// ChainsUnsealed counts the chains written since the last seal's horizon.
func (tx *Tx) ChainsUnsealed(ctx context.Context) (int64, error) {
	const q = `
SELECT count(*) FROM audit_chains
WHERE count > 0 AND written_xid >= coalesce((SELECT upto_xid FROM audit_seal_head), '0'::xid8)`
	var n int64
	if err := tx.GetContext(ctx, &n, q); err != nil {
		return 0, mapError("count unsealed chains", err)
	}
	return n, nil
}

// SealHash is seal n's hash; found is false when there is no such seal.
func (tx *Tx) SealHash(ctx context.Context, n int64) (hash []byte, found bool, err error) {
	err = tx.GetContext(ctx, &hash, `SELECT hash FROM audit_seals WHERE seq = $1`, n)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, mapError("read seal", err)
	}
	return hash, true, nil
}

// NextXID is the id the next transaction will get: every transaction begun
// so far has a lower one.
func (db *DB) NextXID(ctx context.Context) (uint64, error) {
	var s string
	if err := db.GetContext(ctx, &s, `SELECT pg_snapshot_xmax(pg_current_snapshot())::text`); err != nil {
		return 0, mapError("read the next transaction id", err)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("next transaction id %q: %w", s, err)
	}
	return n, nil
}

// SealedBefore reports whether every chain written by a transaction older
// than xid is sealed: all such transactions have ended and none of their
// chains was written after the last seal's horizon.
func (tx *Tx) SealedBefore(ctx context.Context, xid uint64) (bool, error) {
	const q = `
SELECT pg_snapshot_xmin(pg_current_snapshot()) >= $1::text::xid8 AND NOT EXISTS (
    SELECT 1 FROM audit_chains
    WHERE count > 0 AND written_xid < $1::text::xid8
      AND written_xid >= coalesce((SELECT upto_xid FROM audit_seal_head), '0'::xid8))`
	var done bool
	if err := tx.GetContext(ctx, &done, q, strconv.FormatUint(xid, 10)); err != nil {
		return false, mapError("check what is sealed", err)
	}
	return done, nil
}
