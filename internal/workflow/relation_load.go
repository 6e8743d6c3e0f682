package workflow

import (
	"fmt"
	"slices"
	"sort"

	"go.yaml.in/yaml/v3"

	"github.com/sciflow/sciflow/internal/identity"
)

// relSrc keeps the lines the cross-checks of a definition's relations
// report.
type relSrc struct {
	refStates []pos
	aggs      map[string]*aggSrc
	notice    int
	public    []pos
}

type aggSrc struct {
	line      int
	workflows []pos
	states    []pos
}

// relations reads what a definition says about other applications and
// organisations, its notice, its attachment slots and its public states.
func (p *parser) relations(f map[string]*yaml.Node, d *Definition, formProps map[string]any) *relSrc {
	rel := &relSrc{aggs: map[string]*aggSrc{}}
	if n := f["refers_to"]; n != nil {
		rf, _ := p.fields(n, "refers_to", "workflow", "field", "states")
		r := &Reference{Workflow: p.str(p.required(rf, "workflow", "refers_to", n.Line), "workflow").V}
		field := p.str(p.required(rf, "field", "refers_to", n.Line), "field")
		r.Field = field.V
		p.formField(field, formProps, "string", "refers_to.field")
		rel.refStates = p.list(p.required(rf, "states", "refers_to", n.Line), "states")
		if rf["states"] != nil && len(rel.refStates) == 0 {
			p.errorf(rf["states"].Line, "refers_to.states must name at least one state, or nothing could ever refer to it")
		}
		for _, s := range rel.refStates {
			r.States = append(r.States, s.V)
		}
		d.RefersTo, p.ref = r, true
	}
	if n := f["party"]; n != nil {
		pf, _ := p.fields(n, "party", "field", "kinds")
		field := p.str(p.required(pf, "field", "party", n.Line), "field")
		p.formField(field, formProps, "string", "party.field")
		pt := &Party{Field: field.V}
		for _, k := range p.list(pf["kinds"], "kinds") {
			kind, err := identity.ParseOrgKind(k.V)
			if err != nil {
				p.errorf(k.Line, "unknown organisation kind %q in party.kinds", k.V)
				continue
			}
			pt.Kinds = append(pt.Kinds, kind)
		}
		d.Party, p.party = pt, true
	}
	if n := f["aggregates"]; n != nil {
		d.Aggregates = p.aggregates(n, formProps, rel)
		p.aggs = d.Aggregates
	}
	if n := f["indicators"]; n != nil {
		d.Indicators = p.indicators(n, formProps, rel)
	}
	if n := f["notice"]; n != nil {
		nf, _ := p.fields(n, "notice", "title", "amount", "person")
		nt := &NoticeFields{}
		title := p.str(p.required(nf, "title", "notice", n.Line), "title")
		p.formField(title, formProps, "string", "notice.title")
		nt.Title = title.V
		if an := nf["amount"]; an != nil {
			a := p.str(an, "amount")
			p.formField(a, formProps, "number", "notice.amount")
			nt.Amount = a.V
		}
		if pn := nf["person"]; pn != nil {
			ps := p.str(pn, "person")
			p.formField(ps, formProps, "string", "notice.person")
			nt.Person = ps.V
		}
		d.Notice, rel.notice = nt, n.Line
	}
	if n := f["attachments"]; n != nil {
		d.Attachments = p.slots(n)
	}
	rel.public = p.list(f["public_states"], "public_states")
	for _, s := range rel.public {
		d.PublicStates = append(d.PublicStates, s.V)
	}
	return rel
}

// formField checks that a field a definition names exists in the form with
// the JSON type given ("number" accepts integer too).
func (p *parser) formField(field pos, formProps map[string]any, typ, what string) {
	if formProps == nil || field.V == "" {
		return
	}
	prop, ok := formProps[field.V].(map[string]any)
	if !ok {
		p.errorf(field.Line, "%s %q is not a field of the form", what, field.V)
		return
	}
	got, _ := prop["type"].(string)
	if got != typ && !(typ == "number" && got == "integer") {
		p.errorf(field.Line, "%s %q must be a %s field of the form", what, field.V, typ)
	}
}

