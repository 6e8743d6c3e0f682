package workflow

import (
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"slices"
	"sort"
	"strconv"

	"github.com/sciflow/sciflow/internal/identity"
)

// Review declares who reviews an application in a state and how their
// decisions combine into the stage's outcome. Each reviewer gets a task;
// once the policy is decided, the engine fires Pass or Fail (or the Also
// event a reviewer chose) itself, as the system.
type Review struct {
	Reviewers Reviewers
	Policy    Policy
	// K is how many approvals a k_of_n stage needs; when zero, Ratio of the
	// panel (rounded up) is.
	K     int
	Ratio *big.Rat
	// Pass and Fail are the events the policy ends the stage with.
	Pass, Fail string
	// Also are further events a reviewer may choose (a send back, say): the
	// first reviewer who chooses one decides the stage at once.
	Also []string
	// Score is the scoring rule of a score stage.
	Score *ScoreRule
	// Escalate, when set, tells the leaders about a task this long overdue.
	Escalate *Duration
}

// ReviewerSource says where a stage's reviewers come from.
type ReviewerSource string

// The sources of reviewers.
const (
	// FromRole gives a task to every holder of the role who may act on the
	// application (its organisational scope), as role-fired events do.
	FromRole ReviewerSource = "role"
	// FromAssignment waits for staff to name the reviewers.
	FromAssignment ReviewerSource = "assign"
	// FromDraw draws experts at random from the pool.
	FromDraw ReviewerSource = "draw"
)

// Reviewers says who gets a stage's tasks.
type Reviewers struct {
	Source ReviewerSource
	// Role is the role reviewers hold: the role whose holders get tasks, or
	// the role assignees and drawn experts must have.
	Role identity.Role
	// Min is how many assigned reviewers the stage needs before it can be
	// decided (assign).
	Min int
	// Count is how many experts are drawn (draw).
	Count int
	// Specialty limits a draw to experts of one specialty; SpecialtyField
	// reads it from the application's form instead.
	Specialty      string
	SpecialtyField string
}

// Policy is how a stage's decisions combine.
type Policy string

// The policies of Chinese approval practice.
const (
	PolicyAll        Policy = "all"        // 会签: everyone must approve; one rejection rejects
	PolicyAny        Policy = "any"        // 或签: the first decision decides
	PolicyKOfN       Policy = "k_of_n"     // 票签: k approvals (or a share of the panel) pass
	PolicySequential Policy = "sequential" // 依次: one after another, each must approve
	PolicyScore      Policy = "score"      // 专家评分: weighted scores against a pass rule
)

var policies = []Policy{PolicyAll, PolicyAny, PolicyKOfN, PolicySequential, PolicyScore}

// Criterion is one thing experts score, 0-100, with its weight.
type Criterion struct {
	Key    string
	Title  Text
	Weight int
}

// Averaging combines the experts' totals.
type Averaging string

// The aggregates.
const (
	Mean        Averaging = "mean"
	TrimmedMean Averaging = "trimmed_mean" // drop one highest and one lowest
)

// ScoreRule is how a score stage passes: the aggregate of the experts'
// weighted totals must reach PassMark, and no total may fall below Veto.
type ScoreRule struct {
	Criteria  []Criterion
	Aggregate Averaging
	PassMark  *big.Rat
	Veto      *big.Rat // nil: no veto
}

// ScoreDecision is the one decision of a score task: handing in the scores.
const ScoreDecision = "score"

// Decision is a choice a reviewer has.
type Decision struct {
	Key   string
	Title Text
}

// Decisions are what a reviewer of this stage may choose: approve (Pass)
// or reject (Fail), or hand in scores, plus the Also events.
func (r *Review) Decisions(d *Definition) []Decision {
	var keys []string
	if r.Policy == PolicyScore {
		keys = []string{ScoreDecision}
	} else {
		keys = []string{r.Pass, r.Fail}
	}
	keys = append(keys, r.Also...)
	out := make([]Decision, 0, len(keys))
	for _, k := range keys {
		if k == ScoreDecision {
			out = append(out, Decision{Key: k, Title: Text{Zh: "提交评分", En: "Submit scores"}})
			continue
		}
		ev, _ := d.Event(k)
		out = append(out, Decision{Key: k, Title: ev.Title})
	}
	return out
}

