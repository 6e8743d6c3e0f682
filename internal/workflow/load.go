package workflow

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sciflow/sciflow/internal/identity"
)

// Problem is one thing wrong with a definition, where it is.
type Problem struct {
	File string
	Line int
	Msg  string
}

func (p Problem) String() string { return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg) }

// Problems is every problem found; as an error it lists them a line each.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

func (ps Problems) sorted() Problems {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].File != ps[j].File {
			return ps[i].File < ps[j].File
		}
		return ps[i].Line < ps[j].Line
	})
	return ps
}

// LoadDir reads every *.yaml definition at the top of fsys, with the forms
// they name, and checks each alone and all together. Any problem means no
// definitions: a half-valid set must never run.
func LoadDir(fsys fs.FS) ([]*Definition, error) {
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, fmt.Errorf("list workflows: %w", err)
	}
	var defs []*Definition
	var probs Problems
	keyFile := map[string]string{}
	for _, name := range names {
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		def, ps := Parse(name, src, func(ref string) ([]byte, error) { return fs.ReadFile(fsys, ref) })
		probs = append(probs, ps...)
		if def == nil {
			continue
		}
		if other, dup := keyFile[def.Key]; dup {
			probs = append(probs, Problem{name, 1, fmt.Sprintf("duplicate workflow key %q (also in %s)", def.Key, other)})
			continue
		}
		keyFile[def.Key] = name
		defs = append(defs, def)
	}
	// What one definition says of another is checked only once every file
	// reads: a definition that failed would make the others look wrong.
	if len(probs) > 0 {
		return nil, probs.sorted()
	}
	byKey := map[string]*Definition{}
	srcs := map[string]*relSrc{}
	for _, d := range defs {
		byKey[d.Key], srcs[d.Key] = d, d.rel
	}
	for _, d := range defs {
		if d.Parent == "" {
			continue
		}
		if _, ok := keyFile[d.Parent]; !ok {
			probs = append(probs, Problem{keyFile[d.Key], 1, fmt.Sprintf("parent workflow %q is not defined", d.Parent)})
			continue
		}
		// A parent chain that loops would make every child its own ancestor.
		seen := map[string]bool{d.Key: true}
		for up := byKey[d.Parent]; up != nil; up = byKey[up.Parent] {
			if seen[up.Key] {
				probs = append(probs, Problem{keyFile[d.Key], 1, fmt.Sprintf("the parent chain of %s loops back through %s", d.Key, up.Key)})
				break
			}
			seen[up.Key] = true
		}
	}
	if len(probs) > 0 {
		return nil, probs.sorted()
	}
	probs = append(probs, checkAcross(byKey, keyFile, srcs)...)
	probs = append(probs, checkFired(byKey, keyFile)...)
	if len(probs) > 0 {
		return nil, probs.sorted()
	}
	sort.Slice(defs, func(i, j int) bool { return defs[i].Key < defs[j].Key })
	return defs, nil
}

// Parse reads one definition. readFile fetches the files it refers to (its
// form), by path relative to the same directory. It returns nil and the
// problems when anything is wrong.
func Parse(file string, src []byte, readFile func(string) ([]byte, error)) (*Definition, Problems) {
	p := &parser{file: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		p.yamlError(err)
		return nil, p.probs
	}
	if len(doc.Content) == 0 {
		p.errorf(1, "empty definition")
		return nil, p.probs
	}
	if expandedNodes(&doc, maxNodes) > maxNodes {
		p.errorf(1, "the definition is too large once its aliases are expanded (over %d nodes)", maxNodes)
		return nil, p.probs
	}
	d := p.definition(doc.Content[0], readFile)
	if len(p.probs) > 0 {
		return nil, p.probs.sorted()
	}
	d.Source = map[string][]byte{file: src}
	if d.FormJSON != nil {
		d.Source[p.formFile] = d.FormJSON
	}
	d.Hash = hashSource(d.Source)
	d.index()
	return d, nil
}

// maxNodes bounds a definition with its aliases expanded. The parser walks
// aliases as the nodes they stand for, so a few aliases of aliases (a
// "billion laughs") would make reading one file take hours; the largest
// real definition has a few thousand nodes.
const maxNodes = 100000

