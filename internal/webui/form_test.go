package webui

import (
	"net/url"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func jiebangSchema(t *testing.T) *schema {
	t.Helper()
	raw, err := os.ReadFile("../../workflows/jiebang.form.json")
	require.NoError(t, err)
	s, err := parseSchema(raw)
	require.NoError(t, err)
	return s
}

func TestFormKeepsTheSchemasOrder(t *testing.T) {
	s := jiebangSchema(t)
	var names []string
	for _, p := range s.Properties[:5] {
		names = append(names, p.Name)
	}
	require.Equal(t, []string{"challenge", "title", "credit_code", "legal_rep", "contact_name"}, names)
}

func TestFormDrawsInputsByType(t *testing.T) {
	s := jiebangSchema(t)
	spec := formSpec{Prefix: "data", IDPrefix: "x", Skip: map[string]bool{"amount": true}, SpareRows: 1}
	data := map[string]any{"budget": 1234567.5, "team": []any{map[string]any{"name": "周工"}}}
	fields := spec.fields(s, data, map[string]string{"data.team.0.id_number": "校验位不正确", "data.budget": "应大于 0"})
	byName := map[string]field{}
	for _, f := range fields {
		byName[f.Name] = f
	}
	require.NotContains(t, byName, "data.amount", "fields events fill in are not drawn")
	require.Equal(t, inputNumber, byName["data.budget"].Input)
	require.Equal(t, "1234567.5", byName["data.budget"].Value, "no exponent, no trailing zeros")
	require.Equal(t, "1,234,567.50", byName["data.budget"].Shown)
	require.Equal(t, "0.01", byName["data.budget"].Step)
	require.Equal(t, "应大于 0", byName["data.budget"].Error)
	require.Equal(t, inputDate, byName["data.start_date"].Input)
	require.Equal(t, inputTextarea, byName["data.plan"].Input)
	require.True(t, byName["data.title"].Required)
	require.False(t, byName["data.field"].Required)

	team := byName["data.team"]
	require.Equal(t, inputRows, team.Input)
	require.Len(t, team.Rows, 2, "the row filled in and a spare")
	require.Equal(t, "data.team.0.id_number", team.Rows[0][1].Name)
	require.Equal(t, "x-data-team-0-id-number", team.Rows[0][1].ID)
	require.Equal(t, "校验位不正确", team.Rows[0][1].Error, "a row's field error sits beside that field")
	require.Equal(t, "周工", team.Rows[0][0].Value)
	require.Equal(t, "", team.Rows[1][0].Value)
}

func TestFormReadsWhatWasPosted(t *testing.T) {
	s := jiebangSchema(t)
	spec := formSpec{Prefix: "data", Skip: map[string]bool{"amount": true}}
	form := url.Values{
		"data.title":                {"  船用复合材料  "},
		"data.budget":               {"1,200,000.50"},
		"data.self_funding":         {"一百万"},
		"data.team.shown":           {"1"},
		"data.team.0.name":          {"周工"},
		"data.team.0.id_number":     {"11010519491231002X"},
		"data.team.1.name":          {""}, // the spare row, left blank
		"data.team.2.name":          {"冉工"},
		"data.milestones.shown":     {"1"},
		"data.milestones.0.due":     {""},
		"data.amount":               {"99999999"},
		"data.start_date":           {""},
		"data.midterm_passed":       {"true"},
		"data.midterm_passed.shown": {"1"},
	}
	got := spec.readForm(s, form, false)
	require.Equal(t, "船用复合材料", got["title"])
	require.Equal(t, 1200000.5, got["budget"], "thousands separators are read")
	require.Equal(t, "一百万", got["self_funding"], "text that is no number goes to the validator as typed")
	require.Equal(t, []any{map[string]any{"name": "周工", "id_number": "11010519491231002X"}, map[string]any{"name": "冉工"}},
		got["team"], "blank rows are dropped and the rest close up")
	require.NotContains(t, got, "milestones", "a list with no row filled in is left out of a draft")
	require.NotContains(t, got, "amount", "a field only events write is never read from a form")
	require.NotContains(t, got, "start_date")
	require.Equal(t, true, got["midterm_passed"])

	patch := spec.readForm(s, url.Values{"data.title": {"新名称"}}, true)
	require.Contains(t, patch, "start_date")
	require.Nil(t, patch["start_date"], "a patch removes what the user emptied")
}

func TestMoney(t *testing.T) {
	for in, want := range map[float64]string{0: "0.00", 5: "5.00", 1234.5: "1,234.50", 1000000: "1,000,000.00", -2500.25: "-2,500.25"} {
		require.Equal(t, want, money(in))
	}
}

func TestLocalPathKeepsRedirectsOnSite(t *testing.T) {
	for in, want := range map[string]string{"/apps/1": "/apps/1", "//evil.example/": "/", "https://evil.example": "/",
		`/\evil.example`: "/", "": "/"} {
		require.Equal(t, want, localPath(in), in)
	}
}
