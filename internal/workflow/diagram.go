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

// Sizes in the drawing, in pixels.
const (
	dgMargin     = 24.0
	dgHeadH      = 44.0 // the workflow's title, above the states
	dgHeadSize   = 16.0
	dgBoxH       = 46.0
	dgBoxMinW    = 120.0
	dgBoxPad     = 14.0 // either side of a box's longest line
	dgTitleSize  = 13.0 // a state's title
	dgKeySize    = 10.0 // a state's key and kind
	dgLabelSize  = 11.0 // an event's title
	dgLabelRankH = 18.0 // the row of event titles between two rows of states
	dgLabelPad   = 5.0  // from an arrow to its title
	dgTitleMax   = 40   // runes of a state title before it is cut short
	dgLoopReach  = 22.0 // how far right of its box a self-transition's control points lie
	dgLoopStep   = 14.0 // between a box's self-transitions, one above the other
)

// Diagram draws the state machine as a self-contained SVG. States sit in rows
// by their distance from the initial state; events are arrows labelled with
// their titles. It is drawn the way Graphviz's dot draws: an arrow that skips
// rows has a point of its own in each row it crosses, and each arrow's title
// is a point of its own in the row of titles between two rows of states, so
// that placing the points apart keeps titles off boxes and off each other, and
// arrows in the gaps between boxes. Arrows back towards the initial state run
// upwards. An event several states fire towards the same side of its target
// is drawn once, its arrows joining at its title.
func (d *Definition) Diagram(english bool) []byte {
	g := layOutDiagram(d, english)
	return g.svg(d, english)
}

// diagram is a definition laid out: ranks from the top, even ones holding
// the states, odd ones the events' titles; points of arrows in any.
type diagram struct {
	ranks  [][]*dnode
	routes []*droute
	boxes  []*dnode // in the order the states are declared
	// top and height of each rank; between ranks are gaps only arrows cross.
	top, height   []float64
	width, extent float64
	// ports is where on a box the arrow to or from a neighbouring point
	// meets it.
	ports map[[2]*dnode]float64
}

// dnode is a state's box, the point where an arrow crosses a rank, or the
// point beside which an event's title is written.
type dnode struct {
	state *State // a box; nil for a point
	label string // the event's title written right of this point
	rank  int
	pos   int // index in its rank
	// left and right are how far the node reaches either side of x.
	left, right float64
	w           float64  // a box's width (right also holds its loops)
	loops       []*Event // events that leave a box's state unchanged
	up, down    []*dnode // neighbours in the ranks above and below
	x           float64
}

// joins reports whether several arrows meet at n.
func (n *dnode) joins() bool { return n.state == nil && len(n.up)+len(n.down) > 2 }

// droute is one arrow: from one state's box through a point in every rank
// between, one of which carries the title, to another state's box.
type droute struct {
	event *Event
	nodes []*dnode // from box, points, to box
	label *dnode
}