// expandedNodes counts n's nodes with every alias expanded, stopping once
// the count passes limit.
func expandedNodes(n *yaml.Node, limit int) int {
	count := 0
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil || count > limit {
			return
		}
		count++
		if n.Kind == yaml.AliasNode {
			walk(n.Alias)
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return count
}

// hashSource identifies a version by the bytes of every file behind it.
func hashSource(src map[string][]byte) string {
	names := make([]string, 0, len(src))
	for n := range src {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(src[n]))
		h.Write(src[n])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// parser walks the YAML tree, collecting every problem with its line rather
// than stopping at the first.
type parser struct {
	file     string
	formFile string
	probs    Problems
	// party and aggs are what the definition declared, for checking the
	// roles and guards that use them.
	party bool
	aggs  map[string]*Aggregate
	ref   bool
	// creating is set while reading the workflow's own guards, which are
	// checked when an application starts: there is no event to read.
	creating bool
	// hasParent is set when the workflow declares a parent.
	hasParent bool
}

var yamlLine = regexp.MustCompile(`^line (\d+): `)

func (p *parser) yamlError(err error) {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, m := range msgs {
		m = strings.TrimPrefix(m, "yaml: ")
		line := 1
		if sub := yamlLine.FindStringSubmatch(m); sub != nil {
			line, _ = strconv.Atoi(sub[1])
			m = m[len(sub[0]):]
		}
		p.errorf(line, "%s", m)
	}
}

func (p *parser) errorf(line int, format string, args ...any) {
	p.probs = append(p.probs, Problem{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// pos is a string with the line it came from.
type pos struct {
	V    string
	Line int
}

// fields reads a mapping, reporting keys not in allowed; it returns the
// value nodes by key and the keys in file order.
func (p *parser) fields(n *yaml.Node, what string, allowed ...string) (map[string]*yaml.Node, []*yaml.Node) {
	// An alias (*name) stands for the node its anchor (&name) marks.
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "%s must be a mapping", what)
		return map[string]*yaml.Node{}, nil
	}
	out := map[string]*yaml.Node{}
	var keys []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if allowed != nil && !slices.Contains(allowed, k.Value) {
			p.errorf(k.Line, "unknown field %q in %s (allowed: %s)", k.Value, what, strings.Join(allowed, ", "))
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.errorf(k.Line, "duplicate key %q in %s", k.Value, what)
			continue
		}
		out[k.Value] = v
		keys = append(keys, k)
	}
	return out, keys
}

func (p *parser) str(n *yaml.Node, what string) pos {
	if n == nil {
		return pos{}
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(n.Line, "%s must be a string", what)
		return pos{Line: n.Line}
	}
	return pos{V: n.Value, Line: n.Line}
}

func (p *parser) required(m map[string]*yaml.Node, key, what string, line int) *yaml.Node {
	n, ok := m[key]
	if !ok {
		p.errorf(line, "%s needs %q", what, key)
		return nil
	}
	return n
}

// list reads a string or a sequence of strings, reporting duplicates.
func (p *parser) list(n *yaml.Node, what string) []pos {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		return []pos{p.str(n, what)}
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n.Line, "%s must be a list of strings", what)
		return nil
	}
	var out []pos
	seen := map[string]bool{}
	for _, item := range n.Content {
		s := p.str(item, what)
		if seen[s.V] {
			p.errorf(item.Line, "duplicate %q in %s", s.V, what)
			continue
		}
		seen[s.V] = true
		out = append(out, s)
	}
	return out
}

func (p *parser) text(n *yaml.Node, what string) Text {
	if n == nil {
		return Text{}
	}
	f, _ := p.fields(n, what, "zh", "en")
	t := Text{Zh: p.str(f["zh"], what+".zh").V, En: p.str(f["en"], what+".en").V}
	if n.Kind == yaml.MappingNode && (strings.TrimSpace(t.Zh) == "" || strings.TrimSpace(t.En) == "") {
		p.errorf(n.Line, "%s needs both zh and en", what)
	}
	return t
}

func (p *parser) boolean(n *yaml.Node, what string) bool {
	if n == nil {
		return false
	}
	var b bool
	if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
		p.errorf(n.Line, "%s must be true or false", what)
	}
	return b
}

