package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/sciflow/sciflow/internal/postgres"
)

// Kinds of problem verification reports.
const (
	// ProblemAltered: the entry's content no longer matches its hash.
	ProblemAltered = "altered"
	// ProblemDeleted: an entry is missing from the middle of its chain, or
	// a seal recorded it and it is gone.
	ProblemDeleted = "deleted"
	// ProblemInserted: an entry that its chain's signed head does not account for.
	ProblemInserted = "inserted"
	// ProblemTruncated: the newest entries, counted by the head, are gone.
	ProblemTruncated = "truncated"
	// ProblemRelinked: the entry verifies alone but does not follow its predecessor.
	ProblemRelinked = "relinked"
	// ProblemHead: a head itself is missing or its signature is wrong.
	ProblemHead = "head_invalid"
	// ProblemState: an application's state differs from where its history took it.
	ProblemState = "state_mismatch"
)

// Problem is one finding: at an entry of the legacy chain (Seq), at a
// position of a chain (Chain, ChainSeq), at a seal (Seal), or at an
// application.
type Problem struct {
	Seq           int64  `json:"seq"`
	Chain         string `json:"chain,omitempty"`
	ChainSeq      int64  `json:"chain_seq,omitempty"`
	Seal          int64  `json:"seal,omitempty"`
	Kind          string `json:"kind"`
	ApplicationID string `json:"application_id,omitempty"`
	Detail        string `json:"detail,omitempty"`
}

// Where says where a problem is, for a line of text.
func (p Problem) Where() string {
	switch {
	case p.ApplicationID != "":
		return "application " + p.ApplicationID
	case p.Chain != "":
		return fmt.Sprintf("chain %s entry %d", p.Chain, p.ChainSeq)
	case p.Seal != 0:
		return fmt.Sprintf("seal %d", p.Seal)
	}
	return fmt.Sprintf("legacy entry %d", p.Seq)
}

// Report is the outcome of Verify.
type Report struct {
	OK bool `json:"ok"`
	// Checked counts the entries read, Chains the chains they form.
	Checked  int64     `json:"checked"`
	Chains   int64     `json:"chains"`
	Problems []Problem `json:"problems"`
	// HeadCount and HeadHash are the seal head: an auditor who writes them
	// down can later prove that nothing sealed before was removed, even by
	// someone who knows the secret.
	HeadCount int64  `json:"head_count"`
	HeadHash  string `json:"head_hash"`
	// Unsealed counts the chains written since the last seal: protected by
	// their signed heads until the next.
	Unsealed int64 `json:"unsealed"`
	// Omitted counts the problems found beyond the first maxProblems,
	// which are listed (a problem that both its chain and a seal show may
	// count twice here).
	Omitted int64 `json:"omitted"`
}

// maxProblems is how many problems a Report lists. A trail checked with
// the wrong key finds every entry altered: listing ten million problems
// took 4 GiB, and says no more than the first thousand and a count.
const maxProblems = 1000

// add lists problems up to maxProblems and counts the rest.
func (r *Report) add(ps ...Problem) {
	for _, p := range ps {
		if len(r.Problems) < maxProblems {
			r.Problems = append(r.Problems, p)
		} else {
			r.Omitted++
		}
	}
}

// Verify checks everything in one consistent snapshot: the legacy chain,
// every chain's entries, links, numbering and signed head, the chain of
// seals and every head each seal recorded, and every application's state
// against its history.
func (c *Chain) Verify(ctx context.Context, db *postgres.DB) (Report, error) {
	tx, err := db.Snapshot(ctx)
	if err != nil {
		return Report{}, err
	}
	defer tx.Rollback()
	r := Report{Problems: []Problem{}}
	c.report(StepLegacy, &r)
	if err := c.verifyLegacy(ctx, tx, &r); err != nil {
		return Report{}, err
	}
	c.report(StepChains, &r)
	if err := c.verifyChains(ctx, tx, &r); err != nil {
		return Report{}, err
	}
	c.report(StepSeals, &r)
	if err := c.verifySeals(ctx, tx, &r); err != nil {
		return Report{}, err
	}
	c.report(StepStates, &r)
	mismatches, err := tx.StateMismatches(ctx)
	if err != nil {
		return Report{}, err
	}
	for _, m := range mismatches {
		r.add(Problem{Kind: ProblemState, ApplicationID: m.ApplicationID,
			Detail: fmt.Sprintf("state %q, history says %q", m.State, m.HistoryState)})
	}
	r.OK = len(r.Problems) == 0
	return r, nil
}

// The steps of Verify, as Progress names them.
const (
	StepLegacy = "legacy" // the chain of entries from before per-chain hashing
	StepChains = "chains" // every chain's entries, links and signed head
	StepSeals  = "seals"  // the chain of seals and what each recorded
	StepStates = "states" // every application's state against its history
)

// Progress is how far Verify has got, for a person waiting on a large
// trail: the step it is at, and the entries and chains checked so far.
type Progress struct {
	Step    string
	Checked int64
	Chains  int64
}