func (p *parser) aggregates(n *yaml.Node, formProps map[string]any, rel *relSrc) map[string]*Aggregate {
	m, keys := p.fields(n, "aggregates")
	out := map[string]*Aggregate{}
	for _, k := range keys {
		p.key(pos{k.Value, k.Line}, "aggregate")
		what := "aggregate " + k.Value
		af, fk := p.fields(m[k.Value], what, "count", "sum")
		if len(fk) != 1 {
			p.errorf(k.Line, "%s needs exactly one of count or sum", what)
			continue
		}
		a, src := p.aggregateBody(af[fk[0].Value], fk[0].Value == "sum", what, k.Line, formProps)
		a.Name = k.Value
		out[k.Value] = a
		rel.aggs[k.Value] = src
	}
	return out
}

// aggregateBody reads what an aggregate or an indicator counts (or sums).
func (p *parser) aggregateBody(body *yaml.Node, sum bool, what string, line int, formProps map[string]any) (*Aggregate, *aggSrc) {
	bf, _ := p.fields(body, what, "workflow", "states", "where", "same", "same_applicant", "same_org", "same_parent",
		"include_self", "field", "refers_here", "children", "distinct")
	a := &Aggregate{}
	src := &aggSrc{line: line, workflows: p.list(p.required(bf, "workflow", what, body.Line), "workflow")}
	for _, w := range src.workflows {
		a.Workflows = append(a.Workflows, w.V)
	}
	src.states = p.list(bf["states"], "states")
	for _, s := range src.states {
		a.States = append(a.States, s.V)
	}
	if sum {
		field := p.str(p.required(bf, "field", what, body.Line), "field")
		a.Sum = field.V
	} else if bf["field"] != nil {
		p.errorf(bf["field"].Line, "%s: field belongs to sum", what)
	}
	if wn := bf["where"]; wn != nil {
		var where map[string]any
		if wn.Kind != yaml.MappingNode || wn.Decode(&where) != nil {
			p.errorf(wn.Line, "%s: where must map form fields to values", what)
		}
		a.Where = where
	}
	for _, s := range p.list(bf["same"], "same") {
		if _, ok := formProps[s.V]; formProps != nil && !ok {
			p.errorf(s.Line, "%s: same %q is not a field of the form", what, s.V)
		}
		a.Same = append(a.Same, s.V)
	}
	a.SameApplicant = p.boolean(bf["same_applicant"], "same_applicant")
	a.SameOrg = p.boolean(bf["same_org"], "same_org")
	a.SameParent = p.boolean(bf["same_parent"], "same_parent")
	if a.SameParent && !p.hasParent {
		p.errorf(body.Line, "%s: same_parent, but the workflow declares no parent", what)
	}
	a.IncludeSelf = p.boolean(bf["include_self"], "include_self")
	if rn := bf["refers_here"]; rn != nil {
		a.RefersHere = p.str(rn, "refers_here").V
	}
	a.Children = p.boolean(bf["children"], "children")
	if dn := bf["distinct"]; dn != nil {
		if a.Sum != "" {
			p.errorf(dn.Line, "%s: distinct belongs to count", what)
		}
		a.Distinct = p.str(dn, "distinct").V
	}
	return a, src
}

