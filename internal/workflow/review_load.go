package workflow

import (
	"math/big"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/sciflow/sciflow/internal/identity"
)

// reviewSrc keeps the lines the cross-checks of a review report.
type reviewSrc struct {
	review *Review
	line   int
	events []pos // pass, fail, also: each must leave the state
}

// review reads a state's review block; events are checked against the
// whole definition later, in checkReview.
func (p *parser) review(n *yaml.Node, state string, formProps map[string]any) (*Review, *reviewSrc) {
	what := "review of " + state
	f, _ := p.fields(n, what, "reviewers", "policy", "k", "ratio", "pass", "fail", "also", "criteria",
		"aggregate", "pass_mark", "veto", "escalate")
	r := &Review{}
	src := &reviewSrc{review: r, line: n.Line}
	if rn := p.required(f, "reviewers", what, n.Line); rn != nil {
		r.Reviewers = p.reviewers(rn, what, formProps)
	}
	pol := p.str(p.required(f, "policy", what, n.Line), "policy")
	r.Policy = Policy(pol.V)
	if pol.V != "" && !slices.Contains(policies, r.Policy) {
		p.errorf(pol.Line, "unknown policy %q (all, any, k_of_n, sequential or score)", pol.V)
	}
	for _, key := range []string{"pass", "fail"} {
		ev := p.str(p.required(f, key, what, n.Line), key)
		src.events = append(src.events, ev)
		if key == "pass" {
			r.Pass = ev.V
		} else {
			r.Fail = ev.V
		}
	}
	if r.Pass != "" && r.Pass == r.Fail {
		p.errorf(n.Line, "%s: pass and fail must be different events", what)
	}
	for _, a := range p.list(f["also"], "also") {
		if a.V == r.Pass || a.V == r.Fail {
			p.errorf(a.Line, "%s: %s is already the pass or fail event", what, a.V)
			continue
		}
		r.Also = append(r.Also, a.V)
		src.events = append(src.events, a)
	}
	kn, ratioN := f["k"], f["ratio"]
	switch {
	case r.Policy == PolicyKOfN && (kn == nil) == (ratioN == nil):
		p.errorf(n.Line, "%s: k_of_n needs exactly one of k (approvals) or ratio (a share of the panel)", what)
	case r.Policy != PolicyKOfN && (kn != nil || ratioN != nil):
		p.errorf(n.Line, "%s: k and ratio belong to the k_of_n policy", what)
	case kn != nil:
		r.K = p.count(kn, "k", 1, 50)
	case ratioN != nil:
		rat, ok := new(big.Rat).SetString(ratioN.Value)
		if ratioN.Kind != yaml.ScalarNode || !ok || rat.Sign() <= 0 || rat.Cmp(big.NewRat(1, 1)) > 0 {
			p.errorf(ratioN.Line, "ratio must be a number above 0 and at most 1 (0.5, 2/3)")
		} else {
			r.Ratio = rat
		}
	}
	scoring := f["criteria"] != nil || f["aggregate"] != nil || f["pass_mark"] != nil || f["veto"] != nil
	switch {
	case r.Policy == PolicyScore:
		r.Score = p.scoreRule(f, what, n.Line)
		if r.Score != nil && r.Score.Aggregate == TrimmedMean {
			panel := r.Reviewers.Count
			if r.Reviewers.Source == FromAssignment {
				panel = r.Reviewers.Min
			}
			if r.Reviewers.Source != FromRole && panel < 3 {
				p.errorf(n.Line, "%s: a trimmed mean drops the highest and lowest score, so the panel needs at least 3 (it has %d)", what, panel)
			}
		}
	case scoring:
		p.errorf(n.Line, "%s: criteria, aggregate, pass_mark and veto belong to the score policy", what)
	}
	if en := f["escalate"]; en != nil {
		ef, _ := p.fields(en, "escalate", "after")
		if an := p.required(ef, "after", "escalate", en.Line); an != nil {
			d := p.duration(an, "after")
			r.Escalate = &d
		}
	}
	return r, src
}