func (p *parser) roles(items []pos, what string) []identity.Role {
	var out []identity.Role
	for _, it := range items {
		r := identity.Role(it.V)
		switch {
		case r == identity.Party && p.party:
			out = append(out, r)
		case r == identity.Party:
			p.errorf(it.Line, "role party in %s, but the workflow declares no party", what)
		case !slices.Contains(identity.Roles, r):
			p.errorf(it.Line, "unknown role %q in %s", it.V, what)
		case r == identity.Admin || r == identity.Auditor:
			// Separation of duties: administrators run the system and
			// auditors oversee it; neither decides on applications.
			p.errorf(it.Line, "role %s may not act in workflows (%s)", r, what)
		default:
			out = append(out, r)
		}
	}
	return out
}

var keyPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

func (p *parser) key(s pos, what string) {
	if s.V == "" {
		return // missing or not a string: reported already
	}
	if !keyPattern.MatchString(s.V) {
		p.errorf(s.Line, "%s %q must be lower-case letters, digits and _ (starting with a letter)", what, s.V)
	}
}

// stateSrc and eventSrc keep the lines the cross-checks report.
type stateSrc struct {
	state     *State
	line      int
	timer     pos
	review    *reviewSrc
	objection pos
}

type eventSrc struct {
	event *Event
	line  int
	from  []pos
	to    pos
}

func (p *parser) definition(root *yaml.Node, readFile func(string) ([]byte, error)) *Definition {
	if root.Kind != yaml.MappingNode {
		p.errorf(root.Line, "a workflow definition must be a mapping (key: ..., title: ..., states: ...)")
		return nil
	}
	f, _ := p.fields(root, "workflow", "key", "title", "initial", "form", "created_by", "parent",
		"separate_consecutive_stages", "states", "events", "refers_to", "party", "aggregates", "notice",
		"attachments", "public_states", "guards", "indicators")
	d := &Definition{}
	key := p.str(p.required(f, "key", "workflow", root.Line), "key")
	p.key(key, "workflow key")
	d.Key = key.V
	d.Title = p.text(p.required(f, "title", "workflow", root.Line), "title")
	initial := p.str(p.required(f, "initial", "workflow", root.Line), "initial")
	d.Initial = initial.V
	if n := f["parent"]; n != nil {
		d.Parent = p.str(n, "parent").V
		// A child involves its parent's party (LoadDir checks it has one).
		p.party, p.hasParent = true, true
	}
	d.SeparateStages = true
	if n := f["separate_consecutive_stages"]; n != nil {
		d.SeparateStages = p.boolean(n, "separate_consecutive_stages")
	}
	formProps := p.form(f, root.Line, readFile, d)
	rel := p.relations(f, d, formProps)
	createdBy := p.list(p.required(f, "created_by", "workflow", root.Line), "created_by")
	d.CreatedBy = p.roles(createdBy, "created_by")
	for _, c := range createdBy {
		if identity.Role(c.V) == identity.Party {
			p.errorf(c.Line, "a party does not start applications: nobody holds the role party before there is one")
		}
	}

	states := p.states(p.required(f, "states", "workflow", root.Line), formProps)
	events := p.events(p.required(f, "events", "workflow", root.Line), formProps, d.Parent != "")
	if gn := f["guards"]; gn != nil {
		p.creating = true
		d.CreateGuards = p.guards(gn, formProps, nil, d.Parent != "")
		p.creating = false
	}
	for _, s := range states {
		d.States = append(d.States, s.state)
	}
	for _, e := range events {
		d.Events = append(d.Events, e.event)
	}
	if len(p.probs) == 0 {
		p.checkGraph(d, initial, states, events)
		d.index()
		p.checkRelations(d, rel, states)
	}
	d.rel = rel
	return d
}

// form loads the JSON Schema file named by the definition and returns its
// top-level property schemas, for checking the fields guards refer to.
func (p *parser) form(f map[string]*yaml.Node, line int, readFile func(string) ([]byte, error), d *Definition) map[string]any {
	ref := p.str(p.required(f, "form", "workflow", line), "form")
	if ref.V == "" {
		return nil
	}
	name := path.Join(path.Dir(p.file), ref.V)
	raw, err := readFile(name)
	if err != nil {
		p.errorf(ref.Line, "form %s cannot be read: %v", ref.V, err)
		return nil
	}
	p.formFile = name
	doc, err := decodeJSON(raw)
	if err != nil {
		p.probs = append(p.probs, Problem{name, jsonErrorLine(raw, err), "invalid JSON: " + err.Error()})
		return nil
	}
	obj, _ := doc.(map[string]any)
	if obj == nil || obj["type"] != "object" {
		p.probs = append(p.probs, Problem{name, 1, `invalid JSON Schema: the form must be {"type": "object", ...}`})
		return nil
	}
	sch, err := compileSchema(name, doc)
	if err != nil {
		p.probs = append(p.probs, Problem{name, 1, "invalid JSON Schema: " + oneLine(err)})
		return nil
	}
	d.Form, d.FormJSON = sch, raw
	d.Personal = personalFields(obj)
	props, _ := obj["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
	}
	return props
}

