package workflow

import (
	"fmt"
	"html"
	"math"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// Diagram draws the state machine as a self-contained SVG: states in rows by
// their distance from the initial state, events as labelled arrows. Forward
// arrows run down; arrows back up or sideways curve to the right.
func (d *Definition) Diagram(english bool) []byte {
	pick := func(t Text) string { return t.In(english) }
	const boxW, boxH, gapX, gapY, margin = 168.0, 46.0, 56.0, 92.0, 40.0

	depth := map[string]int{d.Initial: 0}
	queue := []string{d.Initial}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, e := range d.Events {
			if _, seen := depth[e.To]; seen || !slices.Contains(e.From, cur) {
				continue
			}
			depth[e.To] = depth[cur] + 1
			queue = append(queue, e.To)
		}
	}
	rows := map[int][]*State{}
	maxRow, maxCols := 0, 1
	for _, s := range d.States {
		r := depth[s.Key]
		rows[r] = append(rows[r], s)
		maxRow = max(maxRow, r)
		maxCols = max(maxCols, len(rows[r]))
	}
	width := margin*2 + float64(maxCols)*boxW + float64(maxCols-1)*gapX + 160
	height := margin*2 + 30 + float64(maxRow+1)*boxH + float64(maxRow)*gapY
	type pt struct{ x, y float64 }
	pos := map[string]pt{}
	for r := 0; r <= maxRow; r++ {
		n := float64(len(rows[r]))
		rowW := n*boxW + (n-1)*gapX
		x0 := (width-160-rowW)/2 + boxW/2
		for i, s := range rows[r] {
			pos[s.Key] = pt{x0 + float64(i)*(boxW+gapX), margin + 30 + float64(r)*(boxH+gapY) + boxH/2}
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="system-ui, 'PingFang SC', 'Microsoft YaHei', sans-serif" font-size="13">`,
		width, height, width, height)
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#52606d"/></marker></defs>`)
	fmt.Fprintf(&b, `<title>%s</title><text x="%.0f" y="%.0f" font-size="16" font-weight="600">%s (v%d)</text>`,
		esc(pick(d.Title)), margin, margin, esc(pick(d.Title)), d.Version)

	// Self-loops first, then the others sorted, so output is stable.
	type edge struct {
		from, to string
		label    string
	}
	var edges []edge
	for _, e := range d.Events {
		for _, f := range e.From {
			edges = append(edges, edge{f, e.To, pick(e.Title)})
		}
	}
	sort.SliceStable(edges, func(i, j int) bool {
		if edges[i].from != edges[j].from {
			return edges[i].from < edges[j].from
		}
		return edges[i].to < edges[j].to
	})
	for i, e := range edges {
		a, z := pos[e.from], pos[e.to]
		var path string
		lx, ly := 0.0, 0.0
		switch {
		case e.from == e.to:
			x, y := a.x+boxW/2, a.y
			path = fmt.Sprintf("M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f", x, y-8, x+50, y-30, x+50, y+30, x, y+8)
			lx, ly = x+54, y+4
		case math.Abs(z.y-a.y) < 1:
			// Same row: dip below it, so the arrow does not run through boxes.
			x1, x2, y := a.x, z.x, a.y+boxH/2
			dip := 28 + 8*float64(i%3)
			path = fmt.Sprintf("M%.1f,%.1f Q%.1f,%.1f %.1f,%.1f", x1, y, (x1+x2)/2, y+dip*2, x2, y)
			lx, ly = (x1+x2)/2-20, y+dip+4
		case z.y > a.y:
			x1, y1, x2, y2 := a.x, a.y+boxH/2, z.x, z.y-boxH/2
			path = fmt.Sprintf("M%.1f,%.1f L%.1f,%.1f", x1, y1, x2, y2)
			lx, ly = (x1+x2)/2+4, (y1+y2)/2+float64(i%3-1)*12
		default:
			x1, y1, x2, y2 := a.x+boxW/2, a.y, z.x+boxW/2, z.y
			bend := 60 + 20*math.Abs(a.y-z.y)/(boxH+gapY)
			path = fmt.Sprintf("M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f", x1, y1, x1+bend, y1, x2+bend, y2, x2, y2)
			lx, ly = math.Max(x1, x2)+bend*0.75, (y1+y2)/2
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="#52606d" stroke-width="1.3" marker-end="url(#arrow)"/>`, path)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#1f2933" font-size="11">%s</text>`, lx, ly, esc(e.label))
	}
	fill := map[StateKind]string{KindEdit: "#e0f2fe", KindReview: "#fef3c7", KindNotice: "#ede9fe",
		KindActive: "#dcfce7", KindTerminal: "#e5e7eb"}
	for _, s := range d.States {
		p := pos[s.Key]
		stroke := "#52606d"
		if s.Key == d.Initial {
			stroke = "#b91c1c"
		}
		fmt.Fprintf(&b, `<g><rect x="%.1f" y="%.1f" width="%.0f" height="%.0f" rx="8" fill="%s" stroke="%s" stroke-width="1.5"/>`,
			p.x-boxW/2, p.y-boxH/2, boxW, boxH, fill[s.Kind], stroke)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-weight="600">%s</text>`, p.x, p.y-2, esc(clip(pick(s.Title), 14)))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#52606d" font-size="10">%s · %s</text></g>`,
			p.x, p.y+14, esc(s.Key), s.Kind)
	}
	b.WriteString(`</svg>`)
	return []byte(b.String())
}

func esc(s string) string { return html.EscapeString(s) }

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
