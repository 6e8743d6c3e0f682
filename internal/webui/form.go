package webui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// schema is the part of a JSON Schema a form is drawn from. The validator
// (package workflow) remains the judge of what is valid; this only decides
// which inputs to show and how to read them back, so that a draft a browser
// sends is the same JSON a client of the API would send.
type schema struct {
	Type             any        `json:"type"`
	Title            string     `json:"title"`
	Description      string     `json:"description"`
	Format           string     `json:"format"`
	Pattern          string     `json:"pattern"`
	Enum             []any      `json:"enum"`
	Minimum          *float64   `json:"minimum"`
	Maximum          *float64   `json:"maximum"`
	ExclusiveMinimum *float64   `json:"exclusiveMinimum"`
	MultipleOf       *float64   `json:"multipleOf"`
	MaxLength        int        `json:"maxLength"`
	MaxItems         int        `json:"maxItems"`
	Items            *schema    `json:"items"`
	Properties       properties `json:"properties"`
	Required         []string   `json:"required"`
	// EnumTitles name an enum's values for people ("doctorate": "博士"); the
	// x- prefix keeps the keyword out of the validator's way.
	EnumTitles map[string]string `json:"x-enum-titles"`
	// English carries the English title, description and enum titles, for
	// the English pages.
	English *struct {
		Title       string            `json:"title"`
		Description string            `json:"description"`
		EnumTitles  map[string]string `json:"enum_titles"`
	} `json:"x-en"`
}

// property is one named property, in the order the schema lists it: a form
// follows its author's order, which a Go map would lose.
type property struct {
	Name   string
	Schema *schema
}

type properties []property

func (ps *properties) UnmarshalJSON(raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("properties: want an object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("properties: %w", err)
		}
		name, _ := t.(string)
		var s schema
		if err := dec.Decode(&s); err != nil {
			return fmt.Errorf("property %s: %w", name, err)
		}
		*ps = append(*ps, property{Name: name, Schema: &s})
	}
	return nil
}

func parseSchema(raw []byte) (*schema, error) {
	if len(raw) == 0 {
		return &schema{}, nil
	}
	var s schema
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("parse form schema: %w", err)
	}
	return &s, nil
}

func (s *schema) typ() string {
	switch t := s.Type.(type) {
	case string:
		return t
	case []any:
		for _, x := range t {
			if x != "null" {
				return fmt.Sprint(x)
			}
		}
	}
	if len(s.Enum) > 0 {
		if _, ok := s.Enum[0].(float64); ok {
			return "number"
		}
		return "string"
	}
	return "string"
}

func (s *schema) title(en bool, fallback string) string {
	if en && s.English != nil && s.English.Title != "" {
		return s.English.Title
	}
	if s.Title != "" {
		return s.Title
	}
	return fallback
}

func (s *schema) hint(en bool) string {
	if en && s.English != nil && s.English.Description != "" {
		return s.English.Description
	}
	return s.Description
}

func (s *schema) enumTitle(en bool, v string) string {
	if en && s.English != nil && s.English.EnumTitles[v] != "" {
		return s.English.EnumTitles[v]
	}
	if t := s.EnumTitles[v]; t != "" {
		return t
	}
	return v
}

// Input kinds a template knows how to draw.
const (
	inputText     = "text"
	inputTextarea = "textarea"
	inputNumber   = "number"
	inputDate     = "date"
	inputCheckbox = "checkbox"
	inputSelect   = "select"
	inputChoices  = "choices" // several of an enum: a checkbox each
	inputRows     = "rows"    // a list of objects: a table of rows
	inputLines    = "lines"   // a list of scalars: one per line
)

// field is one input of a drawn form.
type field struct {
	Name     string // the input's name and its error's key: data.team.0.name
	ID       string
	Label    string
	Hint     string
	Input    string
	Required bool
	Value    string
	// Shown is the value as a page shows it read only: an option's label,
	// 是/否, an amount with separators.
	Shown    string
	Values   map[string]bool // chosen options of a choices input
	Options  []option
	Min, Max string
	Step     string
	MaxLen   int
	Mode     string // inputmode: numeric, decimal, tel
	Error    string
	// Columns and Rows draw a list of objects; Spare rows are blank ones to
	// fill in without script.
	Columns []string
	Rows    [][]field
	MaxRows int
}

type option struct {
	Value, Label string
}