// progressEvery is how many entries Verify walks between two reports.
const progressEvery = 250_000

// Reporting is the chain with the same key that tells progress how far
// each verification has got (Verify and VerifyAnchored): at each step, and
// every progressEvery entries walked.
func (c *Chain) Reporting(progress func(Progress)) *Chain {
	reporting := *c
	reporting.progress = progress
	return &reporting
}

func (c *Chain) report(step string, r *Report) {
	if c.progress != nil {
		c.progress(Progress{Step: step, Checked: r.Checked, Chains: r.Chains})
	}
}

// verifyLegacy checks the single chain of the entries written before
// per-chain hashing, against its frozen head.
func (c *Chain) verifyLegacy(ctx context.Context, tx *postgres.Tx, r *Report) error {
	head, haveHead, err := tx.LegacyHead(ctx)
	if err != nil {
		return err
	}
	var prevHash []byte
	var expect, checked int64 = 1, 0
	err = tx.ScanLegacyAudit(ctx, func(row postgres.AuditRow) error {
		checked++
		gap := row.Seq > expect
		if gap && !(haveHead && expect > head.Count) {
			for s := expect; s < row.Seq; s++ {
				r.add(Problem{Seq: s, Kind: ProblemDeleted})
			}
		}
		if !c.intact(row) {
			r.add(Problem{Seq: row.Seq, Kind: ProblemAltered})
		} else if !gap && !bytes.Equal(row.PrevHash, prevHash) {
			r.add(Problem{Seq: row.Seq, Kind: ProblemRelinked})
		} else if seqInContent(row.Content) != row.Seq {
			r.add(Problem{Seq: row.Seq, Kind: ProblemAltered, Detail: "entry moved to another position"})
		}
		if !haveHead || row.Seq > head.Count {
			r.add(Problem{Seq: row.Seq, Kind: ProblemInserted})
		}
		prevHash = row.Hash
		expect = row.Seq + 1
		return nil
	})
	if err != nil {
		return err
	}
	r.Checked += checked
	if !haveHead {
		return nil
	}
	r.Chains++
	if !hmac.Equal(c.legacySignature(head.Count, head.LastHash), head.Signature) {
		r.add(Problem{Seq: head.Count, Kind: ProblemHead, Detail: "head signature does not match"})
	}
	for s := expect; s <= head.Count; s++ {
		r.add(Problem{Seq: s, Kind: ProblemTruncated})
	}
	if expect-1 == head.Count && !bytes.Equal(prevHash, head.LastHash) {
		r.add(Problem{Seq: head.Count, Kind: ProblemHead, Detail: "last entry is not the one the head signed"})
	}
	return nil
}

// chainWalk follows one chain through its entries to its head, collecting
// what does not hold: Verify walks every chain with it, VerifyChain one.
type chainWalk struct {
	c        *Chain
	name     string
	head     postgres.ChainHead
	hasHead  bool
	expect   int64
	prevHash []byte
	entries  int64
	problems []Problem
}

func (c *Chain) walk(name string, head postgres.ChainHead, hasHead bool) *chainWalk {
	return &chainWalk{c: c, name: name, head: head, hasHead: hasHead, expect: 1}
}

// step checks the chain's next entry: its hash, its link to the one before,
// the positions skipped, and that the head accounts for it. It reports
// whether the entry is intact by itself.
func (w *chainWalk) step(row postgres.AuditRow) bool {
	w.entries++
	pos := row.ChainSeq.Int64
	gap := pos > w.expect
	for s := w.expect; s < pos; s++ {
		w.report(Problem{Chain: w.name, ChainSeq: s, Kind: ProblemDeleted})
	}
	intact := w.c.intact(row)
	switch {
	case !intact:
		w.report(Problem{Seq: row.Seq, Chain: w.name, ChainSeq: pos, Kind: ProblemAltered})
	case !gap && !bytes.Equal(row.PrevHash, w.prevHash):
		w.report(Problem{Seq: row.Seq, Chain: w.name, ChainSeq: pos, Kind: ProblemRelinked})
	}
	if w.hasHead && pos > w.head.Count {
		w.report(Problem{Seq: row.Seq, Chain: w.name, ChainSeq: pos, Kind: ProblemInserted})
	}
	w.prevHash, w.expect = row.Hash, pos+1
	return intact
}

// finish checks the chain's signed head against the last entry walked.
func (w *chainWalk) finish() {
	if !w.hasHead {
		if w.entries > 0 {
			w.report(Problem{Chain: w.name, ChainSeq: w.expect - 1, Kind: ProblemHead, Detail: "the chain's head is missing"})
		}
		return
	}
	h := w.head
	if h.Count == 0 {
		return // a chain begun (an application created) with nothing in it yet
	}
	if !hmac.Equal(w.c.chainSignature(h.Chain, h.Count, h.LastHash), h.Signature) {
		w.report(Problem{Chain: w.name, ChainSeq: h.Count, Kind: ProblemHead, Detail: "head signature does not match"})
	}
	for s := w.expect; s <= h.Count; s++ {
		w.report(Problem{Chain: w.name, ChainSeq: s, Kind: ProblemTruncated})
	}
	if w.expect-1 == h.Count && !bytes.Equal(w.prevHash, h.LastHash) {
		w.report(Problem{Chain: w.name, ChainSeq: h.Count, Kind: ProblemHead, Detail: "last entry is not the one the head signed"})
	}
}