// indicators reads the plan indicators a workflow reports.
func (p *parser) indicators(n *yaml.Node, formProps map[string]any, rel *relSrc) []*Indicator {
	m, keys := p.fields(n, "indicators")
	var out []*Indicator
	for _, k := range keys {
		p.key(pos{k.Value, k.Line}, "indicator")
		what := "indicator " + k.Value
		f, fk := p.fields(m[k.Value], what, "title", "unit", "target", "count", "sum", "by")
		ind := &Indicator{Key: k.Value, Title: p.text(p.required(f, "title", what, k.Line), "title"),
			Unit: p.text(p.required(f, "unit", what, k.Line), "unit")}
		if tn := f["target"]; tn != nil {
			var t float64
			if tn.Kind != yaml.ScalarNode || tn.Decode(&t) != nil || t < 0 {
				p.errorf(tn.Line, "%s: target must be a number of at least 0", what)
			}
			ind.Target = &t
		}
		var bodies []*yaml.Node
		sum := false
		for _, key := range fk {
			if key.Value == "count" || key.Value == "sum" {
				bodies = append(bodies, f[key.Value])
				sum = key.Value == "sum"
			}
		}
		if len(bodies) != 1 {
			p.errorf(k.Line, "%s needs exactly one of count or sum", what)
			continue
		}
		a, src := p.aggregateBody(bodies[0], sum, what, k.Line, formProps)
		if len(a.Same) > 0 || a.SameApplicant || a.SameOrg || a.SameParent || a.IncludeSelf || a.RefersHere != "" || a.Children || a.Distinct != "" {
			p.errorf(bodies[0].Line, "%s counts across the installation: same, same_*, include_self, refers_here, children and distinct belong to aggregates", what)
		}
		ind.Count = a
		if bn := f["by"]; bn != nil {
			by := p.str(bn, "by")
			if _, isField := formProps[by.V]; by.V != "state" && by.V != "year" && formProps != nil && !isField {
				p.errorf(by.Line, "%s: by must be state, year or a field of the form, not %q", what, by.V)
			}
			ind.By = by.V
		}
		out = append(out, ind)
		rel.aggs[what] = src
	}
	return out
}

func (p *parser) slots(n *yaml.Node) []Slot {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n.Line, "attachments must be a list of slots")
		return nil
	}
	var out []Slot
	seen := map[string]bool{}
	for _, item := range n.Content {
		sf, _ := p.fields(item, "attachment slot", "key", "title", "required", "confidential", "personal")
		key := p.str(p.required(sf, "key", "attachment slot", item.Line), "key")
		p.key(key, "attachment slot")
		if seen[key.V] {
			p.errorf(key.Line, "duplicate attachment slot %q", key.V)
		}
		seen[key.V] = true
		out = append(out, Slot{Key: key.V, Title: p.text(p.required(sf, "title", "attachment slot", item.Line), "title"),
			Required: p.boolean(sf["required"], "required"), Confidential: p.boolean(sf["confidential"], "confidential"),
			Personal: p.boolean(sf["personal"], "personal")})
	}
	return out
}

// adds reads an event's adds: data field → payload field, both numbers.
func (p *parser) adds(n *yaml.Node, formProps, dataProps map[string]any) map[string]string {
	m, keys := p.fields(n, "adds")
	out := map[string]string{}
	for _, k := range keys {
		from := p.str(m[k.Value], "adds."+k.Value)
		p.formField(pos{k.Value, k.Line}, formProps, "number", "adds")
		if prop, ok := dataProps[from.V].(map[string]any); !ok || (prop["type"] != "number" && prop["type"] != "integer") {
			p.errorf(from.Line, "adds %s from %q, which is not a number in the event's data", k.Value, from.V)
		}
		out[k.Value] = from.V
	}
	return out
}

// compute reads an event's computed fields.
func (p *parser) compute(n *yaml.Node, formProps, dataProps map[string]any, hasParent bool) []*Computed {
	m, keys := p.fields(n, "compute")
	var out []*Computed
	for _, k := range keys {
		src := p.str(m[k.Value], "compute."+k.Value)
		if _, ok := formProps[k.Value]; formProps != nil && !ok {
			p.errorf(k.Line, "compute %q, which the form does not define", k.Value)
		}
		prog, refs, err := compileComputed(src.V)
		if err != nil {
			p.errorf(src.Line, "compute %s does not compile: %s", k.Value, oneLine(err))
			continue
		}
		aggs := p.checkExprRefs(src.Line, "compute "+k.Value, refs, formProps, dataProps, hasParent)
		out = append(out, &Computed{Field: k.Value, Source: src.V, Aggregates: aggs, UsesRef: refs.roots["ref"], program: prog})
	}
	return out
}