func (p *parser) states(n *yaml.Node, formProps map[string]any) []*stateSrc {
	if n == nil {
		return nil
	}
	m, keys := p.fields(n, "states")
	if len(keys) == 0 {
		p.errorf(n.Line, "a workflow needs at least one state")
	}
	var out []*stateSrc
	for _, k := range keys {
		key := pos{k.Value, k.Line}
		p.key(key, "state")
		f, _ := p.fields(m[k.Value], "state "+k.Value, "title", "kind", "editable_by", "deadline", "timer", "review",
			"on_objection")
		s := &State{Key: k.Value}
		src := &stateSrc{state: s, line: k.Line}
		s.Title = p.text(p.required(f, "title", "state "+k.Value, k.Line), "title")
		kindPos := p.str(p.required(f, "kind", "state "+k.Value, k.Line), "kind")
		s.Kind = StateKind(kindPos.V)
		if kindPos.V != "" && !slices.Contains(stateKinds, s.Kind) {
			p.errorf(kindPos.Line, "unknown state kind %q (edit, review, notice, active or terminal)", kindPos.V)
		}
		s.EditableBy = p.roles(p.list(f["editable_by"], "editable_by"), "editable_by of "+k.Value)
		if dn := f["deadline"]; dn != nil {
			d := p.duration(dn, "deadline")
			s.Deadline = &d
		}
		if tn := f["timer"]; tn != nil {
			tf, _ := p.fields(tn, "timer", "after", "at", "event")
			t := &Timer{Event: p.str(p.required(tf, "event", "timer", tn.Line), "event").V}
			an, at := tf["after"], tf["at"]
			switch {
			case (an == nil) == (at == nil):
				p.errorf(tn.Line, "timer needs exactly one of after (working days) or at (a date field of the form)")
			case an != nil:
				t.After = p.duration(an, "after")
			default:
				field := p.str(at, "at")
				t.At = field.V
				if prop, ok := formProps[field.V].(map[string]any); formProps != nil && (!ok || prop["format"] != "date") {
					p.errorf(field.Line, "timer at %q must name a date field of the form (format: date)", field.V)
				}
			}
			s.Timer = t
			src.timer = pos{t.Event, tn.Line}
		}
		if on := f["on_objection"]; on != nil {
			ev := p.str(on, "on_objection")
			s.OnObjection = ev.V
			src.objection = ev
			if s.Kind != KindNotice {
				p.errorf(on.Line, "state %s takes objections but is not of kind notice", k.Value)
			}
		}
		if rn := f["review"]; rn != nil {
			s.Review, src.review = p.review(rn, k.Value, formProps)
			if s.Kind != KindReview {
				p.errorf(rn.Line, "state %s declares a review but is not of kind review", k.Value)
			}
			if s.Review != nil && s.Review.Escalate != nil && s.Deadline == nil {
				p.errorf(rn.Line, "state %s escalates overdue tasks but has no deadline", k.Value)
			}
		}
		out = append(out, src)
	}
	return out
}

func (p *parser) duration(n *yaml.Node, what string) Duration {
	f, _ := p.fields(n, what, "working_days")
	wd := p.required(f, "working_days", what, n.Line)
	var days int
	if wd != nil && (wd.Kind != yaml.ScalarNode || wd.Decode(&days) != nil || days < 1 || days > 365) {
		p.errorf(wd.Line, "%s.working_days must be a whole number from 1 to 365", what)
	}
	return Duration{WorkingDays: days}
}

