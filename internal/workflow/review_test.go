package workflow

import (
	"fmt"
	"math/big"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

// reviewBase is a valid staged review: a unit stage everyone must approve,
// a formal check anyone of the staff decides, an expert panel that scores.
const reviewBase = `key: t
title: {zh: 测试, en: Test}
initial: draft
form: t.form.json
created_by: [applicant]
states:
  draft:
    title: {zh: 草稿, en: Draft}
    kind: edit
  unit:
    title: {zh: 单位审核, en: Unit}
    kind: review
    deadline: {working_days: 5}
    review:
      reviewers: {role: unit_reviewer}
      policy: all
      pass: recommend
      fail: reject
      also: [send_back]
      escalate: {after: {working_days: 2}}
  experts:
    title: {zh: 专家评审, en: Experts}
    kind: review
    review:
      reviewers: {draw: 5, specialty_field: field}
      policy: score
      criteria:
        - {key: impact, title: {zh: 产业带动作用, en: Impact}, weight: 60}
        - {key: basis, title: {zh: 研究基础, en: Basis}, weight: 40}
      pass_mark: 70
      veto: 40
      pass: experts_pass
      fail: reject
  done:
    title: {zh: 完成, en: Done}
    kind: terminal
events:
  submit:
    title: {zh: 提交, en: Submit}
    from: [draft]
    to: unit
    roles: [applicant]
  recommend:
    title: {zh: 推荐, en: Recommend}
    from: [unit]
    to: experts
    system: true
  send_back:
    title: {zh: 退回, en: Send back}
    from: [unit]
    to: draft
    system: true
    questions: true
  experts_pass:
    title: {zh: 评审通过, en: Passed}
    from: [experts]
    to: done
    system: true
  reject:
    title: {zh: 不通过, en: Reject}
    from: [unit, experts]
    to: done
    system: true
`

const reviewForm = `{"type": "object", "properties": {"field": {"type": "string"}, "budget": {"type": "integer"}}}`

func TestReviewBaseIsValid(t *testing.T) {
	fsys := map[string]string{"t.yaml": reviewBase, "t.form.json": reviewForm}
	require.NoError(t, check(t, fsys))
	defs := mustLoad(t, fsys)
	unit, _ := defs[0].State("unit")
	require.Equal(t, FromRole, unit.Review.Reviewers.Source)
	require.Equal(t, []Decision{{"recommend", Text{Zh: "推荐", En: "Recommend"}}, {"reject", Text{Zh: "不通过", En: "Reject"}},
		{"send_back", Text{Zh: "退回", En: "Send back"}}}, unit.Review.Decisions(defs[0]))
	experts, _ := defs[0].State("experts")
	require.Equal(t, 5, experts.Review.Reviewers.Count)
	require.Equal(t, TrimmedMean, experts.Review.Score.Aggregate)
	require.Equal(t, []Decision{{ScoreDecision, Text{Zh: "提交评分", En: "Submit scores"}}}, experts.Review.Decisions(defs[0]))
}

func mustLoad(t *testing.T, files map[string]string) []*Definition {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, content := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(content)}
	}
	defs, err := LoadDir(fsys)
	require.NoError(t, err)
	return defs
}