// DecidesBy reports whether event ends this stage through its reviewers, so
// that nobody may fire it directly in the stage's state.
func (r *Review) DecidesBy(event string) bool {
	return event == r.Pass || event == r.Fail || slices.Contains(r.Also, event)
}

// Vote is one active task of a stage as the policy sees it: recused,
// delegated and cancelled tasks are not votes.
type Vote struct {
	// Decision is empty while the task is undecided.
	Decision string
	// Total is a score task's weighted total.
	Total *big.Rat
}

// Outcome is what a stage's votes come to.
type Outcome struct {
	// Event is the event to fire; empty while the stage is undecided.
	Event string
	// Summary is the tally or the aggregate, recorded with the outcome.
	Summary map[string]any
}

// Decide applies the policy to the votes of a stage's active tasks, in
// panel order. minPanel is how many tasks the stage needs before it can be
// decided (assigned panels); a reviewer's Also choice decides at once.
func (r *Review) Decide(votes []Vote, minPanel int) Outcome {
	n := len(votes)
	pass, fail, undecided := 0, 0, 0
	first := ""
	for _, v := range votes {
		switch {
		case v.Decision == "":
			undecided++
		case slices.Contains(r.Also, v.Decision):
			return Outcome{Event: v.Decision, Summary: map[string]any{"policy": string(r.Policy), "panel": n, "chosen": v.Decision}}
		case v.Decision == r.Fail:
			fail++
		default:
			pass++
		}
		if v.Decision != "" && first == "" {
			first = v.Decision
		}
	}
	summary := map[string]any{"policy": string(r.Policy), "panel": n, "pass": pass, "fail": fail, "undecided": undecided}
	if n == 0 || n < minPanel {
		return Outcome{Summary: summary}
	}
	decided := func(event string) Outcome { return Outcome{Event: event, Summary: summary} }
	switch r.Policy {
	case PolicyAny:
		if first == r.Fail {
			return decided(r.Fail)
		}
		if first != "" {
			return decided(r.Pass)
		}
	case PolicyAll, PolicySequential:
		if fail > 0 {
			return decided(r.Fail)
		}
		if pass == n {
			return decided(r.Pass)
		}
	case PolicyKOfN:
		k := r.Needed(n)
		summary["needed"] = k
		if pass >= k {
			return decided(r.Pass)
		}
		if pass+undecided < k {
			return decided(r.Fail)
		}
	case PolicyScore:
		if undecided > 0 {
			return Outcome{Summary: summary}
		}
		return r.scoreOutcome(votes)
	}
	return Outcome{Summary: summary}
}

// Needed is how many approvals a k_of_n panel of n needs: K, or the Ratio
// of n rounded up (at least one). Ties count for the stage: 2 of 4 at a
// ratio of 0.5 pass.
func (r *Review) Needed(n int) int {
	if r.K > 0 {
		return r.K
	}
	// Exact arithmetic: 2/3 of 3 is 2, not 2.0000000001 rounded up to 3.
	need := new(big.Rat).Mul(r.Ratio, big.NewRat(int64(n), 1))
	k := new(big.Int).Quo(need.Num(), need.Denom())
	if new(big.Rat).SetInt(k).Cmp(need) < 0 {
		k.Add(k, big.NewInt(1))
	}
	return max(1, int(k.Int64()))
}

func (r *Review) scoreOutcome(votes []Vote) Outcome {
	rule := r.Score
	totals := make([]*big.Rat, len(votes))
	shown := make([]string, len(votes))
	for i, v := range votes {
		totals[i] = v.Total
		shown[i] = v.Total.FloatString(2)
	}
	agg := Aggregated(rule.Aggregate, totals)
	summary := map[string]any{"policy": string(r.Policy), "panel": len(votes), "totals": shown,
		"aggregate": agg.FloatString(2), "rule": string(rule.Aggregate), "pass_mark": rule.PassMark.FloatString(2)}
	if rule.Veto != nil {
		summary["veto"] = rule.Veto.FloatString(2)
		for _, t := range totals {
			if t.Cmp(rule.Veto) < 0 {
				summary["vetoed"] = true
				return Outcome{Event: r.Fail, Summary: summary}
			}
		}
	}
	if agg.Cmp(rule.PassMark) >= 0 {
		return Outcome{Event: r.Pass, Summary: summary}
	}
	return Outcome{Event: r.Fail, Summary: summary}
}

