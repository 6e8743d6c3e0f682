// Package chart draws the plan dashboard's charts as SVG on the server: no
// script, no fonts or stylesheets to load, and no style attributes, which the
// page's Content-Security-Policy (style-src 'self') would block. Each chart is
// an <svg> element to embed inline in a page, inside <div class="chart">
// so that site.css (.chart svg { max-width: 100%; height: auto }) shrinks it
// to a phone's width. It is drawn 360 units wide with text of 14 units or
// more, so that shrunk to a 360px phone's column it still reads at 12px.
package chart

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
)

// Bar is one indicator of the plan: how far it has got against its target.
type Bar struct {
	Label  string
	Unit   string   // 万元, 家, 人, %...
	Actual float64  // the value reached
	Target *float64 // nil: the indicator has no target, its value is shown alone
}

// Part is one category of a value split up, such as talents funded in tier A.
type Part struct {
	Label string
	Value float64
}

// Sizes in the drawing, in SVG units (pixels at full size).
const (
	width     = 360.0
	padX      = 2.0 // left and right, so a bar's outline is not cut off
	inner     = width - 2*padX
	labelSize = 15.0 // an indicator's or category's name
	numSize   = 14.0 // the numbers
	labelLine = 20.0
	numLine   = 19.0
	barH      = 14.0
	barGap    = 5.0  // between text and a bar
	rowGap    = 18.0 // between indicators
	maxLines  = 2    // a longer label is cut short with "…"
)

// Colours keep WCAG AA contrast (4.5:1) on white for text, and 3:1 for the
// bars and the target's outline; they are site.css's.
const (
	colInk    = "#1f2933" // text: 14.3:1
	colMuted  = "#4b5563" // secondary text: 7.6:1
	colAccent = "#b91c1c" // progress short of target, and categories: 6.5:1
	colOK     = "#15803d" // target reached or passed: 5.0:1
	colTrack  = "#e5e7eb" // the target's track, with an outline of colEdge
	colEdge   = "#6b7280" // 4.8:1
)

const fontFamily = `system-ui, -apple-system, 'PingFang SC', 'Microsoft YaHei', 'Noto Sans CJK SC', 'Noto Sans SC', sans-serif`

// noData is what an empty chart says, Chinese first as everywhere in sciflow.
const noData = "暂无数据 · No data"

// Progress draws one horizontal bar per indicator: the indicator's name above
// it, a track standing for the target, filled as far as the value reached,
// and below it "actual / target unit" and the percentage. A value at or past
// its target fills the track in green and shows its true percentage (135%);
// an indicator without a target shows its value alone, with no bar. A target
// of zero or less has no percentage: its track is full when it is reached.
// title and desc become the chart's <title> and <desc>; an empty desc is
// replaced by the data in words, since a screen reader does not read the
// drawing's text. id prefixes the ids inside, so it must be unique on the page.
func Progress(id, title, desc string, bars []Bar) template.HTML {
	c := newCanvas()
	var said []string
	for i, b := range bars {
		if i > 0 {
			c.y += rowGap
		}
		c.label(b.Label, inner)
		if b.Target == nil {
			v := withUnit(FormatNumber(b.Actual), b.Unit)
			c.text(padX, c.y+numSize, "start", numSize, colInk, true, v)
			c.y += numLine
			said = append(said, b.Label+": "+v)
			continue
		}
		t := *b.Target
		reached := b.Actual >= t
		fill := colAccent
		if reached {
			fill = colOK
		}
		frac := 0.0
		switch {
		case reached:
			frac = 1
		case t > 0 && b.Actual > 0:
			frac = b.Actual / t
		}
		c.y += barGap
		fmt.Fprintf(&c.b, `<rect class="chart-track" x="%s" y="%s" width="%s" height="%s" rx="3" fill="%s" stroke="%s" stroke-width="1"/>`,
			num(padX), num(c.y), num(inner), num(barH), colTrack, colEdge)
		if frac > 0 {
			fmt.Fprintf(&c.b, `<rect class="chart-fill" x="%s" y="%s" width="%s" height="%s" rx="3" fill="%s"/>`,
				num(padX), num(c.y), num(inner*frac), num(barH), fill)
		}
		c.y += barH + barGap
		nums := withUnit(FormatNumber(b.Actual)+" / "+FormatNumber(t), b.Unit)
		pct := ""
		if t > 0 && !math.IsNaN(b.Actual) {
			pct = FormatPercent(b.Actual / t)
		}
		c.numbers(nums, pct, fill)
		if pct != "" {
			nums += " (" + pct + ")"
		}
		said = append(said, b.Label+": "+nums)
	}
	return c.svg(id, title, desc, said)
}