func layOutDiagram(d *Definition, english bool) *diagram {
	pick := func(t Text) string { return t.In(english) }
	layer, preorder := stateLayers(d)
	maxLayer := 0
	for _, l := range layer {
		maxLayer = max(maxLayer, l)
	}
	g := &diagram{ranks: make([][]*dnode, 2*maxLayer+1), ports: map[[2]*dnode]float64{}}
	add := func(n *dnode) *dnode {
		n.pos = len(g.ranks[n.rank])
		g.ranks[n.rank] = append(g.ranks[n.rank], n)
		return n
	}
	box := map[string]*dnode{}
	for _, key := range preorder {
		s := d.States[slices.IndexFunc(d.States, func(s *State) bool { return s.Key == key })]
		w := max(dgBoxMinW, textWidth(clip(pick(s.Title), dgTitleMax), dgTitleSize)+2*dgBoxPad,
			textWidth(s.Key+" · "+string(s.Kind), dgKeySize)+2*dgBoxPad)
		box[key] = add(&dnode{state: s, rank: 2 * layer[key], w: w, left: w / 2, right: w / 2})
	}
	for _, s := range d.States {
		g.boxes = append(g.boxes, box[s.Key])
	}

	// Each event becomes arrows: the states it leaves from downwards (or
	// upwards) share one title just above (below) the target; a lone one
	// gets its title in whichever row of titles it crosses is emptiest.
	type single struct {
		e    *Event
		from *dnode
	}
	var singles []single
	labelLoad := make([]float64, len(g.ranks))
	for _, e := range d.Events {
		to := box[e.To]
		if to == nil {
			continue
		}
		var down, up []*dnode
		for _, f := range e.From {
			from := box[f]
			switch {
			case from == nil || slices.Contains(down, from) || slices.Contains(up, from) || slices.Contains(from.loops, e):
			case from == to:
				from.loops = append(from.loops, e)
			case from.rank < to.rank:
				down = append(down, from)
			default:
				up = append(up, from)
			}
		}
		for _, froms := range [][]*dnode{down, up} {
			if len(froms) == 1 {
				singles = append(singles, single{e, froms[0]})
			}
			if len(froms) < 2 {
				continue
			}
			r := to.rank - 1
			if froms[0].rank > to.rank {
				r = to.rank + 1
			}
			lab := add(&dnode{rank: r, label: pick(e.Title)})
			labelLoad[r] += textWidth(lab.label, dgLabelSize)
			for _, from := range froms {
				g.route(e, from, to, lab, add)
			}
		}
	}
	// Short arrows have the least choice, so they choose first.
	ranks := func(s single) int { return max(s.from.rank-box[s.e.To].rank, box[s.e.To].rank-s.from.rank) }
	sort.SliceStable(singles, func(i, j int) bool { return ranks(singles[i]) < ranks(singles[j]) })
	for _, s := range singles {
		to := box[s.e.To]
		step := 1
		if to.rank < s.from.rank {
			step = -1
		}
		best := s.from.rank + step
		for r := best; (r-to.rank)*step < 0; r += 2 * step {
			if labelLoad[r] < labelLoad[best] {
				best = r
			}
		}
		lab := add(&dnode{rank: best, label: pick(s.e.Title)})
		labelLoad[best] += textWidth(lab.label, dgLabelSize)
		g.route(s.e, s.from, to, lab, add)
	}

	for _, n := range g.nodes() {
		switch {
		case n.state != nil && len(n.loops) > 0:
			widest := 0.0
			for _, e := range n.loops {
				widest = max(widest, textWidth(pick(e.Title), dgLabelSize))
			}
			n.right += dgLoopReach + 2 + widest
		case n.label != "":
			n.left, n.right = 2, dgLabelPad+textWidth(n.label, dgLabelSize)
		}
	}
	g.order()
	g.place()
	g.measure()
	return g
}

// stateLayers puts each state in a row: events back to a state on the way
// from the initial state (walked depth first, in declaration order) are
// arrows upwards; along the rest each state is one row below the lowest
// state it is entered from. It also gives the states in the order walked.
func stateLayers(d *Definition) (map[string]int, []string) {
	known := map[string]bool{}
	for _, s := range d.States {
		known[s.Key] = true
	}
	next := map[string][]string{}
	for _, e := range d.Events {
		for _, f := range e.From {
			if f != e.To && known[f] && known[e.To] && !slices.Contains(next[f], e.To) {
				next[f] = append(next[f], e.To)
			}
		}
	}
	back := map[[2]string]bool{}
	onPath, seen := map[string]bool{}, map[string]bool{}
	var preorder []string
	var walk func(string)
	walk = func(s string) {
		onPath[s], seen[s] = true, true
		preorder = append(preorder, s)
		for _, t := range next[s] {
			if onPath[t] {
				back[[2]string{s, t}] = true
			} else if !seen[t] {
				walk(t)
			}
		}
		onPath[s] = false
	}
	if known[d.Initial] {
		walk(d.Initial)
	}
	for _, s := range d.States {
		if !seen[s.Key] {
			walk(s.Key)
		}
	}
	prev := map[string][]string{}
	for _, s := range preorder {
		for _, t := range next[s] {
			if !back[[2]string{s, t}] {
				prev[t] = append(prev[t], s)
			}
		}
	}
	layer := map[string]int{}
	var depth func(string) int
	depth = func(s string) int {
		if l, ok := layer[s]; ok {
			return l
		}
		l := 0
		for _, p := range prev[s] {
			l = max(l, depth(p)+1)
		}
		layer[s] = l
		return l
	}
	for _, s := range preorder {
		depth(s)
	}
	return layer, preorder
}

