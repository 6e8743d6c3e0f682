package chart

import (
	"encoding/xml"
	"html/template"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// node is an element of a drawn chart, parsed back.
type node struct {
	name  string
	attrs map[string]string
	text  string // character data directly inside
	kids  []*node
}

// parse reads a chart as XML, which also proves it is well-formed.
func parse(t *testing.T, h template.HTML) *node {
	t.Helper()
	s := string(h)
	require.True(t, strings.HasPrefix(s, "<svg "), "no XML prolog or anything else before <svg>: %.40q", s)
	d := xml.NewDecoder(strings.NewReader(s))
	root := &node{}
	stack := []*node{root}
	for {
		tok, err := d.Token()
		if err != nil {
			require.ErrorContains(t, err, "EOF")
			break
		}
		top := stack[len(stack)-1]
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &node{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				n.attrs[a.Name.Local] = a.Value
			}
			top.kids = append(top.kids, n)
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			top.text += string(tok)
		}
	}
	require.Len(t, root.kids, 1, "one root element")
	require.Equal(t, "svg", root.kids[0].name)
	return root.kids[0]
}

// all is every element under n named name, in document order.
func (n *node) all(name string) []*node {
	var out []*node
	for _, k := range n.kids {
		if k.name == name {
			out = append(out, k)
		}
		out = append(out, k.all(name)...)
	}
	return out
}

// texts is what the chart's <text> elements say.
func (n *node) texts() []string {
	var out []string
	for _, t := range n.all("text") {
		out = append(out, t.text)
	}
	return out
}

func (n *node) class(c string) []*node {
	var out []*node
	for _, r := range n.all("rect") {
		if r.attrs["class"] == c {
			out = append(out, r)
		}
	}
	return out
}

func attrFloat(t *testing.T, n *node, a string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(n.attrs[a], 64)
	require.NoError(t, err, "%s=%q", a, n.attrs[a])
	return f
}

func target(v float64) *float64 { return &v }

func TestProgressIsAnAccessibleImage(t *testing.T) {
	svg := parse(t, Progress("plan-2025", "2025 年指标完成情况", "全县科技计划指标", []Bar{
		{Label: "研发经费投入", Unit: "万元", Actual: 500, Target: target(1000)},
	}))
	require.Equal(t, "img", svg.attrs["role"])
	require.Equal(t, "plan-2025-title plan-2025-desc", svg.attrs["aria-labelledby"])
	require.NotEmpty(t, svg.attrs["viewBox"])
	require.Equal(t, "360", svg.attrs["width"])
	title, desc := svg.kids[0], svg.kids[1]
	require.Equal(t, "title", title.name)
	require.Equal(t, "plan-2025-title", title.attrs["id"])
	require.Equal(t, "2025 年指标完成情况", title.text)
	require.Equal(t, "desc", desc.name)
	require.Equal(t, "plan-2025-desc", desc.attrs["id"])
	require.Equal(t, "全县科技计划指标", desc.text)
}

func TestEmptyDescSaysTheData(t *testing.T) {
	svg := parse(t, Progress("p", "指标", "", []Bar{
		{Label: "高新技术企业", Unit: "家", Actual: 27, Target: target(20)},
		{Label: "专利授权", Unit: "件", Actual: 1532},
	}))
	require.Equal(t, "高新技术企业: 27 / 20 家 (135%); 专利授权: 1,532 件", svg.all("desc")[0].text)
}

func TestIDIsOneSafeToken(t *testing.T) {
	svg := parse(t, Progress(`a b"><x`, "t", "d", nil))
	require.Equal(t, "a-b---x-title a-b---x-desc", svg.attrs["aria-labelledby"])
	svg = parse(t, Progress("", "t", "d", nil))
	require.Equal(t, "chart--title chart--desc", svg.attrs["aria-labelledby"])
	svg = parse(t, Progress("2025", "t", "d", nil))
	require.Equal(t, "chart-2025-title chart-2025-desc", svg.attrs["aria-labelledby"], "an id starts with a letter")
}

func TestLabelsStayText(t *testing.T) {
	evil := `众创 <script>x</script> & "y"`
	for name, h := range map[string]template.HTML{
		"progress":  Progress("p", evil, evil, []Bar{{Label: evil, Unit: evil, Actual: 1, Target: target(2)}}),
		"breakdown": Breakdown("b", evil, evil, evil, []Part{{Label: evil, Value: 1}}),
	} {
		t.Run(name, func(t *testing.T) {
			require.NotContains(t, string(h), "<script")
			svg := parse(t, h)
			require.Empty(t, svg.all("script"))
			require.Equal(t, evil, svg.all("title")[0].text)
			require.Equal(t, evil, svg.all("desc")[0].text)
			require.Contains(t, svg.texts(), evil)
		})
	}
}

