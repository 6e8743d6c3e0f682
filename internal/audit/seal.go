package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sciflow/sciflow/internal/postgres"
)

// seal is what one seal records: the heads of the chains written by
// transactions from FromXID up to (not including) UptoXID, the horizon of
// the sealer's snapshot, before which every transaction had ended.
type seal struct {
	Seq      int64        `json:"seq"`
	AtMicros int64        `json:"at_us"`
	FromXID  string       `json:"from_xid"`
	UptoXID  string       `json:"upto_xid"`
	Chains   []sealedHead `json:"chains"`
}

type sealedHead struct {
	Chain string `json:"chain"`
	Count int64  `json:"count"`
	Hash  string `json:"hash"`
}

// Seal links the heads of every chain written since the last seal into the
// chain of seals, and returns how many it sealed (0 when nothing was
// written, or another process is sealing: one at a time, by advisory lock).
func (c *Chain) Seal(ctx context.Context, db *postgres.DB) (int, error) {
	tx, err := db.BeginSeal(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	locked, head, _, horizon, err := tx.SealStart(ctx)
	if err != nil || !locked {
		return 0, err
	}
	from := head.UptoXID
	heads, err := tx.ChainsWritten(ctx, from, horizon)
	if err != nil || len(heads) == 0 {
		return 0, err
	}
	row, next, err := c.SealAfter(head, time.Now(), from, horizon, heads)
	if err != nil {
		return 0, err
	}
	chains := make([]string, len(heads))
	for i, h := range heads {
		chains[i] = h.Chain
	}
	if err := tx.AppendSeal(ctx, row, next, chains); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return len(heads), nil
}

// SealAfter makes the seal that follows head: it records heads, the
// chains written by the transactions from from up to (not including)
// upto, sorted by chain, and is hashed after head's last seal. It returns
// the seal as stored and the seal head signed anew. Seal stores what it
// makes; the scale bench (internal/bench) seals its generated chains with
// it, so that its seals are made exactly as the servers' are.
func (c *Chain) SealAfter(head postgres.SealHead, at time.Time, from, upto string, heads []postgres.ChainHead) (postgres.SealRow, postgres.SealHead, error) {
	s := seal{Seq: head.Count + 1, AtMicros: at.UnixMicro(), FromXID: from, UptoXID: upto,
		Chains: make([]sealedHead, len(heads))}
	for i, h := range heads {
		s.Chains[i] = sealedHead{Chain: h.Chain, Count: h.Count, Hash: hex.EncodeToString(h.LastHash)}
	}
	content, err := json.Marshal(s)
	if err != nil {
		return postgres.SealRow{}, postgres.SealHead{}, fmt.Errorf("encode seal: %w", err)
	}
	hash := c.entryHash(head.LastHash, content)
	next := postgres.SealHead{Count: s.Seq, LastHash: hash, UptoXID: upto}
	next.Signature = c.sealSignature(next.Count, next.LastHash)
	return postgres.SealRow{Seq: s.Seq, Content: string(content), PrevHash: head.LastHash, Hash: hash}, next, nil
}

func (c *Chain) sealSignature(count int64, last []byte) []byte {
	m := hmac.New(sha256.New, c.secret)
	m.Write([]byte("sciflow seal head\x00"))
	binary.Write(m, binary.BigEndian, count)
	m.Write(last)
	return m.Sum(nil)
}
