package audit

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sciflow/sciflow/internal/postgres"
)

// Anchor is the seal head written down outside the system (on paper, in
// another system): whoever holds it can later prove that nothing sealed
// before it changed, even against someone who holds the secret and rewrote
// the whole trail consistently, because the rewrite cannot reproduce the
// anchored seal's hash.
type Anchor struct {
	// Installation names the trail the anchor belongs to (derived from the
	// secret, so it says nothing of it).
	Installation string
	Seal         int64
	Hash         string
	At           time.Time
	// Check is a MAC over the rest: a typing error or a forged anchor is
	// told apart from a rewritten trail.
	Check string
}

// chinaTime is the time the bureau reads (China keeps no daylight saving);
// the calendar package, which names it too, depends on this one.
var chinaTime = time.FixedZone("CST", 8*60*60)

// installation is this trail's name: a fingerprint of the secret.
func (c *Chain) installation() string {
	m := hmac.New(sha256.New, c.secret)
	m.Write([]byte("sciflow installation"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

func (c *Chain) anchorCheck(a Anchor) string {
	m := hmac.New(sha256.New, c.secret)
	fmt.Fprintf(m, "sciflow anchor\x00%s\x00%d\x00%s\x00%d", a.Installation, a.Seal, a.Hash, a.At.Unix())
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// MakeAnchor seals everything written before it was called and returns the
// seal head as an anchor; ok is false while nothing was ever written. A
// seal reaches only past transactions that have ended, so it waits (up to
// anchorWait) for those running when it began.
func (c *Chain) MakeAnchor(ctx context.Context, db *postgres.DB, now time.Time) (a Anchor, ok bool, err error) {
	begun, err := db.NextXID(ctx)
	if err != nil {
		return a, false, err
	}
	deadline := time.Now().Add(anchorWait)
	for {
		if _, err := c.Seal(ctx, db); err != nil {
			return a, false, err
		}
		tx, err := db.Snapshot(ctx)
		if err != nil {
			return a, false, err
		}
		head, ok, err := tx.SealHeadNow(ctx)
		var sealed bool
		if err == nil {
			sealed, err = tx.SealedBefore(ctx, begun)
		}
		tx.Rollback()
		if err != nil {
			return a, false, err
		}
		switch {
		case ok && sealed:
			a = Anchor{Installation: c.installation(), Seal: head.Count, Hash: hex.EncodeToString(head.LastHash),
				At: now.Truncate(time.Second)}
			a.Check = c.anchorCheck(a)
			return a, true, nil
		case sealed:
			return a, false, nil // nothing was ever written
		case time.Now().After(deadline):
			return a, false, fmt.Errorf("transactions begun before the anchor are still running after %s: try again", anchorWait)
		}
		select {
		case <-ctx.Done():
			return a, false, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// anchorWait bounds how long MakeAnchor waits for running transactions.
const anchorWait = 30 * time.Second

// String is the anchor in the short form the bureau files: a line per field.
func (a Anchor) String() string {
	return fmt.Sprintf("sciflow audit anchor\ninstallation: %s\nseal: %d\nhash: %s\ntime: %s\ncheck: %s\n",
		a.Installation, a.Seal, a.Hash, a.At.In(chinaTime).Format(time.RFC3339), a.Check)
}

// ParseAnchor reads an anchor in String's form; blank lines and spaces
// around the values, as someone copying it by hand may leave, do not matter.
func ParseAnchor(r io.Reader) (Anchor, error) {
	var a Anchor
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue // the title line, blank lines
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		var err error
		switch key {
		case "installation":
			a.Installation = value
		case "seal":
			a.Seal, err = strconv.ParseInt(value, 10, 64)
		case "hash":
			a.Hash = strings.ToLower(value)
		case "time":
			a.At, err = time.Parse(time.RFC3339, value)
		case "check":
			a.Check = strings.ToLower(value)
		default:
			continue
		}
		if err != nil {
			return a, fmt.Errorf("anchor: %s: %w", key, err)
		}
		seen[key] = true
	}
	if err := sc.Err(); err != nil {
		return a, fmt.Errorf("read anchor: %w", err)
	}
	for _, k := range []string{"installation", "seal", "hash", "time", "check"} {
		if !seen[k] {
			return a, fmt.Errorf("anchor: no %q line", k)
		}
	}
	return a, nil
}

// ProblemAnchor: the seal an anchor names is missing or is not the one
// anchored: the trail before the anchor was changed since.
const ProblemAnchor = "anchor_mismatch"

// VerifyAnchored is Verify plus the anchor's own check: the anchor must be
// this installation's and intact (else an error: it proves nothing here),
// and the seal it names must still be there with the hash it had.
func (c *Chain) VerifyAnchored(ctx context.Context, db *postgres.DB, a Anchor) (Report, error) {
	if a.Installation != c.installation() {
		return Report{}, fmt.Errorf("the anchor is from another installation (%s, this is %s): it proves nothing about this trail",
			a.Installation, c.installation())
	}
	if !hmac.Equal([]byte(c.anchorCheck(a)), []byte(a.Check)) {
		return Report{}, fmt.Errorf("the anchor's check does not match: it was copied wrong or altered")
	}
	r, err := c.Verify(ctx, db)
	if err != nil {
		return r, err
	}
	tx, err := db.Snapshot(ctx)
	if err != nil {
		return r, err
	}
	defer tx.Rollback()
	hash, found, err := tx.SealHash(ctx, a.Seal)
	if err != nil {
		return r, err
	}
	switch {
	case !found:
		r.add(Problem{Seal: a.Seal, Kind: ProblemAnchor, Detail: "the anchored seal is gone"})
	case hex.EncodeToString(hash) != a.Hash:
		r.add(Problem{Seal: a.Seal, Kind: ProblemAnchor,
			Detail: "the seal is not the one anchored: what was sealed before the anchor was rewritten"})
	}
	r.OK = len(r.Problems) == 0
	return r, nil
}