// route adds the arrow of e from one box to another, through a new point in
// each rank between but lab's, and links its nodes.
func (g *diagram) route(e *Event, from, to, lab *dnode, add func(*dnode) *dnode) {
	step := 1
	if to.rank < from.rank {
		step = -1
	}
	rt := &droute{event: e, nodes: []*dnode{from}, label: lab}
	for r := from.rank + step; r != to.rank; r += step {
		if r == lab.rank {
			rt.nodes = append(rt.nodes, lab)
		} else {
			rt.nodes = append(rt.nodes, add(&dnode{rank: r}))
		}
	}
	rt.nodes = append(rt.nodes, to)
	for i := 1; i < len(rt.nodes); i++ {
		a, b := rt.nodes[i-1], rt.nodes[i]
		if a.rank > b.rank {
			a, b = b, a
		}
		if !slices.Contains(a.down, b) {
			a.down = append(a.down, b)
			b.up = append(b.up, a)
		}
	}
	g.routes = append(g.routes, rt)
}

func (g *diagram) nodes() []*dnode {
	var all []*dnode
	for _, rank := range g.ranks {
		all = append(all, rank...)
	}
	return all
}

// order arranges each rank to cross few arrows: barycentre sweeps down and
// up with adjacent swaps, keeping the best order seen.
func (g *diagram) order() {
	best, bestCross := g.snapshot(), g.crossings()
	for range 24 {
		for r := 1; r < len(g.ranks); r++ {
			g.sortRank(r, func(n *dnode) []*dnode { return n.up })
		}
		for r := len(g.ranks) - 2; r >= 0; r-- {
			g.sortRank(r, func(n *dnode) []*dnode { return n.down })
		}
		g.transpose()
		if c := g.crossings(); c < bestCross {
			best, bestCross = g.snapshot(), c
		}
	}
	for r, rank := range best {
		g.ranks[r] = rank
		for i, n := range rank {
			n.pos = i
		}
	}
}

func (g *diagram) snapshot() [][]*dnode {
	out := make([][]*dnode, len(g.ranks))
	for r, rank := range g.ranks {
		out[r] = slices.Clone(rank)
	}
	return out
}

func (g *diagram) sortRank(r int, by func(*dnode) []*dnode) {
	rank := g.ranks[r]
	bary := make(map[*dnode]float64, len(rank))
	for _, n := range rank {
		ns := by(n)
		if len(ns) == 0 {
			bary[n] = float64(n.pos)
			continue
		}
		sum := 0.0
		for _, m := range ns {
			sum += float64(m.pos)
		}
		bary[n] = sum / float64(len(ns))
	}
	sort.SliceStable(rank, func(i, j int) bool { return bary[rank[i]] < bary[rank[j]] })
	for i, n := range rank {
		n.pos = i
	}
}

// transpose swaps neighbours in a rank while that crosses fewer arrows.
func (g *diagram) transpose() {
	for improved := true; improved; {
		improved = false
		for _, rank := range g.ranks {
			for i := 0; i+1 < len(rank); i++ {
				a, b := rank[i], rank[i+1]
				if pairCrossings(b, a) < pairCrossings(a, b) {
					rank[i], rank[i+1] = b, a
					a.pos, b.pos = i+1, i
					improved = true
				}
			}
		}
	}
}

// pairCrossings counts the crossings between a's and b's links with a left of b.
func pairCrossings(a, b *dnode) int {
	n := 0
	for _, side := range [][2][]*dnode{{a.up, b.up}, {a.down, b.down}} {
		for _, u := range side[0] {
			for _, v := range side[1] {
				if u.pos > v.pos {
					n++
				}
			}
		}
	}
	return n
}