// formSpec says how to draw a form.
type formSpec struct {
	Prefix string // error keys and names start with it: "data"
	// IDPrefix keeps element ids apart when a page has several forms.
	IDPrefix string
	En       bool
	// Skip are fields the user may not write (the ones events fill in).
	Skip map[string]bool
	// Options replace a field's free input by a choice (a challenge to take).
	Options map[string][]option
	// SpareRows is how many blank rows a list of objects shows.
	SpareRows int
}

// fields draws the properties of s with values from data and messages from
// errors (keyed like the API's fields).
func (spec formSpec) fields(s *schema, data map[string]any, errors map[string]string) []field {
	required := map[string]bool{}
	for _, r := range s.Required {
		required[r] = true
	}
	var out []field
	for _, p := range s.Properties {
		if spec.Skip[p.Name] {
			continue
		}
		name := spec.Prefix + "." + p.Name
		f := spec.field(name, p.Name, p.Schema, data[p.Name], required[p.Name], errors)
		if opts, ok := spec.Options[p.Name]; ok {
			f.Input, f.Options, f.Mode, f.Min, f.Max, f.Step = inputSelect, opts, "", "", "", ""
			f.Shown = spec.shown(f, p.Schema)
		}
		out = append(out, f)
	}
	return out
}

func (spec formSpec) field(name, key string, s *schema, v any, required bool, errors map[string]string) field {
	f := field{Name: name, ID: spec.IDPrefix + "-" + strings.NewReplacer(".", "-", "_", "-").Replace(name), Label: s.title(spec.En, key),
		Hint: s.hint(spec.En), Required: required, Error: errors[name], MaxLen: s.MaxLength}
	switch t := s.typ(); {
	case len(s.Enum) > 0:
		f.Input = inputSelect
		for _, e := range s.Enum {
			f.Options = append(f.Options, option{Value: fmt.Sprint(e), Label: s.enumTitle(spec.En, fmt.Sprint(e))})
		}
		f.Value = scalarText(v)
	case t == "boolean":
		f.Input = inputCheckbox
		f.Value = scalarText(v)
	case t == "number" || t == "integer":
		f.Input, f.Mode, f.Value = inputNumber, "decimal", scalarText(v)
		f.Step = "any"
		if t == "integer" {
			f.Step, f.Mode = "1", "numeric"
		} else if s.MultipleOf != nil {
			f.Step = strconv.FormatFloat(*s.MultipleOf, 'f', -1, 64)
		}
		if s.Minimum != nil {
			f.Min = strconv.FormatFloat(*s.Minimum, 'f', -1, 64)
		}
		if s.Maximum != nil {
			f.Max = strconv.FormatFloat(*s.Maximum, 'f', -1, 64)
		}
	case t == "array" && s.Items != nil && s.Items.typ() == "object":
		f.Input, f.MaxRows = inputRows, s.MaxItems
		rows, _ := v.([]any)
		blank := spec.SpareRows
		if len(rows) == 0 && blank == 0 {
			blank = 1
		}
		for i := 0; i < len(rows)+blank; i++ {
			if f.MaxRows > 0 && i >= f.MaxRows {
				break
			}
			var row map[string]any
			if i < len(rows) {
				row, _ = rows[i].(map[string]any)
			}
			sub := formSpec{Prefix: fmt.Sprintf("%s.%d", name, i), IDPrefix: spec.IDPrefix, En: spec.En}
			f.Rows = append(f.Rows, sub.fields(s.Items, row, errors))
		}
		for _, p := range s.Items.Properties {
			f.Columns = append(f.Columns, p.Schema.title(spec.En, p.Name))
		}
		// An error on the list itself (too few rows) or on a row as a whole.
		for k, msg := range errors {
			if strings.HasPrefix(k, name+".") && strings.Count(k[len(name)+1:], ".") == 0 && f.Error == "" {
				f.Error = msg
			}
		}
	case t == "array" && s.Items != nil && len(s.Items.Enum) > 0:
		f.Input, f.Values = inputChoices, map[string]bool{}
		for _, e := range s.Items.Enum {
			f.Options = append(f.Options, option{Value: fmt.Sprint(e), Label: s.Items.enumTitle(spec.En, fmt.Sprint(e))})
		}
		list, _ := v.([]any)
		for _, x := range list {
			f.Values[fmt.Sprint(x)] = true
		}
	case t == "array":
		f.Input = inputLines
		list, _ := v.([]any)
		lines := make([]string, len(list))
		for i, x := range list {
			lines[i] = scalarText(x)
		}
		f.Value = strings.Join(lines, "\n")
	case s.Format == "date":
		f.Input, f.Value = inputDate, scalarText(v)
	case s.MaxLength > 200 || s.MaxLength == 0 && s.Format == "" && s.Pattern == "":
		// Long or unbounded free text; a code, a number or a phone with
		// its own format stays on one line.
		f.Input, f.Value = inputTextarea, scalarText(v)
	default:
		f.Input, f.Value = inputText, scalarText(v)
		switch s.Format {
		case "phone":
			f.Mode = "tel"
		case "resident-id", "credit-code":
			f.Mode = "text"
		}
	}
	f.Shown = spec.shown(f, s)
	return f
}