// Aggregated combines totals exactly: their mean, or with trimmed_mean the
// mean after dropping one highest and one lowest (a plain mean below three
// totals, where nothing would be left).
func Aggregated(a Averaging, totals []*big.Rat) *big.Rat {
	ts := slices.Clone(totals)
	if a == TrimmedMean && len(ts) >= 3 {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Cmp(ts[j]) < 0 })
		ts = ts[1 : len(ts)-1]
	}
	sum := new(big.Rat)
	for _, t := range ts {
		sum.Add(sum, t)
	}
	if len(ts) == 0 {
		return sum
	}
	return sum.Quo(sum, big.NewRat(int64(len(ts)), 1))
}

// ScoreError says which criterion's score is wrong and why.
type ScoreError struct {
	Criterion string
	Msg       Text
}

func (e *ScoreError) Error() string { return e.Criterion + ": " + e.Msg.En }

// Total checks a reviewer's scores (every criterion, nothing else, each
// 0-100 with at most two decimals) and returns their weighted total.
func (s *ScoreRule) Total(scores map[string]any) (*big.Rat, []*ScoreError) {
	var bad []*ScoreError
	for k := range scores {
		if !slices.ContainsFunc(s.Criteria, func(c Criterion) bool { return c.Key == k }) {
			bad = append(bad, &ScoreError{k, Text{Zh: "没有这一评分项", En: "no such criterion"}})
		}
	}
	sum, weights := new(big.Rat), 0
	for _, c := range s.Criteria {
		v, ok := scores[c.Key]
		if !ok {
			bad = append(bad, &ScoreError{c.Key, Text{Zh: "请打分", En: "a score is required"}})
			continue
		}
		r, ok := scoreValue(v)
		if !ok {
			bad = append(bad, &ScoreError{c.Key, Text{Zh: "应为 0-100 的分数，最多两位小数", En: "must be a score from 0 to 100 with at most two decimals"}})
			continue
		}
		sum.Add(sum, r.Mul(r, big.NewRat(int64(c.Weight), 1)))
		weights += c.Weight
	}
	if len(bad) > 0 {
		sort.Slice(bad, func(i, j int) bool { return bad[i].Criterion < bad[j].Criterion })
		return nil, bad
	}
	return sum.Quo(sum, big.NewRat(int64(weights), 1)), nil
}

// scoreValue reads a score as JSON gave it, exactly: 85.3 is 853/10, not
// the binary float nearest to it.
func scoreValue(v any) (*big.Rat, bool) {
	var s string
	switch n := v.(type) {
	case float64:
		s = strconv.FormatFloat(n, 'f', -1, 64)
	case int:
		s = strconv.Itoa(n)
	case int64:
		s = strconv.FormatInt(n, 10)
	case interface{ String() string }: // json.Number
		s = n.String()
	default:
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || r.Sign() < 0 || r.Cmp(big.NewRat(100, 1)) > 0 {
		return nil, false
	}
	if new(big.Rat).Mul(r, big.NewRat(100, 1)).IsInt() {
		return r, true
	}
	return nil, false
}

// Draw picks n experts from pool by a rule anyone can replay by hand: each
// candidate's ticket is the hex SHA-256 of seed, ":" and their id; the n
// lowest tickets win, in ticket order. The seed is random and stored with
// the pool and the result, so an auditor who recomputes the tickets gets
// the same panel, and nobody could have chosen the seed to favour anyone
// without it showing.
func Draw(seed string, pool []string, n int) []string {
	type ticket struct{ id, hash string }
	ts := make([]ticket, len(pool))
	for i, id := range pool {
		sum := sha256.Sum256([]byte(seed + ":" + id))
		ts[i] = ticket{id, hex.EncodeToString(sum[:])}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].hash < ts[j].hash })
	out := make([]string, 0, min(n, len(ts)))
	for i := 0; i < n && i < len(ts); i++ {
		out = append(out, ts[i].id)
	}
	return out
}
