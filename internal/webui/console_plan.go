package webui

import (
	"fmt"
	"html/template"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/chart"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/workflow"
)

// The plan dashboard: the indicators against their targets, as charts and
// tables.

type planPage struct {
	AsOf       time.Time
	Progress   template.HTML
	Targets    []indicatorRow
	Others     []indicatorRow
	Breakdowns []breakdownView
}

type indicatorRow struct {
	Key, Title, Unit, Workflow string
	Actual, Target, Share      string
}

type breakdownView struct {
	ID, Title, Unit, By string
	Chart               template.HTML
	Parts               []partRow
	Total               string
}

type partRow struct {
	Label, Value, Share string
}

// plan is the dashboard of GET /api/v1/stats/plan: progress against the
// plan's targets, and each indicator's breakdown, each chart followed by a
// table of its numbers for those who cannot see it.
func (ui *UI) plan(c echo.Context) error {
	u := user(c)
	asOf, list, err := ui.Engine.PlanStats(c.Request().Context(), u)
	if err != nil {
		return err
	}
	d, err := ui.data(c, "规划指标", "Plan indicators")
	if err != nil {
		return err
	}
	en := d.En
	p := planPage{AsOf: asOf}
	var bars []chart.Bar
	for _, v := range list {
		def, _ := ui.Engine.Current(v.Workflow)
		row := indicatorRow{Key: v.Key, Title: v.Title.In(en), Unit: v.Unit.In(en), Actual: number(cents(v.Actual))}
		if def != nil {
			row.Workflow = def.Title.In(en)
		}
		if v.Target != nil {
			row.Target = number(*v.Target)
			if *v.Target > 0 {
				row.Share = strconv.FormatFloat(math.Round(v.Actual / *v.Target * 1000)/10, 'f', -1, 64) + "%"
			}
			target := *v.Target
			bars = append(bars, chart.Bar{Label: row.Title, Unit: row.Unit, Actual: cents(v.Actual), Target: &target})
			p.Targets = append(p.Targets, row)
		} else if len(v.By) == 0 {
			p.Others = append(p.Others, row)
		}
		if len(v.By) > 0 {
			p.Breakdowns = append(p.Breakdowns, ui.breakdown(def, v, en))
		}
	}
	if len(bars) > 0 {
		p.Progress = chart.Progress("plan-progress", pick(en, "规划目标完成情况", "Progress against the plan's targets"),
			pick(en, "各项指标的实际值与 2025 年目标值", "Each indicator's actual value against its 2025 target"), bars)
	}
	d.Page = p
	return ui.render(c, http.StatusOK, "console_plan", d)
}

// breakdown draws one indicator's By: states by their titles in the
// definition's order, years in order, form values by their choice titles.
func (ui *UI) breakdown(def *workflow.Definition, v engine.IndicatorValue, en bool) breakdownView {
	var ind *workflow.Indicator
	if def != nil {
		for _, i := range def.Indicators {
			if i.Key == v.Key {
				ind = i
			}
		}
	}
	by := ""
	if ind != nil {
		by = ind.By
	}
	// The definitions the indicator counts, whose states and form name
	// the keys.
	var counted []*workflow.Definition
	if ind != nil && ind.Count != nil {
		for _, k := range ind.Count.Workflows {
			if cd, ok := ui.Engine.Current(k); ok {
				counted = append(counted, cd)
			}
		}
	}
	if def != nil {
		counted = append(counted, def)
	}
	keys := make([]string, 0, len(v.By))
	for k := range v.By {
		keys = append(keys, k)
	}
	order := map[string]int{}
	label := func(k string) string { return k }
	fieldTitle := func(name string) string { return name }
	switch by {
	case "state":
		for _, cd := range counted {
			for i, s := range cd.States {
				if _, seen := order[s.Key]; !seen {
					order[s.Key] = i
				}
			}
		}
		label = func(k string) string {
			for _, cd := range counted {
				if s, ok := cd.State(k); ok {
					return s.Title.In(en)
				}
			}
			return k
		}
	case "year":
		label = func(k string) string {
			if en {
				return k
			}
			return k + " 年"
		}
	default:
		for _, cd := range counted {
			s, err := parseSchema(cd.FormJSON)
			if err != nil {
				continue
			}
			for _, prop := range s.Properties {
				if prop.Name != by {
					continue
				}
				for i, e := range prop.Schema.Enum {
					order[fmt.Sprint(e)] = i
				}
				fs := prop.Schema
				label = func(k string) string { return fs.enumTitle(en, k) }
				fieldTitle = func(name string) string { return fs.title(en, name) }
			}
			if len(order) > 0 {
				break
			}
		}
	}
	sort.SliceStable(keys, func(i, j int) bool {
		oi, iok := order[keys[i]]
		oj, jok := order[keys[j]]
		switch {
		case iok && jok:
			return oi < oj
		case iok != jok:
			return iok
		}
		return keys[i] < keys[j]
	})
	b := breakdownView{ID: "plan-" + strings.ReplaceAll(v.Key, "_", "-"), Title: v.Title.In(en), Unit: v.Unit.In(en), By: byWords(by, fieldTitle, en)}
	var parts []chart.Part
	total := 0.0
	for _, k := range keys {
		total += v.By[k]
	}
	for _, k := range keys {
		n := cents(v.By[k])
		parts = append(parts, chart.Part{Label: label(k), Value: n})
		row := partRow{Label: label(k), Value: number(n)}
		if total > 0 {
			row.Share = strconv.FormatFloat(math.Round(v.By[k]/total*1000)/10, 'f', -1, 64) + "%"
		}
		b.Parts = append(b.Parts, row)
	}
	b.Total = number(cents(total))
	b.Chart = chart.Breakdown(b.ID+"-chart", b.Title, pick(en, b.By+"，合计 "+b.Total+" "+b.Unit, b.By+", total "+b.Total+" "+b.Unit), b.Unit, parts)
	return b
}

// cents rounds money to the fen, as the API does, and leaves counts whole.
func cents(v float64) float64 { return math.Round(v*100) / 100 }
