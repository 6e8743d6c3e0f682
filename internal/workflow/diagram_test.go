package workflow

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"
)

var diagramDir = flag.String("diagrams", "", "directory TestDiagram writes each diagram it checks to, to look at")

// TestDiagram draws every shipped and test definition in both languages and
// checks the drawing is readable: titles clear of each other and of the
// boxes, every state and transition drawn once, arrows clear of boxes and
// titles, and each title beside its own arrow.
func TestDiagram(t *testing.T) {
	check := func(d *Definition, name string) {
		for _, english := range []bool{false, true} {
			lang := map[bool]string{false: "zh", true: "en"}[english]
			t.Run(name+"/"+lang, func(t *testing.T) {
				t.Parallel()
				svg := d.Diagram(english)
				if *diagramDir != "" {
					require.NoError(t, os.WriteFile(filepath.Join(*diagramDir, d.Key+"."+lang+".svg"), svg, 0o644))
				}
				require.Equal(t, svg, d.Diagram(english), "the same definition draws the same")
				doc, err := readDiagram(svg)
				require.NoError(t, err)
				if probs := diagramProblems(d, english, doc); len(probs) > 0 {
					t.Errorf("%d problems:\n%s", len(probs), strings.Join(probs, "\n"))
				}
			})
		}
	}
	for _, dir := range []string{"../../workflows", "testdata/valid"} {
		defs, err := LoadDir(os.DirFS(dir))
		require.NoError(t, err)
		for _, d := range defs {
			check(d, filepath.Base(dir)+"/"+d.Key)
		}
	}
	// Made-up workflows denser than any shipped one, so a definition that
	// grows still draws cleanly.
	for seed := range uint64(8) {
		d := denseDefinition(seed)
		check(d, "dense/"+d.Key)
	}

	// The checks themselves: a drawing gone wrong must be caught.
	t.Run("a broken drawing is caught", func(t *testing.T) {
		defs, err := LoadDir(os.DirFS("../../workflows"))
		require.NoError(t, err)
		d := defs[slices.IndexFunc(defs, func(d *Definition) bool { return d.Key == "jiebang" })]
		read := func() *svgDiagram {
			doc, err := readDiagram(d.Diagram(false))
			require.NoError(t, err)
			require.Empty(t, diagramProblems(d, false, doc))
			return doc
		}
		has := func(probs []string, part string) bool {
			return slices.ContainsFunc(probs, func(p string) bool { return strings.Contains(p, part) })
		}

		doc := read()
		draft := doc.states["draft"][0]
		label := &doc.texts[slices.IndexFunc(doc.texts, func(tx svgText) bool { return tx.edge >= 0 })]
		label.x, label.y = (draft.x0+draft.x1)/2-10, (draft.y0+draft.y1)/2
		probs := diagramProblems(d, false, doc)
		require.True(t, has(probs, "overlaps the box of draft"), probs)
		require.True(t, has(probs, "overlaps title"), probs)
		require.True(t, has(probs, "far from its arrow"), probs)

		doc = read()
		withdraw := slices.IndexFunc(doc.edges, func(e svgEdge) bool { return e.event == "withdraw" })
		doc.edges[withdraw].paths = doc.edges[withdraw].paths[1:]
		require.True(t, has(diagramProblems(d, false, doc), "is not drawn"))

		doc = read()
		decision := doc.states["decision"][0]
		p := &doc.edges[0].paths[0]
		p.points = append([][2]float64{p.points[0], {(decision.x0 + decision.x1) / 2, (decision.y0 + decision.y1) / 2}}, p.points...)
		require.True(t, has(diagramProblems(d, false, doc), "runs through the box of decision"))
	})
}

// svgDiagram is what a drawing holds, as read back from its SVG.
type svgDiagram struct {
	width, height float64
	title         string
	states        map[string][]dbox // the rects of each state's group
	edges         []svgEdge
	texts         []svgText
	bad           []string // what a self-contained SVG must not have
}

type svgEdge struct {
	event, to string
	paths     []svgPath
}

type svgPath struct {
	from   string
	points [][2]float64 // sampled along it
}

type svgText struct {
	s          string
	x, y, size float64
	anchor     string
	state      string // the group of the state it is in, or ""
	edge       int    // the index of the edge it labels, or -1
}

func (tx svgText) bounds() dbox { return textBounds(tx.s, tx.x, tx.y, tx.size, tx.anchor) }