func (w *chainWalk) report(p Problem) { w.problems = append(w.problems, p) }

// reported says whether the walk found something wrong at position pos.
func (w *chainWalk) reported(pos int64) bool {
	return slices.ContainsFunc(w.problems, func(p Problem) bool {
		return p.ChainSeq == pos && p.Kind != ProblemInserted && p.Kind != ProblemHead
	})
}

// verifyChains checks every chain: each entry's hash, its link to the one
// before, gaps, and the chain's signed head against its last entry.
func (c *Chain) verifyChains(ctx context.Context, tx *postgres.Tx, r *Report) error {
	var w *chainWalk
	finish := func() {
		if w != nil {
			w.finish()
			r.Chains++
			r.Checked += w.entries
			r.add(w.problems...)
		}
	}
	var read int64
	err := tx.ScanChains(ctx, func(e postgres.ChainEntry) error {
		if w == nil || w.name != e.Head.Chain {
			finish()
			w = c.walk(e.Head.Chain, e.Head, e.HasHead)
		}
		if read++; read%progressEvery == 0 {
			c.report(StepChains, &Report{Checked: r.Checked + w.entries, Chains: r.Chains})
		}
		if e.Row.Seq != 0 { // else a head whose entries are all gone
			w.step(e.Row)
		}
		return nil
	})
	if err != nil {
		return err
	}
	finish()
	return nil
}

// verifySeals checks the chain of seals against its signed head, and that
// every head a seal recorded is still in the log with the hash it had.
func (c *Chain) verifySeals(ctx context.Context, tx *postgres.Tx, r *Report) error {
	head, haveHead, err := tx.SealHeadNow(ctx)
	if err != nil {
		return err
	}
	var prevHash []byte
	var expect int64 = 1
	// An altered seal is reported as such; what it now claims is not
	// compared with the log.
	altered := map[int64]bool{}
	err = tx.ScanSeals(ctx, func(s postgres.SealRow) error {
		for n := expect; n < s.Seq; n++ {
			r.add(Problem{Seal: n, Kind: ProblemDeleted})
		}
		if !hmac.Equal(c.entryHash(s.PrevHash, []byte(s.Content)), s.Hash) {
			altered[s.Seq] = true
			r.add(Problem{Seal: s.Seq, Kind: ProblemAltered})
		} else if s.Seq == expect && !bytes.Equal(s.PrevHash, prevHash) {
			r.add(Problem{Seal: s.Seq, Kind: ProblemRelinked})
		}
		if !haveHead || s.Seq > head.Count {
			r.add(Problem{Seal: s.Seq, Kind: ProblemInserted})
		}
		prevHash, expect = s.Hash, s.Seq+1
		return nil
	})
	if err != nil {
		return err
	}
	if haveHead {
		if !hmac.Equal(c.sealSignature(head.Count, head.LastHash), head.Signature) {
			r.add(Problem{Seal: head.Count, Kind: ProblemHead, Detail: "seal head signature does not match"})
		}
		for n := expect; n <= head.Count; n++ {
			r.add(Problem{Seal: n, Kind: ProblemTruncated})
		}
		if expect-1 == head.Count && !bytes.Equal(prevHash, head.LastHash) {
			r.add(Problem{Seal: head.Count, Kind: ProblemHead, Detail: "last seal is not the one the head signed"})
		}
		r.HeadCount, r.HeadHash = head.Count, hex.EncodeToString(head.LastHash)
	}
	// What a seal saw must still be there. An entry already reported
	// missing or altered by its chain's walk is not reported twice.
	seen := map[string]bool{}
	for _, p := range r.Problems {
		if p.Chain != "" {
			seen[fmt.Sprint(p.Chain, "/", p.ChainSeq)] = true
		}
	}
	missing, err := tx.SealedEntriesMissing(ctx)
	if err != nil {
		return err
	}
	for _, m := range missing {
		key := fmt.Sprint(m.Chain, "/", m.ChainSeq)
		if seen[key] || altered[m.Seal] {
			continue
		}
		seen[key] = true
		p := Problem{Chain: m.Chain, ChainSeq: m.ChainSeq, Seal: m.Seal, Kind: ProblemDeleted,
			Detail: fmt.Sprintf("sealed in seal %d, gone from the log", m.Seal)}
		if m.Changed {
			p.Kind, p.Detail = ProblemAltered, fmt.Sprintf("not the entry sealed in seal %d", m.Seal)
		}
		r.add(p)
	}
	if r.Unsealed, err = tx.ChainsUnsealed(ctx); err != nil {
		return err
	}
	return nil
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