func TestProgressBars(t *testing.T) {
	tests := []struct {
		name   string
		bar    Bar
		fill   float64 // share of the track filled; 0: no fill drawn
		colour string
		texts  []string // the numbers and the percentage
	}{
		{"half", Bar{Label: "L", Unit: "万元", Actual: 1000, Target: target(2000)}, 0.5, colAccent,
			[]string{"1,000 / 2,000 万元", "50%"}},
		{"a quarter", Bar{Label: "L", Unit: "家", Actual: 5, Target: target(20)}, 0.25, colAccent,
			[]string{"5 / 20 家", "25%"}},
		{"nothing yet", Bar{Label: "L", Unit: "项", Actual: 0, Target: target(30)}, 0, "",
			[]string{"0 / 30 项", "0%"}},
		{"just short rounds down", Bar{Label: "L", Actual: 9999, Target: target(10000)}, 0.9999, colAccent,
			[]string{"9,999 / 10,000", "99.9%"}},
		{"reached", Bar{Label: "L", Unit: "人", Actual: 12, Target: target(12)}, 1, colOK,
			[]string{"12 / 12 人", "100%"}},
		{"over target: full, green, true percentage", Bar{Label: "L", Unit: "家", Actual: 27, Target: target(20)}, 1, colOK,
			[]string{"27 / 20 家", "135%"}},
		{"percent unit", Bar{Label: "L", Unit: "%", Actual: 2.41, Target: target(2.5)}, 2.41 / 2.5, colAccent,
			[]string{"2.41 / 2.5%", "96.4%"}},
		{"zero target passed: full, no percentage", Bar{Label: "L", Unit: "个", Actual: 3, Target: target(0)}, 1, colOK,
			[]string{"3 / 0 个"}},
		{"zero target, zero value: reached", Bar{Label: "L", Unit: "个", Actual: 0, Target: target(0)}, 1, colOK,
			[]string{"0 / 0 个"}},
		{"negative value: empty", Bar{Label: "L", Actual: -5, Target: target(10)}, 0, "",
			[]string{"-5 / 10", "-50%"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svg := parse(t, Progress("p", "t", "d", []Bar{tt.bar}))
			tracks, fills := svg.class("chart-track"), svg.class("chart-fill")
			require.Len(t, tracks, 1)
			require.Equal(t, tt.texts, svg.texts()[1:], "texts after the label")
			if tt.fill == 0 {
				require.Empty(t, fills)
				return
			}
			require.Len(t, fills, 1)
			trackW, fillW := attrFloat(t, tracks[0], "width"), attrFloat(t, fills[0], "width")
			require.InDelta(t, tt.fill*trackW, fillW, 0.01, "fill is actual/target of the track")
			require.Equal(t, tracks[0].attrs["x"], fills[0].attrs["x"])
			require.Equal(t, tracks[0].attrs["y"], fills[0].attrs["y"])
			require.Equal(t, tt.colour, fills[0].attrs["fill"])
		})
	}
}

func TestProgressWithoutTargetShowsTheValueAlone(t *testing.T) {
	svg := parse(t, Progress("p", "t", "d", []Bar{{Label: "专利授权量", Unit: "件", Actual: 1532}}))
	require.Empty(t, svg.all("rect"))
	require.Equal(t, []string{"专利授权量", "1,532 件"}, svg.texts())
}

func TestRowsGoDownThePage(t *testing.T) {
	svg := parse(t, Progress("p", "t", "d", []Bar{
		{Label: "一", Actual: 1, Target: target(2)},
		{Label: "二", Actual: 1},
		{Label: "三", Actual: 3, Target: target(2)},
	}))
	tracks := svg.class("chart-track")
	require.Len(t, tracks, 2)
	require.Less(t, attrFloat(t, tracks[0], "y")+barH, attrFloat(t, tracks[1], "y"))
	last := svg.all("text")
	h := attrFloat(t, svg, "height")
	require.LessOrEqual(t, attrFloat(t, last[len(last)-1], "y"), h, "the last line is inside the drawing")
	require.Equal(t, "0 0 360 "+svg.attrs["height"], svg.attrs["viewBox"])
}

func TestLongLabelsWrapThenCut(t *testing.T) {
	long := "规模以上工业企业研发机构覆盖率及省级以上企业技术中心、工程技术研究中心新增数量（按年度考核口径统计）"
	svg := parse(t, Progress("p", "t", "d", []Bar{{Label: long, Actual: 1, Target: target(2)}}))
	texts := svg.texts()
	require.Equal(t, long[:len(texts[0])], texts[0], "the first line is the label's start")
	require.True(t, strings.HasSuffix(texts[1], "…"), "the second line is cut short: %q", texts[1])
	for _, l := range texts[:2] {
		require.LessOrEqual(t, textWidth(l, labelSize), inner)
	}
	require.Equal(t, long, svg.all("title")[1].text, "the whole label is the tooltip")

	lines, cut := wrap("Technology contracts registered in the county", labelSize, 200, 3)
	require.False(t, cut)
	require.Equal(t, []string{"Technology contracts", "registered in the", "county"}, lines, "Latin words are not split")
}