func TestReviewCheckFindsEachProblem(t *testing.T) {
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"review outside a review state", "    kind: edit\n", "    kind: edit\n    review: {reviewers: {role: staff}, policy: any, pass: submit, fail: submit}\n",
			"t.yaml:10: state draft declares a review but is not of kind review"},
		{"unknown policy", "policy: all", "policy: majority", `t.yaml:16: unknown policy "majority"`},
		{"two sources of reviewers", "reviewers: {role: unit_reviewer}", "reviewers: {role: unit_reviewer, draw: 3}",
			"t.yaml:15: review of unit: reviewers needs exactly one of role"},
		{"applicants do not review", "reviewers: {role: unit_reviewer}", "reviewers: {role: applicant}",
			"t.yaml:15: review of unit: applicants do not review"},
		{"administrators do not review", "reviewers: {role: unit_reviewer}", "reviewers: {assign: admin}",
			"t.yaml:15: role admin may not act in workflows"},
		{"unknown pass event", "pass: recommend", "pass: recomend", `t.yaml:17: review of unit names unknown event "recomend"`},
		{"outcome not possible from the state", "fail: reject\n      also", "fail: experts_pass\n      also",
			"t.yaml:18: review of unit names event experts_pass, which is not possible from unit"},
		{"same pass and fail", "fail: reject\n      also", "fail: recommend\n      also", "t.yaml:15: review of unit: pass and fail must be different events"},
		{"k_of_n without k", "policy: all", "policy: k_of_n", "t.yaml:15: review of unit: k_of_n needs exactly one of k"},
		{"k on another policy", "policy: all", "policy: all\n      k: 2", "t.yaml:15: review of unit: k and ratio belong to the k_of_n policy"},
		{"bad ratio", "policy: all", "policy: k_of_n\n      ratio: 1.5", "t.yaml:17: ratio must be a number above 0 and at most 1"},
		{"criteria on a vote", "policy: all", "policy: all\n      pass_mark: 60", "t.yaml:15: review of unit: criteria, aggregate, pass_mark and veto belong to the score policy"},
		{"draw too large", "draw: 5,", "draw: 500,", "t.yaml:25: draw must be a whole number from 1 to 50"},
		{"trimmed mean of two", "draw: 5,", "draw: 2,", "t.yaml:25: review of experts: a trimmed mean drops the highest and lowest score, so the panel needs at least 3 (it has 2)"},
		{"specialty field not in the form", "specialty_field: field", "specialty_field: feild", `t.yaml:25: specialty_field "feild" must be a string field of the form`},
		{"duplicate criterion", "key: basis", "key: impact", `t.yaml:29: duplicate criterion "impact"`},
		{"zero weight", "weight: 40", "weight: 0", "t.yaml:29: weight must be a whole number from 1 to 100"},
		{"pass mark above 100", "pass_mark: 70", "pass_mark: 170", "t.yaml:30: pass_mark must be a number from 0 to 100"},
		{"escalation without a deadline", "    deadline: {working_days: 5}\n", "", "t.yaml:14: state unit escalates overdue tasks but has no deadline"},
		{"questions back to a review state", "    to: draft\n    system: true\n    questions: true", "    to: experts\n    system: true\n    questions: true",
			"t.yaml:48: event send_back asks questions, so it must go to a state the applicant edits (kind edit), not experts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Contains(t, reviewBase, tc.from)
			err := check(t, map[string]string{"t.yaml": strings.Replace(reviewBase, tc.from, tc.to, 1), "t.form.json": reviewForm})
			require.Error(t, err)
			require.Contains(t, "\n"+err.Error(), "\n"+tc.want, "all problems:\n%s", err)
		})
	}
}

func votes(decisions ...string) []Vote {
	out := make([]Vote, len(decisions))
	for i, d := range decisions {
		out[i] = Vote{Decision: d}
	}
	return out
}

func scored(totals ...string) []Vote {
	out := make([]Vote, len(totals))
	for i, t := range totals {
		if t == "" {
			continue
		}
		r, ok := new(big.Rat).SetString(t)
		if !ok {
			panic(t)
		}
		out[i] = Vote{Decision: ScoreDecision, Total: r}
	}
	return out
}