// Breakdown draws one horizontal bar per part, the longest standing for the
// largest value, with the part's name above it and its value at the right.
// A part of zero or less has no bar. unit follows every value. title, desc
// and id are as for Progress.
func Breakdown(id, title, desc, unit string, parts []Part) template.HTML {
	c := newCanvas()
	most := 0.0
	for _, p := range parts {
		if p.Value > most && !math.IsInf(p.Value, 1) { // nor is NaN
			most = p.Value
		}
	}
	var said []string
	for i, p := range parts {
		if i > 0 {
			c.y += rowGap
		}
		v := withUnit(FormatNumber(p.Value), unit)
		said = append(said, p.Label+": "+v)
		// The value goes at the right of the name's first line, unless it
		// would leave the name too little room.
		vw := textWidth(v, numSize)
		if vw > inner/2 {
			c.label(p.Label, inner)
			c.text(padX+inner, c.y+numSize, "end", numSize, colInk, true, v)
			c.y += numLine
		} else {
			top := c.y
			c.label(p.Label, inner-vw-12)
			c.text(padX+inner, top+labelSize, "end", numSize, colInk, true, v)
		}
		c.y += barGap
		if p.Value > 0 && p.Value <= most {
			fmt.Fprintf(&c.b, `<rect class="chart-fill" x="%s" y="%s" width="%s" height="%s" rx="3" fill="%s"/>`,
				num(padX), num(c.y), num(inner*p.Value/most), num(barH), colAccent)
		} else {
			// A hairline keeps the row's place, so a zero is seen as one.
			fmt.Fprintf(&c.b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1"/>`,
				num(padX), num(c.y+barH/2), num(padX+inner), num(c.y+barH/2), colTrack)
		}
		c.y += barH
	}
	return c.svg(id, title, desc, said)
}

// canvas collects a chart's drawing from the top down; y is where the next
// row starts.
type canvas struct {
	b strings.Builder
	y float64
}

func newCanvas() *canvas { return &canvas{y: 2} }

// label writes a name in up to maxLines lines of at most w, with the whole
// name as a tooltip when it had to be cut short.
func (c *canvas) label(s string, w float64) {
	lines, cut := wrap(s, labelSize, w, maxLines)
	if cut {
		fmt.Fprintf(&c.b, `<g><title>%s</title>`, esc(s))
	}
	for _, l := range lines {
		c.text(padX, c.y+labelSize, "start", labelSize, colInk, true, l)
		c.y += labelLine
	}
	if cut {
		c.b.WriteString(`</g>`)
	}
}

// numbers writes "actual / target unit" at the left and the percentage at the
// right, on a line of their own each if they do not fit on one.
func (c *canvas) numbers(nums, pct, colour string) {
	c.text(padX, c.y+numSize, "start", numSize, colMuted, false, nums)
	if pct == "" {
		c.y += numLine
		return
	}
	if textWidth(nums, numSize)+16+textWidth(pct, numSize) > inner {
		c.y += numLine
	}
	c.text(padX+inner, c.y+numSize, "end", numSize, colour, true, pct)
	c.y += numLine
}

func (c *canvas) text(x, baseline float64, anchor string, size float64, colour string, bold bool, s string) {
	weight := ""
	if bold {
		weight = ` font-weight="600"`
	}
	fmt.Fprintf(&c.b, `<text x="%s" y="%s" text-anchor="%s" font-size="%s" fill="%s"%s>%s</text>`,
		num(x), num(baseline), anchor, num(size), colour, weight, esc(s))
}

// svg wraps the drawing in its <svg> element, or says there is no data.
func (c *canvas) svg(id, title, desc string, said []string) template.HTML {
	if len(said) == 0 {
		c.b.Reset()
		c.y = 48
		c.text(width/2, 30, "middle", labelSize, colMuted, false, noData)
		said = []string{noData}
	}
	if desc == "" {
		desc = strings.Join(said, "; ")
	}
	id = safeID(id)
	h := math.Ceil(c.y + 4)
	var out strings.Builder
	fmt.Fprintf(&out, `<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg" width="%s" height="%s" viewBox="0 0 %s %s" role="img" aria-labelledby="%s-title %s-desc" font-family="%s">`,
		num(width), num(h), num(width), num(h), id, id, fontFamily)
	fmt.Fprintf(&out, `<title id="%s-title">%s</title><desc id="%s-desc">%s</desc>`, id, esc(title), id, esc(desc))
	out.WriteString(c.b.String())
	out.WriteString(`</svg>`)
	// Every piece of text above went through esc, and every number through
	// num; the rest are constants.
	return template.HTML(out.String())
}

// safeID keeps the letters, digits, '-' and '_' of id, so that it is one
// token in aria-labelledby and needs no escaping in an attribute.
func safeID(id string) string {
	id = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '-'
	}, id)
	if id == "" || !(id[0] >= 'a' && id[0] <= 'z' || id[0] >= 'A' && id[0] <= 'Z') {
		id = "chart-" + id
	}
	return id
}

func esc(s string) string { return html.EscapeString(s) }

// num writes a coordinate with at most two decimals and no trailing zeros.
func num(f float64) string {
	s := fmt.Sprintf("%.2f", f)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}

// withUnit puts a unit after a number, with a space unless it is a percent
// sign.
func withUnit(n, unit string) string {
	switch unit {
	case "":
		return n
	case "%", "‰":
		return n + unit
	}
	return n + " " + unit
}
