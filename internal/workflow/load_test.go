package workflow

import (
	"os"
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