// checkExprRefs checks what an expression reads against what the
// definition declares, and returns the aggregates it reads.
func (p *parser) checkExprRefs(line int, what string, refs *fieldRefs, formProps, dataProps map[string]any, hasParent bool) []string {
	if refs.roots["parent"] && !hasParent {
		p.errorf(line, "%s reads parent, but the workflow declares no parent", what)
	}
	if refs.roots["ref"] && !p.ref {
		p.errorf(line, "%s reads ref, but the workflow refers to no other application (refers_to)", what)
	}
	for _, path := range refs.paths {
		p.checkRef(line, what, path, formProps, dataProps)
	}
	names := refs.aggregateNames()
	for _, a := range names {
		if _, ok := p.aggs[a]; !ok {
			p.errorf(line, "%s reads agg.%s, which the workflow's aggregates do not define", what, a)
		}
	}
	return names
}

// checkRelations checks what needs the states and events: the notice
// states, their timers and objection events, and public states.
func (p *parser) checkRelations(d *Definition, rel *relSrc, states []*stateSrc) {
	hasNotice := false
	for _, s := range states {
		st := s.state
		if st.Kind == KindNotice {
			hasNotice = true
			if st.Timer == nil {
				p.errorf(s.line, "notice state %s needs a timer: the period must end by itself", st.Key)
			}
		}
		if st.OnObjection != "" {
			ev, ok := d.Event(st.OnObjection)
			switch {
			case !ok:
				p.errorf(s.objection.Line, "on_objection of %s names unknown event %q", st.Key, st.OnObjection)
			case !slices.Contains(ev.From, st.Key):
				p.errorf(s.objection.Line, "on_objection of %s fires %s, which is not possible from %s", st.Key, ev.Key, st.Key)
			case !ev.System:
				p.errorf(s.objection.Line, "on_objection of %s fires %s, which must be system: true", st.Key, ev.Key)
			}
		}
	}
	if hasNotice && d.Notice == nil {
		p.errorf(1, "the workflow has notice states, so it must say what the public list shows (notice: {title: ...})")
	}
	if !hasNotice && d.Notice != nil {
		p.errorf(rel.notice, "notice: is set but the workflow has no notice state")
	}
	for _, s := range rel.public {
		if _, ok := d.State(s.V); !ok {
			p.errorf(s.Line, "public_states names unknown state %q", s.V)
		}
	}
}