func (p *parser) events(n *yaml.Node, formProps map[string]any, hasParent bool) []*eventSrc {
	if n == nil {
		return nil
	}
	m, keys := p.fields(n, "events")
	var out []*eventSrc
	for _, k := range keys {
		key := pos{k.Value, k.Line}
		p.key(key, "event")
		what := "event " + k.Value
		f, _ := p.fields(m[k.Value], what, "title", "from", "to", "roles", "system", "guards",
			"validate_form", "comment", "data", "sets", "questions", "adds", "compute", "resolves_objections",
			"parent_event", "children_event")
		e := &Event{Key: k.Value, Comment: CommentOptional}
		src := &eventSrc{event: e, line: k.Line}
		e.Title = p.text(p.required(f, "title", what, k.Line), "title")
		src.from = p.list(p.required(f, "from", what, k.Line), "from")
		for _, s := range src.from {
			e.From = append(e.From, s.V)
		}
		src.to = p.str(p.required(f, "to", what, k.Line), "to")
		e.To = src.to.V
		e.Roles = p.roles(p.list(f["roles"], "roles"), "roles of "+k.Value)
		e.System = p.boolean(f["system"], "system")
		if len(e.Roles) == 0 && !e.System && f["roles"] == nil {
			p.errorf(k.Line, "no role may fire event %s: give it roles, or system: true for a timer", k.Value)
		}
		if len(e.Roles) > 0 && e.System {
			p.errorf(k.Line, "event %s is both system and role-fired: choose one", k.Value)
		}
		e.ValidateForm = p.boolean(f["validate_form"], "validate_form")
		e.Questions = p.boolean(f["questions"], "questions")
		if cn := f["comment"]; cn != nil {
			c := p.str(cn, "comment")
			e.Comment = CommentRule(c.V)
			if e.Comment != CommentOptional && e.Comment != CommentRequired {
				p.errorf(c.Line, "comment must be optional or required, not %q", c.V)
			}
		}
		var dataProps map[string]any
		if dn := f["data"]; dn != nil {
			dataProps = p.eventData(dn, e)
		}
		for _, s := range p.list(f["sets"], "sets") {
			if _, ok := dataProps[s.V]; !ok {
				p.errorf(s.Line, "sets %q, which the event's data schema does not define", s.V)
			}
			if formProps != nil {
				if _, ok := formProps[s.V]; !ok {
					p.errorf(s.Line, "sets %q, which the form does not define", s.V)
				}
			}
			e.Sets = append(e.Sets, s.V)
		}
		if an := f["adds"]; an != nil {
			e.Adds = p.adds(an, formProps, dataProps)
		}
		if cn := f["compute"]; cn != nil {
			e.Compute = p.compute(cn, formProps, dataProps, hasParent)
		}
		if rn := f["resolves_objections"]; rn != nil {
			r := p.str(rn, "resolves_objections")
			if r.V != "sustained" && r.V != "dismissed" {
				p.errorf(r.Line, "resolves_objections must be sustained or dismissed, not %q", r.V)
			}
			e.ResolvesObjections = r.V
		}
		if pn := f["parent_event"]; pn != nil {
			e.ParentEvent = p.str(pn, "parent_event").V
		}
		if cn := f["children_event"]; cn != nil {
			e.ChildrenEvent = p.str(cn, "children_event").V
		}
		if gn := f["guards"]; gn != nil {
			e.Guards = p.guards(gn, formProps, dataProps, hasParent)
		}
		out = append(out, src)
	}
	return out
}

// eventData compiles the event's payload schema, written inline in YAML.
func (p *parser) eventData(n *yaml.Node, e *Event) map[string]any {
	raw, err := orderedJSON(n)
	if err != nil {
		p.errorf(n.Line, "data must be a JSON Schema (mappings with string keys): %v", err)
		return nil
	}
	doc, err := decodeJSON(raw)
	if err != nil {
		p.errorf(n.Line, "data: %v", err)
		return nil
	}
	obj, _ := doc.(map[string]any)
	if obj == nil || obj["type"] != "object" {
		p.errorf(n.Line, `invalid JSON Schema for the event's data: it must be {type: object, ...}`)
		return nil
	}
	sch, err := compileSchema(p.file+"/events/"+e.Key, doc)
	if err != nil {
		p.errorf(n.Line, "invalid JSON Schema for the event's data: %s", oneLine(err))
		return nil
	}
	e.Data, e.DataJSON = sch, raw
	props, _ := obj["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
	}
	return props
}