func readDiagram(svg []byte) (*svgDiagram, error) {
	doc := &svgDiagram{states: map[string][]dbox{}}
	dec := xml.NewDecoder(bytes.NewReader(svg))
	type frame struct {
		name     string
		fontSize float64
		state    string
		edge     int
	}
	stack := []frame{{fontSize: 16, edge: -1}}
	var text *svgText
	var chars strings.Builder
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			chars.Reset()
			attr := map[string]string{}
			for _, a := range tok.Attr {
				attr[a.Name.Local] = a.Value
				if a.Name.Local == "style" || a.Name.Local == "href" || strings.HasPrefix(a.Name.Local, "on") {
					doc.bad = append(doc.bad, fmt.Sprintf("<%s> has a %s attribute", tok.Name.Local, a.Name.Local))
				}
			}
			switch tok.Name.Local {
			case "style", "script", "image", "foreignObject", "use":
				doc.bad = append(doc.bad, fmt.Sprintf("the drawing has a <%s>", tok.Name.Local))
			}
			num := func(k string) float64 { f, _ := strconv.ParseFloat(attr[k], 64); return f }
			f := stack[len(stack)-1]
			f.name = tok.Name.Local
			if _, ok := attr["font-size"]; ok {
				f.fontSize = num("font-size")
			}
			switch tok.Name.Local {
			case "svg":
				doc.width, doc.height = num("width"), num("height")
				if attr["viewBox"] != fmt.Sprintf("0 0 %s %s", attr["width"], attr["height"]) {
					doc.bad = append(doc.bad, "the viewBox is not the drawing's size")
				}
			case "g":
				if k, ok := attr["data-state"]; ok {
					f.state = k
				}
				if e, ok := attr["data-event"]; ok {
					doc.edges = append(doc.edges, svgEdge{event: e, to: attr["data-to"]})
					f.edge = len(doc.edges) - 1
				}
			case "rect":
				if f.state != "" {
					doc.states[f.state] = append(doc.states[f.state], dbox{num("x"), num("y"), num("x") + num("width"), num("y") + num("height")})
				}
			case "path":
				if f.edge >= 0 {
					points, err := samplePath(attr["d"])
					if err != nil {
						return nil, err
					}
					doc.edges[f.edge].paths = append(doc.edges[f.edge].paths, svgPath{attr["data-from"], points})
				}
			case "text":
				anchor := attr["text-anchor"]
				if anchor == "" {
					anchor = "start"
				}
				text = &svgText{x: num("x"), y: num("y"), size: f.fontSize, anchor: anchor, state: f.state, edge: f.edge}
				chars.Reset()
			}
			stack = append(stack, f)
		case xml.CharData:
			chars.Write(tok)
		case xml.EndElement:
			switch {
			case tok.Name.Local == "text":
				text.s = chars.String()
				doc.texts = append(doc.texts, *text)
			case tok.Name.Local == "title" && len(stack) == 3:
				doc.title = chars.String()
			}
			chars.Reset()
			stack = stack[:len(stack)-1]
		}
	}
	return doc, nil
}

// samplePath gives points at most a pixel or so apart along a path of the
// absolute commands M, L and C.
func samplePath(d string) ([][2]float64, error) {
	var fields []string
	for _, f := range strings.FieldsFunc(d, func(r rune) bool { return r == ' ' || r == ',' }) {
		if f != "" && unicode.IsLetter(rune(f[0])) {
			fields = append(fields, f[:1])
			f = f[1:]
		}
		if f != "" {
			fields = append(fields, f)
		}
	}
	var out [][2]float64
	var cur [2]float64
	nums := func(i, n int) ([]float64, error) {
		if i+n > len(fields) {
			return nil, fmt.Errorf("path %q ends early", d)
		}
		var v []float64
		for _, f := range fields[i : i+n] {
			x, err := strconv.ParseFloat(f, 64)
			if err != nil {
				return nil, fmt.Errorf("path %q: %w", d, err)
			}
			v = append(v, x)
		}
		return v, nil
	}
	for i := 0; i < len(fields); {
		cmd := fields[i]
		i++
		switch cmd {
		case "M", "L":
			v, err := nums(i, 2)
			if err != nil {
				return nil, err
			}
			i += 2
			next := [2]float64{v[0], v[1]}
			if cmd == "M" {
				out = append(out, next)
			} else {
				n := int(math.Ceil(math.Hypot(next[0]-cur[0], next[1]-cur[1])))
				for k := 1; k <= n; k++ {
					t := float64(k) / float64(n)
					out = append(out, [2]float64{cur[0] + t*(next[0]-cur[0]), cur[1] + t*(next[1]-cur[1])})
				}
			}
			cur = next
		case "C":
			v, err := nums(i, 6)
			if err != nil {
				return nil, err
			}
			i += 6
			p := [4][2]float64{cur, {v[0], v[1]}, {v[2], v[3]}, {v[4], v[5]}}
			const n = 200
			for k := 1; k <= n; k++ {
				t := float64(k) / n
				a, b, c, e := (1-t)*(1-t)*(1-t), 3*(1-t)*(1-t)*t, 3*(1-t)*t*t, t*t*t
				out = append(out, [2]float64{a*p[0][0] + b*p[1][0] + c*p[2][0] + e*p[3][0], a*p[0][1] + b*p[1][1] + c*p[2][1] + e*p[3][1]})
			}
			cur = p[3]
		default:
			return nil, fmt.Errorf("path %q: command %q is not drawn here", d, cmd)
		}
	}
	return out, nil
}