func (g *diagram) crossings() int {
	n := 0
	for _, rank := range g.ranks {
		type link struct{ a, b int }
		var links []link
		for _, u := range rank {
			for _, v := range u.down {
				links = append(links, link{u.pos, v.pos})
			}
		}
		for i, l := range links {
			for _, m := range links[i+1:] {
				if (l.a-m.a)*(l.b-m.b) < 0 {
					n++
				}
			}
		}
	}
	return n
}

// gap is the least room between the edges of neighbours in a rank.
func gap(a, b *dnode) float64 {
	switch {
	case a.state != nil && b.state != nil:
		return 40
	case a.state != nil || b.state != nil:
		return 22
	default:
		return 14
	}
}

// place gives each node its x: each rank in turn is drawn towards the mean
// of its neighbours (points of the same arrow pulling hardest, so long
// arrows run straight) and kept in order and apart by least squares.
func (g *diagram) place() {
	for _, rank := range g.ranks {
		for i, n := range rank {
			if i > 0 {
				n.x = rank[i-1].x + rank[i-1].right + gap(rank[i-1], n) + n.left
			}
		}
	}
	// Where arrows join, the shared stretch into the target pulls as hard
	// as a long arrow does, so it runs short.
	weight := func(a, b *dnode) float64 {
		if a.state == nil && b.state == nil || a.joins() || b.joins() {
			return 8
		}
		return 1
	}
	for it := range 60 {
		for k := range g.ranks {
			r := k
			if it%2 == 1 {
				r = len(g.ranks) - 1 - k
			}
			rank := g.ranks[r]
			want := make([]float64, len(rank))
			wt := make([]float64, len(rank))
			for i, n := range rank {
				sum, total := 0.0, 0.0
				for _, m := range append(slices.Clone(n.up), n.down...) {
					w := weight(n, m)
					sum += w * m.x
					total += w
				}
				if total == 0 {
					want[i], wt[i] = n.x, 1
					continue
				}
				want[i], wt[i] = sum/total, total
			}
			sep := make([]float64, len(rank))
			for i := 1; i < len(rank); i++ {
				sep[i] = rank[i-1].right + gap(rank[i-1], rank[i]) + rank[i].left
			}
			for i, x := range spread(want, wt, sep) {
				rank[i].x = x
			}
		}
	}
	g.straighten()
	minX := math.Inf(1)
	for _, n := range g.nodes() {
		minX = min(minX, n.x-n.left)
	}
	for _, n := range g.nodes() {
		n.x += dgMargin - minX
	}
}