func (p *parser) guards(n *yaml.Node, formProps, dataProps map[string]any, hasParent bool) []*Guard {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n.Line, "guards must be a list")
		return nil
	}
	var out []*Guard
	for _, gn := range n.Content {
		f, _ := p.fields(gn, "guard", "if", "message", "field", "code")
		src := p.str(p.required(f, "if", "guard", gn.Line), "if")
		g := &Guard{Source: src.V, Message: p.text(p.required(f, "message", "guard", gn.Line), "message")}
		if fn := f["field"]; fn != nil {
			g.Field = p.str(fn, "field").V
		}
		if cn := f["code"]; cn != nil {
			c := p.str(cn, "code")
			switch c.V {
			case "conflict":
				g.Conflict = true
			case "invalid":
			default:
				p.errorf(c.Line, "guard code must be invalid (422, the default) or conflict (409), not %q", c.V)
			}
		}
		if src.V == "" {
			continue
		}
		prog, refs, err := compileGuard(src.V)
		if err != nil {
			p.errorf(src.Line, "guard does not compile: %s", oneLine(err))
			continue
		}
		g.program = prog
		g.UsesEvent = refs.roots["event"]
		if g.UsesEvent && p.creating {
			p.errorf(src.Line, "the workflow's guards are checked when an application is started, which has no event: %s", g.Source)
		}
		g.UsesRef = refs.roots["ref"]
		g.Aggregates = p.checkExprRefs(src.Line, "guard", refs, formProps, dataProps, hasParent)
		out = append(out, g)
	}
	return out
}

// checkRef reports a guard's data.x or event.x that no schema defines: a
// typo there would make the guard silently never pass.
func (p *parser) checkRef(line int, what string, path []string, formProps, dataProps map[string]any) {
	var props map[string]any
	switch path[0] {
	case "data":
		props = formProps
	case "event":
		props = dataProps
		if props == nil {
			p.errorf(line, "%s reads event.%s but the event takes no data", what, path[1])
			return
		}
	default:
		return
	}
	if props == nil {
		return // the form itself failed; that is reported already
	}
	for i := 1; i < len(path); i++ {
		sub, ok := props[path[i]]
		if !ok {
			p.errorf(line, "%s refers to unknown field %s", what, strings.Join(path[:i+1], "."))
			return
		}
		obj, _ := sub.(map[string]any)
		next, _ := obj["properties"].(map[string]any)
		if next == nil {
			return // not an object with declared properties: nothing to check deeper
		}
		props = next
	}
}

// checkGraph checks the states and events as a graph: every reference
// resolves, every state is reachable, every non-terminal state leads
// somewhere and terminal states lead nowhere.
func (p *parser) checkGraph(d *Definition, initial pos, states []*stateSrc, events []*eventSrc) {
	byKey := map[string]*stateSrc{}
	for _, s := range states {
		byKey[s.state.Key] = s
	}
	eventKeys := map[string]*Event{}
	for _, e := range events {
		eventKeys[e.event.Key] = e.event
	}
	if _, ok := byKey[initial.V]; !ok {
		p.errorf(initial.Line, "initial state %q is not defined", initial.V)
		return
	}
	if byKey[initial.V].state.Kind == KindTerminal {
		p.errorf(initial.Line, "initial state %q is terminal", initial.V)
	}
	out := map[string][]string{} // state -> states it leads to
	for _, e := range events {
		if _, ok := byKey[e.to.V]; !ok {
			p.errorf(e.to.Line, "event %s goes to unknown state %q", e.event.Key, e.to.V)
		}
		for _, f := range e.from {
			src, ok := byKey[f.V]
			if !ok {
				p.errorf(f.Line, "event %s comes from unknown state %q", e.event.Key, f.V)
				continue
			}
			if src.state.Kind == KindTerminal {
				p.errorf(f.Line, "terminal state %s has an outgoing event (%s)", f.V, e.event.Key)
			}
			if f.V != e.to.V {
				out[f.V] = append(out[f.V], e.to.V)
			}
		}
	}
	// System events must be fired by a timer, else nothing ever fires them.
	timerEvents := map[string]bool{}
	for _, s := range states {
		if s.state.Timer == nil {
			continue
		}
		ev, ok := eventKeys[s.timer.V]
		switch {
		case !ok:
			p.errorf(s.timer.Line, "timer of state %s fires unknown event %q", s.state.Key, s.timer.V)
		case !slices.Contains(ev.From, s.state.Key):
			p.errorf(s.timer.Line, "timer of state %s fires %s, which is not possible from %s", s.state.Key, s.timer.V, s.state.Key)
		default:
			timerEvents[s.timer.V] = true
		}
	}
	for _, s := range states {
		if s.review != nil {
			p.checkReview(s, eventKeys, timerEvents)
		}
		// An objection fires it (checked with the notice, in checkRelations).
		if s.state.OnObjection != "" {
			timerEvents[s.state.OnObjection] = true
		}
	}
	for _, e := range events {
		// A child workflow may fire it (parent_event, children_event): that
		// is for LoadDir, which sees every definition, to tell.
		if e.event.System && !timerEvents[e.event.Key] {
			d.unfired = append(d.unfired, unfired{e.event.Key, e.line})
		}
		if e.event.Questions {
			if to, ok := byKey[e.to.V]; ok && to.state.Kind != KindEdit {
				p.errorf(e.line, "event %s asks questions, so it must go to a state the applicant edits (kind edit), not %s", e.event.Key, e.to.V)
			}
		}
	}
	if len(p.probs) > 0 {
		return
	}
	reached := reach(initial.V, out)
	// Reverse reachability from terminal states finds traps: states that
	// lead on, but never to an end.
	in := map[string][]string{}
	for from, tos := range out {
		for _, to := range tos {
			in[to] = append(in[to], from)
		}
	}
	ending := map[string]bool{}
	for _, s := range states {
		if s.state.Kind == KindTerminal {
			for k := range reach(s.state.Key, in) {
				ending[k] = true
			}
		}
	}
	hasTerminal := false
	for _, s := range states {
		key := s.state.Key
		if s.state.Kind == KindTerminal {
			hasTerminal = true
		}
		switch {
		case !reached[key]:
			p.errorf(s.line, "state %s is unreachable from the initial state %s", key, initial.V)
		case s.state.Kind != KindTerminal && len(out[key]) == 0:
			p.errorf(s.line, "state %s is a dead end: it is not terminal and no event leaves it", key)
		case s.state.Kind != KindTerminal && !ending[key]:
			p.errorf(s.line, "state %s can never reach a terminal state", key)
		}
	}
	if !hasTerminal {
		p.errorf(initial.Line, "the workflow has no terminal state")
	}
}

