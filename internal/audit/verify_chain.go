package audit

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/postgres"
)

// ChainReport is the outcome of VerifyChain: one chain checked on its own,
// with the seal that last recorded it.
type ChainReport struct {
	Chain string `json:"chain"`
	OK    bool   `json:"ok"`
	// Checked counts the chain's entries read; Legacy those of its
	// application written before per-chain hashing, each checked against its
	// own hash only (their links run through the whole legacy chain, which
	// Verify walks).
	Checked   int64     `json:"checked"`
	Legacy    int64     `json:"legacy"`
	HeadCount int64     `json:"head_count"`
	HeadHash  string    `json:"head_hash"`
	Problems  []Problem `json:"problems"`
	// Seal is the latest seal that recorded the chain; nil before any has.
	Seal *ChainSealed `json:"seal"`
}

// ChainSealed is a seal as it recorded one chain. Entries after Count rest
// on the chain's signed head alone until the next seal.
type ChainSealed struct {
	Seq   int64     `json:"seq"`
	At    time.Time `json:"at"`
	Count int64     `json:"count"`
	Hash  string    `json:"hash"`
}

// VerifyChain checks one chain in one consistent snapshot: each entry's
// hash, its link to the one before, gaps, the signed head against the last
// entry, and that the entry the latest seal recorded is still there,
// unchanged. It is Verify's walk for a single chain (an application's
// history, say), so that proving one application's trail does not cost a
// walk through everything.
func (c *Chain) VerifyChain(ctx context.Context, db *postgres.DB, chain string) (ChainReport, error) {
	return c.ReadChain(ctx, db, chain, nil)
}

// ReadChain is VerifyChain that also hands every entry it reads, decoded,
// to fn in order, with the row it came from (which names the actor): one
// read serves both a record of what happened and its proof. Entries found
// altered are handed on too, as stored; the report says which they are.
// A chain with neither entries nor head is not found.
func (c *Chain) ReadChain(ctx context.Context, db *postgres.DB, chain string, fn func(Recorded, postgres.ChainRow) error) (ChainReport, error) {
	tx, err := db.Snapshot(ctx)
	if err != nil {
		return ChainReport{}, err
	}
	defer tx.Rollback()
	st, err := tx.ChainState(ctx, chain)
	if err != nil {
		return ChainReport{}, err
	}
	r := ChainReport{Chain: chain, Problems: []Problem{}}
	w := c.walk(chain, st.Head, st.HasHead)
	var sealedHash []byte // the entry at the position the last seal recorded
	err = tx.ScanChain(ctx, chain, func(row postgres.ChainRow) error {
		var intact bool
		if row.Chain.Valid {
			intact = w.step(row.AuditRow)
			if st.Sealed && row.ChainSeq.Int64 == st.Seal.Count {
				sealedHash = row.Hash
			}
		} else {
			// Written before per-chain hashing: its link runs through the
			// whole legacy chain, which Verify walks; here, its own hash.
			r.Legacy++
			if intact = c.intact(row.AuditRow); !intact {
				r.Problems = append(r.Problems, Problem{Seq: row.Seq, Kind: ProblemAltered})
			}
		}
		if fn == nil {
			return nil
		}
		rec, err := Decode(row.AuditRow)
		if err != nil {
			// Valid JSON (the table's generated columns insist) that is no
			// longer an entry: it was written by hand.
			if intact {
				r.Problems = append(r.Problems, Problem{Seq: row.Seq, Chain: row.Chain.String, ChainSeq: row.ChainSeq.Int64,
					Kind: ProblemAltered, Detail: "not an audit entry"})
			}
			return nil
		}
		return fn(rec, row)
	})
	if err != nil {
		return ChainReport{}, err
	}
	if !st.HasHead && w.entries == 0 && r.Legacy == 0 {
		return ChainReport{}, fmt.Errorf("audit chain %q: %w", chain, errs.ErrNotFound)
	}
	w.finish()
	r.Checked = w.entries
	r.Problems = append(r.Problems, w.problems...)
	if st.HasHead {
		r.HeadCount, r.HeadHash = st.Head.Count, hex.EncodeToString(st.Head.LastHash)
	}
	if st.Sealed {
		s := st.Seal
		r.Seal = &ChainSealed{Seq: s.Seal.Seq, At: time.UnixMicro(s.AtMicros), Count: s.Count, Hash: s.Hash}
		switch {
		case !hmac.Equal(c.entryHash(s.Seal.PrevHash, []byte(s.Seal.Content)), s.Seal.Hash):
			// What an altered seal claims is not compared with the log.
			r.Problems = append(r.Problems, Problem{Seal: s.Seal.Seq, Kind: ProblemAltered})
		case w.reported(s.Count):
		case sealedHash == nil:
			r.Problems = append(r.Problems, Problem{Chain: chain, ChainSeq: s.Count, Seal: s.Seal.Seq, Kind: ProblemDeleted,
				Detail: fmt.Sprintf("sealed in seal %d, gone from the log", s.Seal.Seq)})
		case hex.EncodeToString(sealedHash) != s.Hash:
			r.Problems = append(r.Problems, Problem{Chain: chain, ChainSeq: s.Count, Seal: s.Seal.Seq, Kind: ProblemAltered,
				Detail: fmt.Sprintf("not the entry sealed in seal %d", s.Seal.Seq)})
		}
	}
	r.OK = len(r.Problems) == 0
	return r, nil
}