// diagramProblems lists what is wrong with doc as a drawing of d.
func diagramProblems(d *Definition, english bool, doc *svgDiagram) []string {
	pick := func(t Text) string { return t.In(english) }
	probs := slices.Clone(doc.bad)
	problem := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	page := dbox{0, 0, doc.width, doc.height}
	inside := func(a, b dbox) bool { return a.x0 >= b.x0 && a.x1 <= b.x1 && a.y0 >= b.y0 && a.y1 <= b.y1 }
	if doc.title != pick(d.Title) {
		problem("the drawing is titled %q, not %q", doc.title, pick(d.Title))
	}

	// States: each once, with its title and key.
	rects := map[string]dbox{}
	for _, s := range d.States {
		switch n := len(doc.states[s.Key]); n {
		case 1:
			rects[s.Key] = doc.states[s.Key][0]
		default:
			problem("state %s is drawn %d times", s.Key, n)
		}
		var lines []string
		for _, tx := range doc.texts {
			if tx.state == s.Key {
				lines = append(lines, tx.s)
			}
		}
		if !slices.Contains(lines, clip(pick(s.Title), dgTitleMax)) || !slices.Contains(lines, s.Key+" · "+string(s.Kind)) {
			problem("state %s reads %q", s.Key, lines)
		}
	}
	for key := range doc.states {
		if !slices.ContainsFunc(d.States, func(s *State) bool { return s.Key == key }) {
			problem("state %s is not in the definition", key)
		}
	}

	// Transitions: each drawn, nothing else; every arrow titled.
	type transition struct{ from, to, event string }
	drawn := map[transition]bool{}
	for _, e := range doc.edges {
		ev, ok := d.Event(e.event)
		if !ok {
			problem("event %s is not in the definition", e.event)
			continue
		}
		for _, p := range e.paths {
			tr := transition{p.from, e.to, e.event}
			if drawn[tr] {
				problem("%s --> %s : %s is drawn twice", tr.from, tr.to, tr.event)
			}
			drawn[tr] = true
			if ev.To != e.to || !slices.Contains(ev.From, p.from) {
				problem("%s --> %s : %s is not a transition", tr.from, tr.to, tr.event)
			}
		}
	}
	for i, e := range doc.edges {
		var titles []string
		for _, tx := range doc.texts {
			if tx.edge == i {
				titles = append(titles, tx.s)
			}
		}
		if ev, ok := d.Event(e.event); ok && !slices.Equal(titles, []string{pick(ev.Title)}) {
			problem("the arrow of %s to %s is titled %q", e.event, e.to, titles)
		}
	}
	for _, e := range d.Events {
		for _, f := range e.From {
			if !drawn[transition{f, e.To, e.Key}] {
				problem("%s --> %s : %s is not drawn", f, e.To, e.Key)
			}
		}
	}

	// Text: on the page, clear of other text and of boxes (but its own).
	for i, tx := range doc.texts {
		b := tx.bounds()
		if !inside(b, page) {
			problem("%q runs off the page", tx.s)
		}
		for _, other := range doc.texts[i+1:] {
			if b.overlaps(other.bounds()) {
				problem("%q overlaps title %q", tx.s, other.s)
			}
		}
		for _, s := range d.States {
			r, ok := rects[s.Key]
			switch {
			case !ok:
			case tx.state == s.Key && !inside(b, r):
				problem("%q spills out of the box of %s", tx.s, s.Key)
			case tx.state != s.Key && b.overlaps(r):
				problem("%q overlaps the box of %s", tx.s, s.Key)
			}
		}
	}

	// Arrows: from the border of one box to the border of another, clear
	// of every box and title on the way; each title nearer its own arrow
	// than any other.
	distance := func(b dbox, p [2]float64) float64 {
		return math.Hypot(max(b.x0-p[0], 0, p[0]-b.x1), max(b.y0-p[1], 0, p[1]-b.y1))
	}
	onBorder := func(b dbox, p [2]float64) bool {
		return distance(b, p) < 1 && distance(dbox{b.x0 + 1, b.y0 + 1, b.x1 - 1, b.y1 - 1}, p) > 0
	}
	for _, e := range doc.edges {
		for _, p := range e.paths {
			name := fmt.Sprintf("the arrow %s --> %s : %s", p.from, e.to, e.event)
			if len(p.points) < 2 {
				problem("%s is empty", name)
				continue
			}
			if r, ok := rects[p.from]; ok && !onBorder(r, p.points[0]) {
				problem("%s does not start at the border of its box", name)
			}
			if r, ok := rects[e.to]; ok && !onBorder(r, p.points[len(p.points)-1]) {
				problem("%s does not end at the border of its box", name)
			}
			through := map[string]bool{}
			for _, pt := range p.points {
				if distance(page, pt) > 0 {
					through["the edge of the page"] = true
				}
				for key, r := range rects {
					if distance(dbox{r.x0 + 1, r.y0 + 1, r.x1 - 1, r.y1 - 1}, pt) == 0 {
						through["the box of "+key] = true
					}
				}
				for _, tx := range doc.texts {
					if tx.state == "" && distance(tx.bounds(), pt) == 0 {
						through[fmt.Sprintf("title %q", tx.s)] = true
					}
				}
			}
			for _, what := range slices.Sorted(maps.Keys(through)) {
				problem("%s runs through %s", name, what)
			}
		}
	}
	for _, tx := range doc.texts {
		if tx.edge < 0 {
			continue
		}
		own, nearest, nearestEdge := math.Inf(1), math.Inf(1), -1
		for i, e := range doc.edges {
			for _, p := range e.paths {
				for _, pt := range p.points {
					dist := distance(tx.bounds(), pt)
					if i == tx.edge {
						own = min(own, dist)
					}
					if dist < nearest {
						nearest, nearestEdge = dist, i
					}
				}
			}
		}
		switch {
		case own > 10:
			problem("title %q is %.0fpx far from its arrow", tx.s, own)
		case nearestEdge != tx.edge && nearest < own:
			problem("title %q is nearer the arrow of %s to %s than its own", tx.s, doc.edges[nearestEdge].event, doc.edges[nearestEdge].to)
		}
	}
	return probs
}

