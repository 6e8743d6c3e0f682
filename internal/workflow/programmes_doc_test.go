package workflow

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestProgrammesDocument keeps docs/programmes.md true to the shipped
// definitions: each workflow's diagram has exactly its transitions, states
// and Chinese titles, and its section names every event, form field,
// attachment slot, aggregate, indicator and scoring criterion.
func TestProgrammesDocument(t *testing.T) {
	defs, err := LoadDir(os.DirFS("../../workflows"))
	require.NoError(t, err)
	doc, err := os.ReadFile("../../docs/programmes.md")
	require.NoError(t, err)
	for _, d := range defs {
		t.Run(d.Key, func(t *testing.T) {
			if probs := programmeDocProblems(string(doc), d, defs); len(probs) > 0 {
				t.Errorf("docs/programmes.md disagrees with workflows/%s.yaml:\n%s", d.Key, strings.Join(probs, "\n"))
			}
		})
	}

	// The check itself: a definition that changes without the document
	// must be caught.
	t.Run("drift is caught", func(t *testing.T) {
		d := defs[slices.IndexFunc(defs, func(d *Definition) bool { return d.Key == "jiebang" })]
		added := *d
		added.Events = append(slices.Clone(d.Events), &Event{Key: "resume", From: []string{"rectifying"}, To: "in_progress"})
		probs := programmeDocProblems(string(doc), &added, defs)
		require.Contains(t, probs, "transition rectifying --> in_progress : resume is not in the diagram")
		require.Contains(t, probs, "event `resume` is not named outside the diagram")

		widened := *d
		withdraw := *d.Events[slices.IndexFunc(d.Events, func(e *Event) bool { return e.Key == "withdraw" })]
		withdraw.From = append(slices.Clone(withdraw.From), "expert_review")
		widened.Events = slices.Clone(d.Events)
		widened.Events[slices.IndexFunc(d.Events, func(e *Event) bool { return e.Key == "withdraw" })] = &withdraw
		require.Contains(t, programmeDocProblems(string(doc), &widened, defs),
			"transition expert_review --> withdrawn : withdraw is not in the diagram")

		field := *d
		field.FormJSON = []byte(`{"type": "object", "properties": {"title": {"type": "string"}, "patent_count": {"type": "integer"}}}`)
		require.Contains(t, programmeDocProblems(string(doc), &field, defs), "form field `patent_count` is not named")
	})
}