// straighten lines up the points of each arrow on one x where its rank
// neighbours leave room, so a long arrow runs straight instead of wavering.
func (g *diagram) straighten() {
	fits := func(n *dnode, x float64) bool {
		rank := g.ranks[n.rank]
		if n.pos > 0 {
			if l := rank[n.pos-1]; x-n.left < l.x+l.right+gap(l, n) {
				return false
			}
		}
		if n.pos+1 < len(rank) {
			if r := rank[n.pos+1]; x+n.right+gap(n, r) > r.x-r.left {
				return false
			}
		}
		return true
	}
	// A point where arrows join stays; it belongs to them all.
	for range 3 {
		for _, rt := range g.routes {
			points := slices.DeleteFunc(slices.Clone(rt.nodes[1:len(rt.nodes)-1]), (*dnode).joins)
			var candidates []float64
			for _, n := range rt.nodes {
				candidates = append(candidates, n.x)
			}
			best, bestCost := 0.0, math.Inf(1)
			for _, c := range candidates {
				cost := 0.0
				for _, n := range points {
					if !fits(n, c) {
						cost = math.Inf(1)
						break
					}
					cost += math.Abs(c - n.x)
				}
				if cost < bestCost {
					best, bestCost = c, cost
				}
			}
			if !math.IsInf(bestCost, 1) {
				for _, n := range points {
					n.x = best
				}
			}
		}
	}
	// Where an arrow cannot run straight all the way, it bends as little
	// as it can: each stretch at one x moves onto the next stretch's x
	// while there is room, and every move takes away a bend.
	for moved := true; moved; {
		moved = false
		for _, rt := range g.routes {
			var runs [][]*dnode
			for _, n := range rt.nodes[1 : len(rt.nodes)-1] {
				if k := len(runs); k > 0 && math.Abs(runs[k-1][0].x-n.x) < 0.5 {
					runs[k-1] = append(runs[k-1], n)
				} else {
					runs = append(runs, []*dnode{n})
				}
			}
			for k, run := range runs {
				if slices.ContainsFunc(run, (*dnode).joins) {
					continue
				}
				best, bestShift := 0.0, math.Inf(1)
				for _, j := range []int{k - 1, k + 1} {
					if j < 0 || j >= len(runs) {
						continue
					}
					x := runs[j][0].x
					if math.Abs(x-run[0].x) < bestShift && !slices.ContainsFunc(run, func(n *dnode) bool { return !fits(n, x) }) {
						best, bestShift = x, math.Abs(x-run[0].x)
					}
				}
				if !math.IsInf(bestShift, 1) {
					for _, n := range run {
						n.x = best
					}
					moved = true
					break
				}
			}
		}
	}
}

// spread places points in order, point i at least sep[i] right of point
// i-1, as near to want as it can in least squares (pool adjacent violators
// on the positions less the separations).
func spread(want, weight, sep []float64) []float64 {
	offset := make([]float64, len(want))
	for i := 1; i < len(want); i++ {
		offset[i] = offset[i-1] + sep[i]
	}
	type block struct{ sum, weight float64 }
	var blocks []block
	var sizes []int
	for i := range want {
		blocks = append(blocks, block{weight[i] * (want[i] - offset[i]), weight[i]})
		sizes = append(sizes, 1)
		for n := len(blocks); n > 1 && blocks[n-2].sum/blocks[n-2].weight > blocks[n-1].sum/blocks[n-1].weight; n = len(blocks) {
			blocks[n-2].sum += blocks[n-1].sum
			blocks[n-2].weight += blocks[n-1].weight
			sizes[n-2] += sizes[n-1]
			blocks, sizes = blocks[:n-1], sizes[:n-1]
		}
	}
	out := make([]float64, 0, len(want))
	for b, blk := range blocks {
		for range sizes[b] {
			out = append(out, blk.sum/blk.weight+offset[len(out)])
		}
	}
	return out
}

// measure sets the ranks' heights and the gaps between them (wider where
// arrows run far sideways, so they do not lie flat), the ports and the size.
func (g *diagram) measure() {
	for _, n := range g.nodes() {
		if n.state == nil {
			continue
		}
		for _, side := range [][]*dnode{n.up, n.down} {
			if len(side) == 0 {
				continue
			}
			side = slices.Clone(side)
			sort.SliceStable(side, func(i, j int) bool { return side[i].x < side[j].x })
			// Each arrow meets the box as near above or below its
			// neighbour as the others leave room for.
			lo, hi := n.x-n.w/2+12, n.x+n.w/2-12
			want, weight, sep := make([]float64, len(side)), make([]float64, len(side)), make([]float64, len(side))
			for i, m := range side {
				want[i], weight[i] = min(max(m.x, lo), hi), 1
				if i > 0 {
					sep[i] = min(14, (hi-lo)/float64(len(side)-1))
				}
			}
			xs := spread(want, weight, sep)
			shift := max(lo-xs[0], 0) + min(hi-xs[len(xs)-1], 0)
			for i, m := range side {
				g.ports[[2]*dnode{n, m}] = min(max(xs[i]+shift, lo), hi)
			}
		}
	}
	g.top = make([]float64, len(g.ranks))
	g.height = make([]float64, len(g.ranks))
	y := dgMargin + dgHeadH
	for r, rank := range g.ranks {
		if r%2 == 0 {
			// A box with many self-transitions grows to stack them, and
			// its row with it.
			g.height[r] = dgBoxH
			for _, n := range rank {
				g.height[r] = max(g.height[r], dgLoopStep*float64(len(n.loops))+4)
			}
		} else if slices.ContainsFunc(rank, func(n *dnode) bool { return n.label != "" }) {
			g.height[r] = dgLabelRankH
		}
		g.top[r] = y
		reach := 0.0
		for _, n := range rank {
			for _, m := range n.down {
				reach = max(reach, math.Abs(g.portX(n, m)-g.portX(m, n)))
			}
		}
		y += g.height[r]
		if r+1 < len(g.ranks) {
			y += min(64, max(22, 14+reach*0.12))
		}
	}
	g.extent = y + dgMargin
	for _, n := range g.nodes() {
		g.width = max(g.width, n.x+n.right+dgMargin)
	}
}