// checkAcross checks what one definition says about others: the workflow
// and states it refers to, and those its aggregates count.
func checkAcross(defs map[string]*Definition, files map[string]string, srcs map[string]*relSrc) Problems {
	var probs Problems
	keys := make([]string, 0, len(defs))
	for k := range defs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	indicators := map[string]string{}
	for _, key := range keys {
		for _, ind := range defs[key].Indicators {
			if other, dup := indicators[ind.Key]; dup {
				probs = append(probs, Problem{files[key], 1, fmt.Sprintf("indicator %s is declared by %s too", ind.Key, other)})
			}
			indicators[ind.Key] = key
		}
	}
	for _, key := range keys {
		d, rel, file := defs[key], srcs[key], files[key]
		if rel == nil {
			continue
		}
		if r := d.RefersTo; r != nil {
			other, ok := defs[r.Workflow]
			if !ok {
				probs = append(probs, Problem{file, 1, fmt.Sprintf("refers_to workflow %q is not defined", r.Workflow)})
			} else {
				for _, s := range rel.refStates {
					if _, ok := other.State(s.V); !ok {
						probs = append(probs, Problem{file, s.Line, fmt.Sprintf("refers_to state %q is not a state of %s", s.V, r.Workflow)})
					}
				}
			}
		}
		for _, e := range d.Events {
			for _, c := range []struct{ what, workflow, event string }{{"parent_event", d.Parent, e.ParentEvent}} {
				if c.event == "" {
					continue
				}
				other, ok := defs[c.workflow]
				if !ok {
					probs = append(probs, Problem{file, 1, fmt.Sprintf("event %s has %s but the workflow has no parent", e.Key, c.what)})
					continue
				}
				if ev, ok := other.Event(c.event); !ok || !ev.System {
					probs = append(probs, Problem{file, 1, fmt.Sprintf("event %s: %s %q must be a system event of %s", e.Key, c.what, c.event, c.workflow)})
				}
			}
			if e.ChildrenEvent != "" {
				found := false
				for _, other := range defs {
					if ev, ok := other.Event(e.ChildrenEvent); ok && other.Parent == d.Key {
						found = true
						if !ev.System {
							probs = append(probs, Problem{file, 1, fmt.Sprintf("event %s: children_event %q must be a system event of %s", e.Key, e.ChildrenEvent, other.Key)})
						}
					}
				}
				if !found {
					probs = append(probs, Problem{file, 1, fmt.Sprintf("event %s: no child workflow of %s has event %q", e.Key, d.Key, e.ChildrenEvent)})
				}
			}
		}
		for name, a := range rel.aggs {
			for _, w := range a.workflows {
				other, ok := defs[w.V]
				if !ok {
					probs = append(probs, Problem{file, w.Line, fmt.Sprintf("aggregate %s counts unknown workflow %q", name, w.V)})
					continue
				}
				for _, s := range a.states {
					if _, ok := other.State(s.V); !ok {
						probs = append(probs, Problem{file, s.Line, fmt.Sprintf("aggregate %s: %q is not a state of %s", name, s.V, w.V)})
					}
				}
			}
		}
	}
	return probs
}

// checkFired reports the system events nothing fires: no timer, review or
// objection of their own workflow, and no child's parent_event or parent's
// children_event. It also reports a child that acts as party when no
// ancestor declares one.
func checkFired(defs map[string]*Definition, files map[string]string) Problems {
	cascaded := map[string]bool{} // "workflow:event"
	for _, d := range defs {
		for _, e := range d.Events {
			if e.ParentEvent != "" && d.Parent != "" {
				cascaded[d.Parent+":"+e.ParentEvent] = true
			}
			if e.ChildrenEvent != "" {
				for _, c := range defs {
					if c.Parent == d.Key {
						cascaded[c.Key+":"+e.ChildrenEvent] = true
					}
				}
			}
		}
	}
	var probs Problems
	keys := make([]string, 0, len(defs))
	for k := range defs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		d := defs[key]
		for _, u := range d.unfired {
			if !cascaded[key+":"+u.event] {
				probs = append(probs, Problem{files[key], u.line,
					fmt.Sprintf("no role may fire event %s: it is system-only but no timer, review, objection or related workflow fires it", u.event)})
			}
		}
		if d.Parent != "" && d.Party == nil && usesParty(d) && !hasParty(defs, d.Parent) {
			probs = append(probs, Problem{files[key], 1, fmt.Sprintf("events of %s act as party, but neither it nor its parent declares a party", key)})
		}
	}
	return probs
}

func usesParty(d *Definition) bool {
	for _, e := range d.Events {
		if slices.Contains(e.Roles, identity.Party) {
			return true
		}
	}
	for _, s := range d.States {
		if slices.Contains(s.EditableBy, identity.Party) {
			return true
		}
	}
	return false
}

func hasParty(defs map[string]*Definition, key string) bool {
	seen := map[string]bool{}
	for d, ok := defs[key]; ok && !seen[d.Key]; d, ok = defs[d.Parent] {
		seen[d.Key] = true
		if d.Party != nil {
			return true
		}
	}
	return false
}