func (p *parser) reviewers(n *yaml.Node, what string, formProps map[string]any) Reviewers {
	f, keys := p.fields(n, "reviewers", "role", "assign", "min", "draw", "specialty", "specialty_field")
	var r Reviewers
	sources := 0
	for _, k := range keys {
		switch k.Value {
		case "role", "assign", "draw":
			sources++
		}
	}
	if sources != 1 {
		p.errorf(n.Line, "%s: reviewers needs exactly one of role (every holder in scope), assign (staff names them) or draw (experts drawn at random)", what)
		return r
	}
	roleOf := func(node *yaml.Node) identity.Role {
		rs := p.roles([]pos{p.str(node, "role")}, "reviewers of "+what)
		if len(rs) == 0 {
			return ""
		}
		switch rs[0] {
		case identity.Applicant:
			p.errorf(node.Line, "%s: applicants do not review", what)
		case identity.Party:
			p.errorf(node.Line, "%s: a party acts through events that allow it, not as a panel", what)
		}
		return rs[0]
	}
	switch {
	case f["role"] != nil:
		r.Source, r.Role = FromRole, roleOf(f["role"])
	case f["assign"] != nil:
		r.Source, r.Role, r.Min = FromAssignment, roleOf(f["assign"]), 1
		if mn := f["min"]; mn != nil {
			r.Min = p.count(mn, "min", 1, 50)
		}
	case f["draw"] != nil:
		r.Source, r.Role = FromDraw, identity.Expert
		r.Count = p.count(f["draw"], "draw", 1, 50)
		if sn := f["specialty"]; sn != nil {
			r.Specialty = p.str(sn, "specialty").V
		}
		if sn := f["specialty_field"]; sn != nil {
			fieldPos := p.str(sn, "specialty_field")
			r.SpecialtyField = fieldPos.V
			if prop, ok := formProps[fieldPos.V].(map[string]any); formProps != nil && (!ok || prop["type"] != "string") {
				p.errorf(fieldPos.Line, "specialty_field %q must be a string field of the form", fieldPos.V)
			}
		}
		if r.Specialty != "" && r.SpecialtyField != "" {
			p.errorf(n.Line, "%s: give specialty or specialty_field, not both", what)
		}
	}
	if r.Source != FromDraw && (f["specialty"] != nil || f["specialty_field"] != nil) {
		p.errorf(n.Line, "%s: specialty belongs to a draw", what)
	}
	if r.Source != FromAssignment && f["min"] != nil {
		p.errorf(n.Line, "%s: min belongs to assign", what)
	}
	return r
}

func (p *parser) scoreRule(f map[string]*yaml.Node, what string, line int) *ScoreRule {
	s := &ScoreRule{Aggregate: TrimmedMean, PassMark: big.NewRat(70, 1)}
	cn := p.required(f, "criteria", what, line)
	if cn == nil {
		return nil
	}
	if cn.Kind != yaml.SequenceNode || len(cn.Content) == 0 || len(cn.Content) > 20 {
		p.errorf(cn.Line, "criteria must be a list of 1 to 20 criteria")
		return nil
	}
	seen := map[string]bool{}
	for _, item := range cn.Content {
		cf, _ := p.fields(item, "criterion", "key", "title", "weight")
		key := p.str(p.required(cf, "key", "criterion", item.Line), "key")
		p.key(key, "criterion")
		if seen[key.V] {
			p.errorf(key.Line, "duplicate criterion %q", key.V)
		}
		seen[key.V] = true
		c := Criterion{Key: key.V, Title: p.text(p.required(cf, "title", "criterion", item.Line), "title")}
		if wn := p.required(cf, "weight", "criterion", item.Line); wn != nil {
			c.Weight = p.count(wn, "weight", 1, 100)
		}
		s.Criteria = append(s.Criteria, c)
	}
	if an := f["aggregate"]; an != nil {
		a := p.str(an, "aggregate")
		s.Aggregate = Averaging(a.V)
		if s.Aggregate != Mean && s.Aggregate != TrimmedMean {
			p.errorf(a.Line, "aggregate must be mean or trimmed_mean, not %q", a.V)
		}
	}
	if pn := f["pass_mark"]; pn != nil {
		s.PassMark = p.mark(pn, "pass_mark")
	}
	if vn := f["veto"]; vn != nil {
		s.Veto = p.mark(vn, "veto")
	}
	return s
}

// mark reads a score threshold, 0-100.
func (p *parser) mark(n *yaml.Node, what string) *big.Rat {
	r, ok := new(big.Rat).SetString(n.Value)
	if n.Kind != yaml.ScalarNode || !ok || r.Sign() < 0 || r.Cmp(big.NewRat(100, 1)) > 0 {
		p.errorf(n.Line, "%s must be a number from 0 to 100", what)
		return new(big.Rat)
	}
	return r
}

// count reads a whole number within [lo, hi].
func (p *parser) count(n *yaml.Node, what string, lo, hi int) int {
	var v int
	if n.Kind != yaml.ScalarNode || n.Decode(&v) != nil || v < lo || v > hi {
		p.errorf(n.Line, "%s must be a whole number from %d to %d", what, lo, hi)
	}
	return v
}

// checkReview checks a review's events against the definition: each must
// exist and leave the state. Its outcomes count as fired, like a timer's.
func (p *parser) checkReview(s *stateSrc, events map[string]*Event, fired map[string]bool) {
	for _, ev := range s.review.events {
		if ev.V == "" {
			continue // missing: reported already
		}
		e, ok := events[ev.V]
		switch {
		case !ok:
			p.errorf(ev.Line, "review of %s names unknown event %q", s.state.Key, ev.V)
		case !slices.Contains(e.From, s.state.Key):
			p.errorf(ev.Line, "review of %s names event %s, which is not possible from %s", s.state.Key, ev.V, s.state.Key)
		case e.To == s.state.Key:
			p.errorf(ev.Line, "review of %s ends with event %s, which stays in %s", s.state.Key, ev.V, s.state.Key)
		default:
			fired[ev.V] = true
		}
	}
}
