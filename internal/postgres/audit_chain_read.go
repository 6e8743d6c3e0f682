package postgres

import (
	"context"
	"database/sql"
)

// ChainRow is one stored entry of a chain, with the names of the user it
// names as its actor (empty for the system).
type ChainRow struct {
	AuditRow
	ActorUsername sql.NullString `db:"actor_username"`
	ActorName     sql.NullString `db:"actor_name"`
}

// ChainSeal is a seal that recorded a chain: the seal as stored (to check
// its own hash) and the count and last hash it recorded for the chain.
type ChainSeal struct {
	Seal     SealRow
	AtMicros int64
	Count    int64
	Hash     string // hex, as the seal wrote it
}

// ChainState is one chain's signed head and the latest seal that recorded
// the chain. HasHead is false when the head row is missing, Sealed when no
// seal lists the chain.
type ChainState struct {
	Head    ChainHead
	HasHead bool
	Seal    ChainSeal
	Sealed  bool
}

// ChainState reads a chain's head and the latest seal whose list of heads
// names the chain, in one statement. Which seals name a chain is kept beside
// them (audit_seal_chains), so a chain last written years ago is found as
// fast as one written today.
func (tx *Tx) ChainState(ctx context.Context, chain string) (ChainState, error) {
	const q = `
SELECT h.chain IS NOT NULL AS has_head, coalesce(h.count, 0) AS head_count,
    coalesce(h.last_hash, '') AS head_hash, coalesce(h.signature, '') AS head_signature,
    s.seq IS NOT NULL AS sealed, coalesce(s.seq, 0) AS seal_seq, coalesce(s.content, '') AS seal_content,
    coalesce(s.prev_hash, '') AS seal_prev_hash, coalesce(s.hash, '') AS seal_hash,
    coalesce((j.seal ->> 'at_us')::bigint, 0) AS seal_at_us,
    coalesce(x.count, 0) AS sealed_count, coalesce(x.hash, '') AS sealed_hash
FROM (SELECT) one
LEFT JOIN audit_chains h ON h.chain = $1
-- the last seal naming the chain that is still there (migration 012)
LEFT JOIN audit_seals s ON s.seq = (
    SELECT max(n.seal) FROM audit_seal_chains n JOIN audit_seals e ON e.seq = n.seal WHERE n.chain = $1)
-- a seal lists every chain written in its second (thousands when a deadline
-- falls): its text is parsed once
LEFT JOIN LATERAL (SELECT s.content::jsonb AS seal OFFSET 0) j ON true
LEFT JOIN LATERAL (
    SELECT c.count, c.hash FROM jsonb_to_recordset(j.seal -> 'chains') AS c(chain text, count bigint, hash text)
    WHERE c.chain = $1 LIMIT 1
) x ON true`
	var r struct {
		HasHead       bool   `db:"has_head"`
		HeadCount     int64  `db:"head_count"`
		HeadHash      []byte `db:"head_hash"`
		HeadSignature []byte `db:"head_signature"`
		Sealed        bool   `db:"sealed"`
		SealSeq       int64  `db:"seal_seq"`
		SealContent   string `db:"seal_content"`
		SealPrevHash  []byte `db:"seal_prev_hash"`
		SealHash      []byte `db:"seal_hash"`
		SealAtMicros  int64  `db:"seal_at_us"`
		SealedCount   int64  `db:"sealed_count"`
		SealedHash    string `db:"sealed_hash"`
	}
	if err := tx.GetContext(ctx, &r, q, chain); err != nil {
		return ChainState{}, mapError("read audit chain state", err)
	}
	return ChainState{
		Head:    ChainHead{Chain: chain, Count: r.HeadCount, LastHash: r.HeadHash, Signature: r.HeadSignature},
		HasHead: r.HasHead,
		Seal: ChainSeal{Seal: SealRow{Seq: r.SealSeq, Content: r.SealContent, PrevHash: r.SealPrevHash, Hash: r.SealHash},
			AtMicros: r.SealAtMicros, Count: r.SealedCount, Hash: r.SealedHash},
		Sealed: r.Sealed,
	}, nil
}

// ScanChain calls fn for every entry of one chain in order, streamed, each
// with its actor's names. An application's chain (named by its id) is
// preceded by the application's entries written before per-chain hashing
// (Chain not valid), in the order the legacy chain wrote them: without them
// its history would start in the middle.
func (tx *Tx) ScanChain(ctx context.Context, chain string, fn func(ChainRow) error) error {
	const q = `
SELECT l.seq, l.chain, l.chain_seq, l.content, l.prev_hash, l.hash, l.redacted_sha256, l.redaction_sig,
    u.username AS actor_username, u.name AS actor_name
FROM (
    SELECT 0 AS part, seq AS pos, seq, chain, chain_seq, content, prev_hash, hash, redacted_sha256, redaction_sig, actor_id
    FROM audit_log
    WHERE $2::uuid IS NOT NULL AND application_id = $2::uuid AND chain IS NULL
    UNION ALL
    SELECT 1, chain_seq, seq, chain, chain_seq, content, prev_hash, hash, redacted_sha256, redaction_sig, actor_id
    FROM audit_log WHERE chain = $1
) l
LEFT JOIN users u ON u.id = l.actor_id
ORDER BY l.part, l.pos`
	var appID sql.NullString
	if isUUID(chain) {
		appID = sql.NullString{String: chain, Valid: true}
	}
	rows, err := tx.QueryxContext(ctx, q, chain, appID)
	if err != nil {
		return mapError("scan audit chain", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r ChainRow
		if err := rows.StructScan(&r); err != nil {
			return mapError("scan audit chain entry", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return mapError("scan audit chain", rows.Err())
}