// programmeDocProblems lists where doc's section on d disagrees with d.
func programmeDocProblems(doc string, d *Definition, all []*Definition) []string {
	var probs []string
	problem := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	section, ok := docSection(doc, d.Key)
	if !ok {
		return []string{fmt.Sprintf("no single heading names `%s`", d.Key)}
	}
	block, rest, ok := mermaidBlock(section)
	if !ok {
		return []string{fmt.Sprintf("the section on `%s` has no mermaid block", d.Key)}
	}
	diagram, bad := parseStateDiagram(block)
	probs = append(probs, bad...)

	// States: each declared with its Chinese title, and no others.
	for _, s := range d.States {
		if title, ok := diagram.states[s.Key]; !ok {
			problem(`state %s is not declared (state "%s" as %s)`, s.Key, s.Title.Zh, s.Key)
		} else if title != s.Title.Zh {
			problem("state %s is titled %q in the diagram, %q in the definition", s.Key, title, s.Title.Zh)
		}
	}
	for key := range diagram.states {
		if _, ok := d.State(key); !ok {
			problem("the diagram declares state %s, which the definition does not have", key)
		}
	}
	if !slices.Equal(diagram.initial, []string{d.Initial}) {
		problem("the diagram starts at %v, the definition at %s", diagram.initial, d.Initial)
	}
	var terminal []string
	for _, s := range d.States {
		if s.Kind == KindTerminal {
			terminal = append(terminal, s.Key)
		}
	}
	slices.Sort(terminal)
	if got := slices.Sorted(slices.Values(diagram.final)); !slices.Equal(got, terminal) {
		problem("the diagram ends at %v, the definition's terminal states are %v", got, terminal)
	}

	// Transitions: each event's from × to, and nothing else.
	want := map[transition]bool{}
	for _, e := range d.Events {
		for _, from := range e.From {
			want[transition{from, e.To, e.Key}] = true
		}
	}
	for _, tr := range sortedTransitions(want) {
		if _, ok := diagram.edges[tr]; !ok {
			problem("transition %s is not in the diagram", tr)
		}
	}
	for _, tr := range sortedTransitions(diagram.edges) {
		if !want[tr] {
			problem("the diagram has %s, which the definition does not", tr)
		}
	}
	// Who fires it: system events say what fires them, role events do not.
	kinds := systemKinds(d, all)
	for _, tr := range sortedTransitions(diagram.edges) {
		e, ok := d.Event(tr.event)
		if !ok {
			continue
		}
		marker := diagram.edges[tr]
		switch {
		case e.System && !slices.Contains(kinds[e.Key], marker):
			problem("%s is a system event fired by %v; its label says (%s)", tr, kinds[e.Key], marker)
		case !e.System && marker != "":
			problem("%s is fired by %v, not by the system; its label says (%s)", tr, e.Roles, marker)
		}
	}

	// Everything a case officer meets is named in the text, not only drawn.
	named := func(what, key string) {
		if !strings.Contains(rest, "`"+key+"`") {
			problem("%s `%s` is not named outside the diagram", what, key)
		}
	}
	for _, e := range d.Events {
		named("event", e.Key)
	}
	fields, err := formFields(d.FormJSON)
	if err != nil {
		problem("form: %v", err)
	}
	for _, f := range fields {
		if !strings.Contains(rest, "`"+f+"`") {
			problem("form field `%s` is not named", f)
		}
	}
	for _, s := range d.Attachments {
		named("attachment slot", s.Key)
	}
	for _, name := range slices.Sorted(maps.Keys(d.Aggregates)) {
		named("aggregate", name)
	}
	for _, ind := range d.Indicators {
		named("indicator", ind.Key)
	}
	for _, s := range d.States {
		if s.Review != nil && s.Review.Score != nil {
			for _, c := range s.Review.Score.Criteria {
				named("criterion", c.Key)
			}
		}
	}
	return probs
}

// docSection is the part of doc under the one heading that names key in
// backquotes, up to the next heading of the same or a higher level.
func docSection(doc, key string) (string, bool) {
	lines := strings.SplitAfter(doc, "\n")
	start, level := -1, 0
	fenced := false
	for i, l := range lines {
		if strings.HasPrefix(l, "```") {
			fenced = !fenced
		}
		if fenced || !strings.HasPrefix(l, "#") {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, "#"))
		if start >= 0 && n <= level {
			return strings.Join(lines[start:i], ""), true
		}
		if strings.Contains(l, "`"+key+"`") {
			if start >= 0 {
				return "", false
			}
			start, level = i, n
		}
	}
	if start < 0 {
		return "", false
	}
	return strings.Join(lines[start:], ""), true
}

var mermaidFence = regexp.MustCompile("(?s)```mermaid\n(.*?)```")

// mermaidBlock is the section's first mermaid block, and the section
// without it.
func mermaidBlock(section string) (block, rest string, ok bool) {
	loc := mermaidFence.FindStringSubmatchIndex(section)
	if loc == nil {
		return "", section, false
	}
	return section[loc[2]:loc[3]], section[:loc[0]] + section[loc[1]:], true
}

type transition struct{ from, to, event string }

func (t transition) String() string { return t.from + " --> " + t.to + " : " + t.event }

