package audit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/audit"
)

func TestAnchorProvesNothingSealedBeforeItChanged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, c := chainOf(t, 3)
	seal(t, db, c)
	a, ok, err := c.MakeAnchor(ctx, db, time.Date(2026, 11, 29, 17, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	require.True(t, ok)
	// On paper and back: as printed, with the spacing a hand copy may add.
	paper := a.String()
	require.Contains(t, paper, "time: 2026-11-30T01:00:00+08:00")
	read, err := audit.ParseAnchor(strings.NewReader(strings.ReplaceAll(paper, ": ", ":   ") + "\n\n"))
	require.NoError(t, err)
	require.Equal(t, a.Check, read.Check)

	r, err := c.VerifyAnchored(ctx, db, read)
	require.NoError(t, err)
	require.True(t, r.OK, "%+v", r.Problems)
	appendEntries(t, db, c, 4, 2)
	seal(t, db, c)
	r, err = c.VerifyAnchored(ctx, db, read)
	require.NoError(t, err)
	require.True(t, r.OK, "what came after the anchor does not matter to it: %+v", r.Problems)

	// Copied wrong, or from elsewhere: it proves nothing here.
	wrong := read
	wrong.Seal++
	_, err = c.VerifyAnchored(ctx, db, wrong)
	require.ErrorContains(t, err, "check does not match")
	other, _ := chainOf(t, 1)
	otherChain := audit.New("another installation's secret, long enough!")
	seal(t, other, otherChain)
	foreign, ok, err := otherChain.MakeAnchor(ctx, other, time.Now())
	require.NoError(t, err)
	require.True(t, ok)
	_, err = c.VerifyAnchored(ctx, db, foreign)
	require.ErrorContains(t, err, "another installation")

	// Someone with full access and the secret rewrites the whole trail,
	// consistently: it verifies by itself, but not against the anchor.
	tamper(t, db, `DELETE FROM audit_log; DELETE FROM audit_chains; DELETE FROM audit_seals; DELETE FROM audit_seal_chains; DELETE FROM audit_seal_head`)
	appendEntries(t, db, c, 1, 5)
	seal(t, db, c)
	plain := verify(t, db, c)
	require.True(t, plain.OK, "the rewrite is consistent: %+v", plain.Problems)
	r, err = c.VerifyAnchored(ctx, db, read)
	require.NoError(t, err)
	require.False(t, r.OK)
	require.Equal(t, []audit.Problem{{Seal: read.Seal, Kind: audit.ProblemAnchor,
		Detail: "the seal is not the one anchored: what was sealed before the anchor was rewritten"}}, r.Problems)
}