func TestPolicies(t *testing.T) {
	const pass, fail, back = "yes", "no", "back"
	review := func(p Policy, mod func(*Review)) *Review {
		r := &Review{Policy: p, Pass: pass, Fail: fail, Also: []string{back}}
		if mod != nil {
			mod(r)
		}
		return r
	}
	k := func(n int) func(*Review) { return func(r *Review) { r.K = n } }
	ratio := func(s string) func(*Review) {
		return func(r *Review) { r.Ratio, _ = new(big.Rat).SetString(s) }
	}
	score := func(agg Averaging, mark string, veto string) func(*Review) {
		return func(r *Review) {
			r.Score = &ScoreRule{Aggregate: agg}
			r.Score.PassMark, _ = new(big.Rat).SetString(mark)
			if veto != "" {
				r.Score.Veto, _ = new(big.Rat).SetString(veto)
			}
		}
	}
	for _, tc := range []struct {
		name   string
		review *Review
		votes  []Vote
		min    int
		want   string // "" while undecided
	}{
		// 会签: everyone approves; one rejection rejects at once.
		{"all: waiting for the last", review(PolicyAll, nil), votes(pass, pass, ""), 0, ""},
		{"all: everyone approved", review(PolicyAll, nil), votes(pass, pass, pass), 0, pass},
		{"all: one rejection decides early", review(PolicyAll, nil), votes(pass, fail, ""), 0, fail},
		// A recusal in the middle leaves two active votes: both approved is enough.
		{"all: recusal of the last undecided", review(PolicyAll, nil), votes(pass, pass), 0, pass},
		{"all: nobody on the panel yet", review(PolicyAll, nil), nil, 0, ""},
		{"all: assigned panel below its minimum", review(PolicyAll, nil), votes(pass, pass), 3, ""},
		// 或签: the first decision decides.
		{"any: first approval", review(PolicyAny, nil), votes("", pass, ""), 0, pass},
		{"any: first rejection", review(PolicyAny, nil), votes(fail, "", ""), 0, fail},
		{"any: nothing yet", review(PolicyAny, nil), votes("", ""), 0, ""},
		// 票签 with an absolute k.
		{"k_of_n: 2 of 3 reached", review(PolicyKOfN, k(2)), votes(pass, "", pass), 0, pass},
		{"k_of_n: still possible", review(PolicyKOfN, k(2)), votes(pass, fail, ""), 0, ""},
		{"k_of_n: no longer reachable", review(PolicyKOfN, k(2)), votes(fail, fail, ""), 0, fail},
		{"k_of_n: recusal makes k unreachable", review(PolicyKOfN, k(3)), votes(pass, pass), 0, fail},
		// Ties at a ratio count for the stage: half of four is two.
		{"ratio: tie of 2 to 2 passes", review(PolicyKOfN, ratio("0.5")), votes(pass, fail, fail, pass), 0, pass},
		{"ratio: 2/3 of 3 needs exactly 2", review(PolicyKOfN, ratio("2/3")), votes(pass, pass, ""), 0, pass},
		{"ratio: 0.6 of 4 needs 3", review(PolicyKOfN, ratio("0.6")), votes(pass, pass, fail, ""), 0, ""},
		{"ratio: 0.6 of 4 fails at two rejections", review(PolicyKOfN, ratio("0.6")), votes(pass, fail, fail, ""), 0, fail},
		// 依次: in order, each must approve.
		{"sequential: first approved, next to go", review(PolicySequential, nil), votes(pass, "", ""), 0, ""},
		{"sequential: all approved", review(PolicySequential, nil), votes(pass, pass, pass), 0, pass},
		{"sequential: a rejection stops it", review(PolicySequential, nil), votes(pass, fail, ""), 0, fail},
		// Any reviewer's send back decides at once, whatever the policy.
		{"all: send back by one", review(PolicyAll, nil), votes(pass, back, ""), 0, back},
		{"k_of_n: send back by one", review(PolicyKOfN, k(2)), votes(back, ""), 0, back},
		{"assigned panel below minimum still sends back", review(PolicyAll, nil), votes(back), 3, back},
		// Scores: weighted totals aggregated exactly.
		{"score: waiting for a score", review(PolicyScore, score(Mean, "70", "")), scored("80", ""), 0, ""},
		{"score: mean passes", review(PolicyScore, score(Mean, "70", "")), scored("80", "60", "71"), 0, pass},
		{"score: mean just below", review(PolicyScore, score(Mean, "70", "")), scored("80", "60", "69.99"), 0, fail},
		{"score: tie at the pass mark passes", review(PolicyScore, score(Mean, "70", "")), scored("70", "70", "70"), 0, pass},
		{"score: a third of 210 is exactly 70", review(PolicyScore, score(Mean, "70", "")), scored("69.5", "70.25", "70.25"), 0, pass},
		// Trimmed mean drops one highest and one lowest: 100 and 10 go.
		{"score: trimmed mean ignores the outliers", review(PolicyScore, score(TrimmedMean, "70", "")), scored("100", "72", "70", "68", "10"), 0, pass},
		{"score: plain mean of the same fails", review(PolicyScore, score(Mean, "70", "")), scored("100", "72", "70", "68", "10"), 0, fail},
		{"score: trimmed mean with tied extremes drops one each", review(PolicyScore, score(TrimmedMean, "70", "")), scored("90", "90", "60", "60", "70"), 0, pass},
		{"score: minimum veto", review(PolicyScore, score(TrimmedMean, "70", "50")), scored("95", "90", "90", "88", "45"), 0, fail},
		{"score: at the veto line is no veto", review(PolicyScore, score(TrimmedMean, "70", "50")), scored("95", "90", "90", "88", "50"), 0, pass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := tc.review.Decide(tc.votes, tc.min)
			require.Equal(t, tc.want, out.Event, "summary %v", out.Summary)
			require.NotNil(t, out.Summary)
		})
	}
}

