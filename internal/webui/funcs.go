package webui

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sciflow/sciflow/internal/errs"
)

// funcs are the template functions every page may use.
var funcs = template.FuncMap{
	// t picks the Chinese or English text.
	"t": func(en bool, zh, english string) string { return errs.Text{Zh: zh, En: english}.In(en) },
	// tx picks from a definition's bilingual text.
	"tx": func(en bool, t errs.Text) string { return t.In(en) },
	// field passes one form field's error to the field-error template.
	"field": func(errors map[string]string, name string) map[string]any {
		return map[string]any{"Errors": errors, "Name": name}
	},
	// with2 passes the page and one item to a shared template.
	"pair": func(page pageData, item any) map[string]any { return map[string]any{"P": page, "X": item} },
	"when": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			return localTime(v)
		case *time.Time:
			if v != nil {
				return localTime(*v)
			}
		}
		return ""
	},
	"day": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			return localTime(v)[:10]
		case *time.Time:
			if v != nil {
				return localTime(*v)[:10]
			}
		}
		return ""
	},
	"money":     money,
	"filled":    filled,
	"add":       func(a, b int) int { return a + b },
	"join":      strings.Join,
	"hasPrefix": strings.HasPrefix,
}

// money shows an amount of yuan with thousands separators and two decimals
// (1,234,567.50); a value that is not a number is shown as it is.
func money(v any) string {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case *float64:
		if x == nil {
			return ""
		}
		f = *x
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	default:
		return fmt.Sprint(v)
	}
	neg := f < 0
	s := strconv.FormatFloat(math.Abs(f), 'f', 2, 64)
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	out := b.String() + "." + frac
	if neg {
		out = "-" + out
	}
	return out
}
