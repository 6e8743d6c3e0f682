package engine

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzCleanFileName: whatever name a client gives its file, the name kept
// is empty (and the upload refused) or one plain path element: UTF-8, at
// most 255 bytes, no separator of any system, not "." or "..", no control
// or bidirectional control character, no quote; and cleaning it again
// changes nothing.
func FuzzCleanFileName(f *testing.F) {
	for _, name := range []string{
		"报告.pdf", "../../etc/passwd", `..\..\windows\win.ini`, "/etc/shadow", `C:\Users\x\a.doc`, "..", ".", "/", "",
		"a\x00b", "evil\r\nSet-Cookie: x=1", "report\u202efdp.exe", "\u2067x\u2069", "tab\there", "\u0085\u009f", "\x7f",
		`x.pdf"; filename=evil.exe`, "bad\xffutf8", strings.Repeat("长", 100), strings.Repeat("a", 254) + "长",
		" .. ", ".\x00.", "a/\x00", "\u200f..\u200e",
		// Found by fuzzing: cut at 255 bytes just after a space, the name
		// ended with it.
		strings.Repeat("a", 254) + " b.pdf",
	} {
		f.Add(name)
	}
	f.Fuzz(func(t *testing.T, sent string) {
		name := cleanFileName(sent)
		if name == "" {
			return
		}
		if !utf8.ValidString(name) || len(name) > 255 {
			t.Fatalf("%q kept as %q: not UTF-8 or too long", sent, name)
		}
		if strings.ContainsAny(name, `/\"`) || name == "." || name == ".." {
			t.Fatalf("%q kept as %q: a path or a quote", sent, name)
		}
		for _, r := range name {
			if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
				t.Fatalf("%q kept as %q: holds %U", sent, name, r)
			}
		}
		if again := cleanFileName(name); again != name {
			t.Fatalf("%q kept as %q, then as %q", sent, name, again)
		}
	})
}