// portX is where a's link to its neighbour b leaves a.
func (g *diagram) portX(a, b *dnode) float64 {
	if a.state == nil {
		return a.x
	}
	return g.ports[[2]*dnode{a, b}]
}

func (g *diagram) svg(d *Definition, english bool) []byte {
	pick := func(t Text) string { return t.In(english) }
	var b strings.Builder
	head := pick(d.Title)
	if d.Version > 0 {
		head = fmt.Sprintf("%s (v%d)", head, d.Version)
	}
	width := max(g.width, 2*dgMargin+textWidth(head, dgHeadSize))
	arrow := "arrow-" + d.Key
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="system-ui, 'PingFang SC', 'Microsoft YaHei', 'Noto Sans CJK SC', sans-serif" font-size="%g">`,
		width, g.extent, width, g.extent, dgTitleSize)
	fmt.Fprintf(&b, `<title>%s</title>`, esc(pick(d.Title)))
	// The marker's id names the workflow: a page may hold several diagrams.
	fmt.Fprintf(&b, `<defs><marker id="%s" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#52606d"/></marker></defs>`, esc(arrow))
	fmt.Fprintf(&b, `<rect width="%.0f" height="%.0f" fill="#ffffff"/>`, width, g.extent)
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="%g" font-weight="600">%s</text>`, dgMargin, dgMargin+dgHeadSize, dgHeadSize, esc(head))

	edge := func(e *Event, to string, paths [][2]string, lx, ly float64) {
		fmt.Fprintf(&b, `<g data-event="%s" data-to="%s"><title>%s (%s)</title>`, esc(e.Key), esc(to), esc(pick(e.Title)), esc(e.Key))
		for _, p := range paths {
			fmt.Fprintf(&b, `<path data-from="%s" d="%s" fill="none" stroke="#52606d" stroke-width="1.3" marker-end="url(#%s)"/>`, esc(p[0]), p[1], esc(arrow))
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#1f2933" font-size="%g">%s</text></g>`, lx, ly, dgLabelSize, esc(pick(e.Title)))
	}
	// Arrows sharing a title are one group, drawn in the order their
	// titles were first reached.
	var labels []*dnode
	byLabel := map[*dnode][]*droute{}
	for _, rt := range g.routes {
		if byLabel[rt.label] == nil {
			labels = append(labels, rt.label)
		}
		byLabel[rt.label] = append(byLabel[rt.label], rt)
	}
	for _, lab := range labels {
		rts := byLabel[lab]
		var paths [][2]string
		for _, rt := range rts {
			paths = append(paths, [2]string{rt.nodes[0].state.Key, g.path(rt)})
		}
		edge(rts[0].event, rts[0].nodes[len(rts[0].nodes)-1].state.Key, paths,
			lab.x+dgLabelPad, g.top[lab.rank]+dgLabelRankH/2+0.35*dgLabelSize)
	}
	for _, n := range g.boxes {
		right, cy := n.x+n.w/2, g.top[n.rank]+g.height[n.rank]/2
		for i, e := range n.loops {
			y := cy + (float64(i)-float64(len(n.loops)-1)/2)*dgLoopStep
			path := fmt.Sprintf("M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f", right, y-3.5, right+dgLoopReach, y-9, right+dgLoopReach, y+9, right, y+3.5)
			edge(e, n.state.Key, [][2]string{{n.state.Key, path}}, right+dgLoopReach+2, y+0.35*dgLabelSize)
		}
	}

	fill := map[StateKind]string{KindEdit: "#e0f2fe", KindReview: "#fef3c7", KindNotice: "#ede9fe",
		KindActive: "#dcfce7", KindTerminal: "#e5e7eb"}
	for _, n := range g.boxes {
		s, top, h := n.state, g.top[n.rank], g.height[n.rank]
		stroke, strokeW := "#52606d", 1.5
		if s.Key == d.Initial {
			stroke, strokeW = "#b91c1c", 2.5
		}
		fmt.Fprintf(&b, `<g data-state="%s"><title>%s</title><rect x="%.1f" y="%.1f" width="%.1f" height="%g" rx="8" fill="%s" stroke="%s" stroke-width="%g"/>`,
			esc(s.Key), esc(pick(s.Title)), n.x-n.w/2, top, n.w, h, fill[s.Kind], stroke, strokeW)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-weight="600">%s</text>`, n.x, top+h/2-3, esc(clip(pick(s.Title), dgTitleMax)))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#52606d" font-size="%g">%s · %s</text></g>`,
			n.x, top+h/2+13, dgKeySize, esc(s.Key), s.Kind)
	}
	b.WriteString(`</svg>`)
	return []byte(b.String())
}

