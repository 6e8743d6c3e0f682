package chart

import (
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// FormatNumber writes n the way amounts are read in the bureau's reports:
// thousands separated by commas, at most two decimals, and none for a whole
// number (1,234,567.5; 2,000). NaN and infinities, which no indicator should
// hold, come out as "—".
func FormatNumber(n float64) string {
	if math.IsNaN(n) || math.IsInf(n, 0) {
		return "—"
	}
	s := strconv.FormatFloat(n, 'f', 2, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	frac = strings.TrimRight(frac, "0")
	var b strings.Builder
	if neg && (strings.Trim(whole, "0") != "" || frac != "") { // not "-0"
		b.WriteByte('-')
	}
	for i, d := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	if frac != "" {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}

// FormatPercent writes a ratio as a percentage with at most one decimal,
// rounded down so that only a target reached reads 100%: 0.617 is "61.7%",
// 0.9999 is "99.9%", 1.35 is "135%".
func FormatPercent(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "—"
	}
	// The nudge keeps 0.617, held as 0.61699999..., from becoming 61.6.
	return FormatNumber(math.Floor(r*1000+1e-6)/10) + "%"
}

// textWidth estimates how wide s is set at size, as the workflow diagram
// does: a CJK character about as wide as the size, anything narrower about
// 0.6 of it (generous for digits, so numbers never run into each other).
func textWidth(s string, size float64) float64 {
	w := 0.0
	for _, r := range s {
		if r >= 0x1100 && r != '—' && r != '…' && r != '·' {
			w += size
		} else {
			w += 0.6 * size
		}
	}
	return w
}

// wrap breaks s into at most n lines no wider than w, between words where
// it has spaces and anywhere in Chinese, and says whether it had to cut the
// last line short with "…".
func wrap(s string, size, w float64, n int) (lines []string, cut bool) {
	s = strings.Join(strings.Fields(s), " ")
	for s != "" {
		if len(lines) == n-1 || textWidth(s, size) <= w {
			last := s
			if textWidth(s, size) > w {
				cut = true
				for textWidth(last+"…", size) > w && last != "" {
					_, l := utf8.DecodeLastRuneInString(last)
					last = last[:len(last)-l]
				}
				last = strings.TrimRight(last, " ") + "…"
			}
			return append(lines, last), cut
		}
		// The longest head of s that fits, moved back to a space if it
		// would otherwise split a word of Latin letters or digits.
		end, acc := 0, 0.0
		for i, r := range s {
			acc += textWidth(string(r), size)
			if acc > w {
				break
			}
			end = i + utf8.RuneLen(r)
		}
		if end == 0 { // not even one character fits: take one anyway
			_, end = utf8.DecodeRuneInString(s)
		}
		if splitsWord(s, end) {
			if sp := strings.LastIndexByte(s[:end], ' '); sp > 0 {
				end = sp
			}
		}
		lines = append(lines, strings.TrimRight(s[:end], " "))
		s = strings.TrimLeft(s[end:], " ")
	}
	return lines, false
}

// splitsWord says whether breaking s at i falls between two letters or
// digits of a Latin word (Chinese characters break anywhere).
func splitsWord(s string, i int) bool {
	if i <= 0 || i >= len(s) {
		return false
	}
	a, _ := utf8.DecodeLastRuneInString(s[:i])
	b, _ := utf8.DecodeRuneInString(s[i:])
	latin := func(r rune) bool { return r < 0x1100 && (unicode.IsLetter(r) || unicode.IsDigit(r)) }
	return latin(a) && latin(b)
}
