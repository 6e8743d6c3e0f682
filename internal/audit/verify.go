package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/sciflow/sciflow/internal/postgres"
)

// Kinds of problem verification reports.
const (
	// ProblemAltered: the entry's content no longer matches its hash.
	ProblemAltered = "altered"
	// ProblemDeleted: an entry is missing from the middle of the chain.
	ProblemDeleted = "deleted"
	// ProblemInserted: an entry that the signed head does not account for.
	ProblemInserted = "inserted"
	// ProblemTruncated: the newest entries, counted by the head, are gone.
	ProblemTruncated = "truncated"
	// ProblemRelinked: the entry verifies alone but does not follow its predecessor.
	ProblemRelinked = "relinked"
	// ProblemHead: the head itself is missing or its signature is wrong.
	ProblemHead = "head_invalid"
	// ProblemState: an application's state differs from where its history took it.
	ProblemState = "state_mismatch"
)

// Problem is one finding, at an entry (Seq) or an application.
type Problem struct {
	Seq           int64  `json:"seq"`
	Kind          string `json:"kind"`
	ApplicationID string `json:"application_id,omitempty"`
	Detail        string `json:"detail,omitempty"`
}

// Report is the outcome of Verify.
type Report struct {
	OK       bool      `json:"ok"`
	Checked  int64     `json:"checked"`
	Problems []Problem `json:"problems"`
	// Head is the count and last hash: an auditor who writes it down can
	// later prove that nothing before it was removed, even by someone who
	// knows the secret.
	HeadCount int64  `json:"head_count"`
	HeadHash  string `json:"head_hash"`
}

// Verify walks the whole chain in one consistent snapshot: every entry's
// hash, every link, the numbering, the signed head, and every application's
// state against its history.
func (c *Chain) Verify(ctx context.Context, db *postgres.DB) (Report, error) {
	tx, err := db.Snapshot(ctx)
	if err != nil {
		return Report{}, err
	}
	defer tx.Rollback()
	head, haveHead, err := tx.AuditHeadNow(ctx)
	if err != nil {
		return Report{}, err
	}
	r := Report{Problems: []Problem{}}
	var prevHash []byte
	var expect int64 = 1
	err = tx.ScanAudit(ctx, func(row postgres.AuditRow) error {
		r.Checked++
		gap := row.Seq > expect
		switch {
		case gap && haveHead && expect > head.Count:
			// Rows beyond what the head counts (with a hole before them).
		case gap:
			for s := expect; s < row.Seq; s++ {
				r.Problems = append(r.Problems, Problem{Seq: s, Kind: ProblemDeleted})
			}
		}
		if !hmac.Equal(c.entryHash(row.PrevHash, []byte(row.Content)), row.Hash) {
			r.Problems = append(r.Problems, Problem{Seq: row.Seq, Kind: ProblemAltered})
		} else if !gap && !bytes.Equal(row.PrevHash, prevHash) {
			r.Problems = append(r.Problems, Problem{Seq: row.Seq, Kind: ProblemRelinked})
		} else if seqInContent(row.Content) != row.Seq {
			r.Problems = append(r.Problems, Problem{Seq: row.Seq, Kind: ProblemAltered, Detail: "entry moved to another position"})
		}
		if !haveHead || row.Seq > head.Count {
			r.Problems = append(r.Problems, Problem{Seq: row.Seq, Kind: ProblemInserted})
		}
		prevHash = row.Hash
		expect = row.Seq + 1
		return nil
	})
	if err != nil {
		return Report{}, err
	}
	if haveHead {
		if !hmac.Equal(c.headSignature(head.Count, head.LastHash), head.Signature) {
			r.Problems = append(r.Problems, Problem{Seq: head.Count, Kind: ProblemHead, Detail: "head signature does not match"})
		}
		for s := expect; s <= head.Count; s++ {
			r.Problems = append(r.Problems, Problem{Seq: s, Kind: ProblemTruncated})
		}
		if expect-1 == head.Count && !bytes.Equal(prevHash, head.LastHash) {
			r.Problems = append(r.Problems, Problem{Seq: head.Count, Kind: ProblemHead, Detail: "last entry is not the one the head signed"})
		}
		r.HeadCount, r.HeadHash = head.Count, hex.EncodeToString(head.LastHash)
	} else if r.Checked > 0 {
		r.Problems = append(r.Problems, Problem{Kind: ProblemHead, Detail: "the head is missing"})
	}
	mismatches, err := tx.StateMismatches(ctx)
	if err != nil {
		return Report{}, err
	}
	for _, m := range mismatches {
		r.Problems = append(r.Problems, Problem{Kind: ProblemState, ApplicationID: m.ApplicationID,
			Detail: fmt.Sprintf("state %q, history says %q", m.State, m.HistoryState)})
	}
	r.OK = len(r.Problems) == 0
	return r, nil
}

func seqInContent(content string) int64 {
	var v struct {
		Seq int64 `json:"seq"`
	}
	if json.Unmarshal([]byte(content), &v) != nil {
		return -1
	}
	return v.Seq
}
