package workflow

import (
	"slices"
	"strings"
)

// Personal data: a form marks the fields that identify or reach a person
// (a name, an ID number, a phone) with "x-personal": true, on the property's
// schema, inside arrays of objects too. After the retention period those
// fields are what redaction removes, from the form and from the trail
// (engine.Redact); everything else (titles, amounts, dates, decisions)
// stays, for statistics and for the record of who decided what.

// personalFields lists the paths of the fields a form schema marks
// personal: "phone", or "team[].id_number" for a field of an array's items.
func personalFields(schema map[string]any) []string {
	var out []string
	var walk func(prefix string, s map[string]any)
	walk = func(prefix string, s map[string]any) {
		props, _ := s["properties"].(map[string]any)
		for name, v := range props {
			field, _ := v.(map[string]any)
			if field == nil {
				continue
			}
			if field["x-personal"] == true {
				out = append(out, prefix+name)
				continue
			}
			walk(prefix+name+".", field)
			if items, _ := field["items"].(map[string]any); items != nil {
				walk(prefix+name+"[].", items)
			}
		}
	}
	walk("", schema)
	slices.Sort(out)
	return out
}

// RemovePersonal deletes the fields named by paths (personalFields' form)
// from data, in place, and returns the paths it found.
func RemovePersonal(data map[string]any, paths []string) []string {
	var removed []string
	for _, p := range paths {
		if removePath(data, p) {
			removed = append(removed, p)
		}
	}
	return removed
}

func removePath(data map[string]any, path string) bool {
	head, rest, nested := strings.Cut(path, ".")
	if !nested {
		_, ok := data[head]
		delete(data, head)
		return ok
	}
	if name, isArray := strings.CutSuffix(head, "[]"); isArray {
		items, _ := data[name].([]any)
		removed := false
		for _, it := range items {
			if m, ok := it.(map[string]any); ok && removePath(m, rest) {
				removed = true
			}
		}
		return removed
	}
	m, _ := data[head].(map[string]any)
	return m != nil && removePath(m, rest)
}