// path draws a route: straight through each rank, curving across the gaps.
func (g *diagram) path(rt *droute) string {
	var b strings.Builder
	down := rt.nodes[len(rt.nodes)-1].rank > rt.nodes[0].rank
	// side is the y of a node's top or bottom, where a route meets it.
	side := func(n *dnode, bottom bool) float64 {
		if bottom {
			return g.top[n.rank] + g.height[n.rank]
		}
		return g.top[n.rank]
	}
	x0, y0 := g.portX(rt.nodes[0], rt.nodes[1]), side(rt.nodes[0], down)
	fmt.Fprintf(&b, "M%.1f,%.1f", x0, y0)
	for i := 1; i < len(rt.nodes); i++ {
		n := rt.nodes[i]
		x1, y1 := g.portX(n, rt.nodes[i-1]), side(n, !down)
		if math.Abs(x1-x0) < 0.5 {
			fmt.Fprintf(&b, " L%.1f,%.1f", x1, y1)
		} else {
			mid := (y0 + y1) / 2
			fmt.Fprintf(&b, " C%.1f,%.1f %.1f,%.1f %.1f,%.1f", x0, mid, x1, mid, x1, y1)
		}
		x0, y0 = x1, y1
		if n.state == nil && g.height[n.rank] > 0 {
			y0 = side(n, down)
			fmt.Fprintf(&b, " L%.1f,%.1f", x0, y0)
		}
	}
	return b.String()
}

// dbox is an upright rectangle in the drawing.
type dbox struct{ x0, y0, x1, y1 float64 }

func (a dbox) overlaps(b dbox) bool { return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1 }

// textWidth estimates how wide s is set at size: a CJK character about as
// wide as the size, anything narrower about 0.6 of it.
func textWidth(s string, size float64) float64 {
	w := 0.0
	for _, r := range s {
		if r >= 0x1100 {
			w += size
		} else {
			w += 0.6 * size
		}
	}
	return w
}

// textBounds is where s falls, drawn at size with its baseline at y and
// anchored at x ("start", "middle" or "end"). The rows of titles are as tall
// as it makes them, and TestDiagram holds every drawing to it.
func textBounds(s string, x, y, size float64, anchor string) dbox {
	w := textWidth(s, size)
	switch anchor {
	case "middle":
		x -= w / 2
	case "end":
		x -= w
	}
	return dbox{x, y - 0.9*size, x + w, y + 0.25*size}
}

func esc(s string) string { return html.EscapeString(s) }

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