func TestScoreSummaryShowsTheArithmetic(t *testing.T) {
	r := &Review{Policy: PolicyScore, Pass: "yes", Fail: "no", Score: &ScoreRule{Aggregate: TrimmedMean, PassMark: big.NewRat(70, 1)}}
	out := r.Decide(scored("100", "72", "70", "68", "10"), 0)
	require.Equal(t, "70.00", out.Summary["aggregate"])
	require.Equal(t, []string{"100.00", "72.00", "70.00", "68.00", "10.00"}, out.Summary["totals"])
}

func TestScoreTotals(t *testing.T) {
	rule := &ScoreRule{Criteria: []Criterion{{Key: "impact", Weight: 60}, {Key: "basis", Weight: 40}}}
	total, bad := rule.Total(map[string]any{"impact": 80.0, "basis": 65.5})
	require.Empty(t, bad)
	// (80×60 + 65.5×40) / 100 = 74.2
	require.Equal(t, "74.20", total.FloatString(2))
	total, bad = rule.Total(map[string]any{"impact": 85.3, "basis": 85.3})
	require.Empty(t, bad)
	require.Equal(t, 0, total.Cmp(big.NewRat(853, 10)), "85.3 is read exactly, not as the nearest binary float")

	for _, tc := range []struct {
		scores map[string]any
		want   []string
	}{
		{map[string]any{"impact": 80.0}, []string{"basis"}},
		{map[string]any{"impact": 101.0, "basis": -1.0}, []string{"basis", "impact"}},
		{map[string]any{"impact": 80.123, "basis": 70.0}, []string{"impact"}},
		{map[string]any{"impact": "80", "basis": 70.0}, []string{"impact"}},
		{map[string]any{"impact": 80.0, "basis": 70.0, "charm": 99.0}, []string{"charm"}},
	} {
		_, bad := rule.Total(tc.scores)
		var got []string
		for _, b := range bad {
			got = append(got, b.Criterion)
		}
		require.Equal(t, tc.want, got, "%v", tc.scores)
	}
}

func TestDrawReplaysAndIsFair(t *testing.T) {
	pool := make([]string, 20)
	for i := range pool {
		pool[i] = fmt.Sprintf("00000000-0000-0000-0000-%012d", i)
	}
	seed := "5eed00000000000000000000000000aa"
	first := Draw(seed, pool, 5)
	require.Len(t, first, 5)
	require.Equal(t, first, Draw(seed, pool, 5), "the same seed and pool give the same panel")
	// The order of the pool does not matter: tickets do.
	reversed := make([]string, len(pool))
	for i, id := range pool {
		reversed[len(pool)-1-i] = id
	}
	require.Equal(t, first, Draw(seed, reversed, 5))
	seen := map[string]bool{}
	for _, id := range first {
		require.False(t, seen[id], "never the same person twice")
		seen[id] = true
	}
	require.NotEqual(t, first, Draw("5eed00000000000000000000000000ab", pool, 5), "another seed, another panel")
	require.Len(t, Draw(seed, pool[:3], 5), 3, "a short pool gives what it has; the engine refuses it first")
	// Over many seeds every candidate gets picked sometimes.
	picked := map[string]int{}
	for i := range 400 {
		for _, id := range Draw(fmt.Sprintf("%032x", i), pool, 5) {
			picked[id]++
		}
	}
	require.Len(t, picked, len(pool))
	for id, n := range picked {
		require.Greater(t, n, 40, "%s picked %d times of 400 draws of 5 from 20 (expected about 100)", id, n)
	}
}