// denseDefinition makes up a workflow of 22 states and 40 events, most fired
// from several states, some back towards the start or leaving the state as
// it is (up to four on one state), titled at lengths from one word to a
// sentence.
func denseDefinition(seed uint64) *Definition {
	rnd := rand.New(rand.NewPCG(seed, 7))
	zh := []rune("申报审核评审公示异议签订任务书实施中期检查整改验收结题终止撤回退回修改通过不予立项拨付资金")
	words := strings.Fields("submit review the application pass fail send back to unit notice period ends objection sustained dismissed contract signed disburse final tranche terminate")
	title := func() Text {
		var z []rune
		for range 2 + rnd.IntN(9) {
			z = append(z, zh[rnd.IntN(len(zh))])
		}
		var e []string
		for range 1 + rnd.IntN(5) {
			e = append(e, words[rnd.IntN(len(words))])
		}
		return Text{Zh: string(z), En: strings.Join(e, " ")}
	}
	d := &Definition{Key: fmt.Sprintf("dense%d", seed), Title: title(), Initial: "s0"}
	for i := range 22 {
		d.States = append(d.States, &State{Key: fmt.Sprintf("s%d", i), Title: title(), Kind: stateKinds[rnd.IntN(len(stateKinds))]})
	}
	for i := range 40 {
		e := &Event{Key: fmt.Sprintf("e%d", i), Title: title()}
		// Mostly forward, a few steps on; sometimes back or to itself.
		from := rnd.IntN(21)
		to := min(21, from+1+rnd.IntN(4))
		switch rnd.IntN(8) {
		case 0:
			to = rnd.IntN(from + 1)
		case 1:
			to = from % 3
		}
		e.To = fmt.Sprintf("s%d", to)
		for range 1 + rnd.IntN(4) {
			if f := fmt.Sprintf("s%d", max(0, from-rnd.IntN(4))); !slices.Contains(e.From, f) {
				e.From = append(e.From, f)
			}
		}
		d.Events = append(d.Events, e)
	}
	d.index()
	return d
}