func reach(from string, edges map[string][]string) map[string]bool {
	seen := map[string]bool{from: true}
	stack := []string{from}
	for len(stack) > 0 {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, next := range edges[cur] {
			if !seen[next] {
				seen[next] = true
				stack = append(stack, next)
			}
		}
	}
	return seen
}

func jsonErrorLine(raw []byte, err error) int {
	var se *json.SyntaxError
	if errors.As(err, &se) && se.Offset > 0 && int(se.Offset) <= len(raw) {
		return 1 + strings.Count(string(raw[:se.Offset]), "\n")
	}
	return 1
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// orderedJSON encodes a YAML node as JSON keeping the mappings' key order,
// which decoding into a Go map would lose: a payload's form lists its
// fields as the definition does (batch, amount, date), not alphabetically.
func orderedJSON(n *yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	var walk func(n *yaml.Node) error
	walk = func(n *yaml.Node) error {
		switch n.Kind {
		case yaml.DocumentNode:
			if len(n.Content) == 0 {
				b.WriteString("null")
				return nil
			}
			return walk(n.Content[0])
		case yaml.AliasNode:
			return walk(n.Alias)
		case yaml.MappingNode:
			b.WriteByte('{')
			for i := 0; i+1 < len(n.Content); i += 2 {
				if i > 0 {
					b.WriteByte(',')
				}
				var key string
				if err := n.Content[i].Decode(&key); err != nil {
					return fmt.Errorf("line %d: a key must be a string", n.Content[i].Line)
				}
				k, _ := json.Marshal(key)
				b.Write(k)
				b.WriteByte(':')
				if err := walk(n.Content[i+1]); err != nil {
					return err
				}
			}
			b.WriteByte('}')
		case yaml.SequenceNode:
			b.WriteByte('[')
			for i, c := range n.Content {
				if i > 0 {
					b.WriteByte(',')
				}
				if err := walk(c); err != nil {
					return err
				}
			}
			b.WriteByte(']')
		default:
			var v any
			if err := n.Decode(&v); err != nil {
				return fmt.Errorf("line %d: %w", n.Line, err)
			}
			raw, err := json.Marshal(v)
			if err != nil {
				return fmt.Errorf("line %d: %w", n.Line, err)
			}
			b.Write(raw)
		}
		return nil
	}
	if err := walk(n); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