func sortedTransitions[V any](m map[transition]V) []transition {
	out := slices.Collect(maps.Keys(m))
	slices.SortFunc(out, func(a, b transition) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// stateDiagram is what a Mermaid stateDiagram-v2 block declares.
type stateDiagram struct {
	states         map[string]string     // key → title
	edges          map[transition]string // → the system marker, "" for none
	initial, final []string
}

var (
	stateDecl = regexp.MustCompile(`^state\s+"([^"]+)"\s+as\s+([a-z][a-z0-9_]*)$`)
	edgeLine  = regexp.MustCompile(`^(\[\*\]|[a-z][a-z0-9_]*)\s+-->\s+(\[\*\]|[a-z][a-z0-9_]*)(?:\s*:\s*(.*))?$`)
	edgeLabel = regexp.MustCompile(`^([a-z][a-z0-9_]*)(?:\s+\((timer|stage|objection|cascade)\))?$`)
)

// parseStateDiagram reads the lines the document uses: state declarations,
// transitions labelled "event" or "event (what fires it)", [*] for the
// start and the ends. Anything else is reported, so that nothing is
// silently skipped.
func parseStateDiagram(block string) (stateDiagram, []string) {
	sd := stateDiagram{states: map[string]string{}, edges: map[transition]string{}}
	var probs []string
	for i, l := range strings.Split(block, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "%%") || strings.HasPrefix(l, "direction ") || strings.HasPrefix(l, "note "):
			continue
		case i == 0:
			if l != "stateDiagram-v2" {
				probs = append(probs, "the diagram is not a stateDiagram-v2")
			}
			continue
		}
		if m := stateDecl.FindStringSubmatch(l); m != nil {
			if _, dup := sd.states[m[2]]; dup {
				probs = append(probs, "state "+m[2]+" is declared twice")
			}
			sd.states[m[2]] = m[1]
			continue
		}
		m := edgeLine.FindStringSubmatch(l)
		if m == nil {
			probs = append(probs, fmt.Sprintf("diagram line %d is not understood: %s", i+1, l))
			continue
		}
		switch from, to := m[1], m[2]; {
		case from == "[*]" && to != "[*]":
			sd.initial = append(sd.initial, to)
		case to == "[*]" && from != "[*]":
			sd.final = append(sd.final, from)
		case from == "[*]":
			probs = append(probs, "diagram line "+fmt.Sprint(i+1)+" goes from [*] to [*]")
		default:
			lm := edgeLabel.FindStringSubmatch(strings.TrimSpace(m[3]))
			if lm == nil {
				probs = append(probs, fmt.Sprintf("diagram line %d needs the label \"event\" or \"event (timer|stage|objection|cascade)\": %s", i+1, l))
				continue
			}
			tr := transition{from, to, lm[1]}
			if _, dup := sd.edges[tr]; dup {
				probs = append(probs, "the diagram has "+tr.String()+" twice")
			}
			sd.edges[tr] = lm[2]
		}
	}
	return sd, probs
}

// systemKinds says, for each system event of d, what may fire it: a
// state's timer, the first objection to a notice, a review stage's
// outcome, or a related application's cascade (parent_event of a child,
// children_event of the parent).
func systemKinds(d *Definition, all []*Definition) map[string][]string {
	out := map[string][]string{}
	add := func(event, kind string) {
		if !slices.Contains(out[event], kind) {
			out[event] = append(out[event], kind)
		}
	}
	for _, s := range d.States {
		if s.Timer != nil {
			add(s.Timer.Event, "timer")
		}
		if s.OnObjection != "" {
			add(s.OnObjection, "objection")
		}
		if r := s.Review; r != nil {
			for _, e := range append([]string{r.Pass, r.Fail}, r.Also...) {
				add(e, "stage")
			}
		}
	}
	for _, o := range all {
		for _, e := range o.Events {
			if o.Parent == d.Key && e.ParentEvent != "" {
				add(e.ParentEvent, "cascade")
			}
			if d.Parent == o.Key && e.ChildrenEvent != "" {
				add(e.ChildrenEvent, "cascade")
			}
		}
	}
	return out
}

// formFields lists a form's fields: top-level keys, "a.b" inside objects,
// "a[].b" inside arrays of objects.
func formFields(form []byte) ([]string, error) {
	var schema map[string]any
	if err := json.Unmarshal(form, &schema); err != nil {
		return nil, err
	}
	var out []string
	var walk func(prefix string, s map[string]any)
	walk = func(prefix string, s map[string]any) {
		props, _ := s["properties"].(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(props)) {
			p, _ := props[k].(map[string]any)
			out = append(out, prefix+k)
			walk(prefix+k+".", p)
			if items, ok := p["items"].(map[string]any); ok {
				walk(prefix+k+"[].", items)
			}
		}
	}
	walk("", schema)
	return out, nil
}