func TestBreakdown(t *testing.T) {
	svg := parse(t, Breakdown("talent", "人才资助分层", "A/B/C/D 类人才", "人", []Part{
		{Label: "A 类", Value: 2}, {Label: "B 类", Value: 8}, {Label: "C 类", Value: 0}, {Label: "D 类", Value: 4},
	}))
	require.Equal(t, "talent-title talent-desc", svg.attrs["aria-labelledby"])
	fills := svg.class("chart-fill")
	require.Len(t, fills, 3, "no bar for zero")
	w := func(i int) float64 { return attrFloat(t, fills[i], "width") }
	require.InDelta(t, inner, w(1), 0.01, "the largest is full width")
	require.InDelta(t, w(1)/4, w(0), 0.01)
	require.InDelta(t, w(1)/2, w(2), 0.01)
	require.Equal(t, []string{"A 类", "2 人", "B 类", "8 人", "C 类", "0 人", "D 类", "4 人"}, svg.texts())

	money := parse(t, Breakdown("m", "历年资助资金", "", "万元", []Part{{Label: "2024", Value: 1234567.5}}))
	require.Equal(t, []string{"2024", "1,234,567.5 万元"}, money.texts())
	require.Equal(t, "2024: 1,234,567.5 万元", money.all("desc")[0].text)

	zeros := parse(t, Breakdown("z", "t", "d", "", []Part{{Label: "a", Value: 0}, {Label: "b", Value: -1}}))
	require.Empty(t, zeros.all("rect"))
	require.Len(t, zeros.all("line"), 2, "a hairline keeps each row's place")
}

func TestEmptyChartsSayNoData(t *testing.T) {
	for name, h := range map[string]template.HTML{
		"progress":  Progress("p", "指标", "", nil),
		"breakdown": Breakdown("b", "分层", "", "人", []Part{}),
	} {
		t.Run(name, func(t *testing.T) {
			svg := parse(t, h)
			require.Equal(t, "img", svg.attrs["role"])
			require.Equal(t, []string{"暂无数据 · No data"}, svg.texts())
			require.Equal(t, "暂无数据 · No data", svg.all("desc")[0].text)
			require.Empty(t, svg.all("rect"))
		})
	}
}

func TestNoInlineStyle(t *testing.T) {
	f := target(10)
	for _, h := range []template.HTML{
		Progress("p", "t", "d", []Bar{{Label: "a", Actual: 5, Target: f}, {Label: "b", Actual: 15, Target: f}, {Label: "c", Actual: 1}}),
		Progress("p", "t", "", []Bar{{Label: strings.Repeat("很长的标签", 20), Actual: 1, Target: f}}),
		Breakdown("b", "t", "d", "人", []Part{{Label: "a", Value: 1}, {Label: "b", Value: 0}}),
		Progress("e", "t", "", nil),
	} {
		require.NotContains(t, string(h), "style=")
		var walk func(n *node)
		walk = func(n *node) {
			require.NotEqual(t, "style", n.name)
			require.NotContains(t, n.attrs, "style")
			for _, k := range n.kids {
				walk(k)
			}
		}
		walk(parse(t, h))
	}
}

func TestFormatNumber(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{7, "7"},
		{999, "999"},
		{1000, "1,000"},
		{2000, "2,000"},
		{12345, "12,345"},
		{123456, "123,456"},
		{1234567.5, "1,234,567.5"},
		{1234567.25, "1,234,567.25"},
		{1234567.00, "1,234,567"},
		{0.5, "0.5"},
		{0.05, "0.05"},
		{0.004, "0"},
		{2.999, "3"},
		{999999.999, "1,000,000"},
		{-1234.5, "-1,234.5"},
		{-0.001, "0"},
		{math.Copysign(0, -1), "0"},
		{123456789012.34, "123,456,789,012.34"},
		{math.NaN(), "—"},
		{math.Inf(1), "—"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, FormatNumber(tt.in), "FormatNumber(%v)", tt.in)
	}
}

func TestFormatPercent(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0%"},
		{0.617, "61.7%"},
		{0.5, "50%"},
		{0.9999, "99.9%"},
		{1, "100%"},
		{1.35, "135%"},
		{2.41 / 2.5, "96.4%"},
		{123.456, "12,345.6%"},
		{math.Inf(1), "—"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, FormatPercent(tt.in), "FormatPercent(%v)", tt.in)
	}
}