func (spec formSpec) shown(f field, s *schema) string {
	switch {
	case f.Value == "":
		return ""
	case f.Input == inputSelect:
		for _, o := range f.Options {
			if o.Value == f.Value {
				return o.Label
			}
		}
	case f.Input == inputCheckbox && f.Value == "true":
		return pick(spec.En, "是", "Yes")
	case f.Input == inputCheckbox:
		return pick(spec.En, "否", "No")
	case f.Input == inputNumber && s.MultipleOf != nil && *s.MultipleOf == 0.01:
		if n, err := strconv.ParseFloat(f.Value, 64); err == nil {
			return money(n)
		}
	}
	return f.Value
}

// filled reports whether any field of a row holds a value.
func filled(row []field) bool {
	for _, f := range row {
		if f.Value != "" || len(f.Values) > 0 {
			return true
		}
	}
	return false
}

// scalarText shows a stored value in an input: numbers without exponent or
// trailing zeros (12345.6, not 1.23456e+04).
func scalarText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	return fmt.Sprint(v)
}

// readForm turns posted values back into the JSON the schema describes.
// Empty inputs are left out (or, with clear, set to null so that a merge
// patch removes what the user erased). A number that does not parse is kept
// as the text typed, so the validator names the field and the page shows
// the text again.
func (spec formSpec) readForm(s *schema, form url.Values, clear bool) map[string]any {
	out := map[string]any{}
	for _, p := range s.Properties {
		if spec.Skip[p.Name] {
			continue
		}
		name := spec.Prefix + "." + p.Name
		v, ok := readValue(name, p.Schema, form)
		switch {
		case ok:
			out[p.Name] = v
		case clear:
			out[p.Name] = nil
		}
	}
	return out
}

func readValue(name string, s *schema, form url.Values) (any, bool) {
	t := s.typ()
	switch {
	case t == "array" && s.Items != nil && s.Items.typ() == "object":
		var rows []any
		for _, i := range rowIndexes(name, form) {
			sub := formSpec{Prefix: fmt.Sprintf("%s.%d", name, i)}
			row := sub.readForm(s.Items, form, false)
			if len(row) > 0 {
				rows = append(rows, row)
			}
		}
		// No row filled in: the list is left out (a draft may lack it;
		// submitting names it as required).
		if len(rows) == 0 {
			return nil, false
		}
		return rows, true
	case t == "array" && s.Items != nil && len(s.Items.Enum) > 0:
		_, shown := form[name+".shown"]
		picked := form[name]
		if !shown && len(picked) == 0 {
			return nil, false
		}
		list := make([]any, 0, len(picked))
		for _, x := range picked {
			list = append(list, typed(s.Items, x))
		}
		return list, true
	case t == "array":
		text := strings.TrimSpace(form.Get(name))
		if text == "" {
			return nil, false
		}
		var list []any
		for _, line := range strings.Split(text, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				list = append(list, typed(s.Items, line))
			}
		}
		return list, true
	case t == "boolean":
		if _, shown := form[name+".shown"]; !shown && !form.Has(name) {
			return nil, false
		}
		return form.Get(name) == "true", true
	}
	text := strings.TrimSpace(form.Get(name))
	if text == "" {
		return nil, false
	}
	return typed(s, text), true
}

// typed reads text as the schema's type, or leaves it text for the
// validator to refuse.
func typed(s *schema, text string) any {
	if s == nil {
		return text
	}
	switch s.typ() {
	case "number":
		// People write amounts with thousands separators.
		if f, err := strconv.ParseFloat(strings.ReplaceAll(text, ",", ""), 64); err == nil {
			return f
		}
	case "integer":
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			return n
		}
	}
	return text
}

// rowIndexes are the row numbers posted for a list: name.N.field inputs.
func rowIndexes(name string, form url.Values) []int {
	seen := map[int]bool{}
	prefix := name + "."
	for k := range form {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		rest := k[len(prefix):]
		if i := strings.IndexByte(rest, '.'); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil && n >= 0 && n < 1000 {
				seen[n] = true
			}
		}
	}
	out := make([]int, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}
