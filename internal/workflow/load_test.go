package workflow

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoadValid(t *testing.T) {
	defs, err := LoadDir(os.DirFS("testdata/valid"))
	require.NoError(t, err)
	require.Len(t, defs, 3)
	g := defs[0]
	require.Equal(t, "grant", g.Key)
	require.Equal(t, "科技项目申报", g.Title.Zh)
	require.NotEmpty(t, g.Hash)
	s, ok := g.State("formal_review")
	require.True(t, ok)
	require.Equal(t, 5, s.Timer.After.WorkingDays)
	keys := []string{}
	for _, e := range g.EventsFrom("formal_review") {
		keys = append(keys, e.Key)
	}
	require.Equal(t, []string{"pass", "reject", "remind", "send_back", "withdraw"}, keys)
	require.Equal(t, "grant", defs[1].Parent)
	p := defs[2]
	require.Equal(t, "project", p.Key)
	experts, _ := p.State("expert_review")
	require.Equal(t, PolicyScore, experts.Review.Policy)
	require.Len(t, experts.Review.Score.Criteria, 4)
	require.Equal(t, "field", experts.Review.Reviewers.SpecialtyField)
	send, _ := p.Event("send_back")
	require.True(t, send.Questions)
}

// A payload's fields keep the order the definition gives them, so that a
// form drawn from it reads as written.
func TestEventDataKeepsItsFieldOrder(t *testing.T) {
	defs, err := LoadDir(os.DirFS("../../workflows"))
	require.NoError(t, err)
	for _, d := range defs {
		if d.Key != "jiebang" {
			continue
		}
		for _, key := range []string{"disburse", "disburse_final"} { // the second by a YAML alias
			ev, ok := d.Event(key)
			require.True(t, ok)
			raw := string(ev.DataJSON)
			require.Less(t, strings.Index(raw, `"tranche"`), strings.Index(raw, `"amount"`), raw)
			require.Less(t, strings.Index(raw, `"amount"`), strings.Index(raw, `"paid_on"`), raw)
		}
		return
	}
	t.Fatal("jiebang not found")
}
