package workflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sciflow/sciflow/internal/errs"
)

// definitionSeeds are every definition the project has, shipped and test,
// each with its form: the fuzzers start from what is real.
func definitionSeeds(f *testing.F) (defs, forms [][]byte) {
	f.Helper()
	for _, dir := range []string{"../../workflows", "testdata/valid", "testdata/fourth"} {
		names, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil || len(names) == 0 {
			f.Fatalf("no definitions in %s: %v", dir, err)
		}
		for _, name := range names {
			def, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			form, err := os.ReadFile(strings.TrimSuffix(name, ".yaml") + ".form.json")
			if err != nil {
				f.Fatal(err)
			}
			defs, forms = append(defs, def), append(forms, form)
		}
	}
	return defs, forms
}

var hexHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

// aliasBomb is nine aliases of nine aliases, six deep: half a million
// nodes once expanded, from 300 bytes.
const aliasBomb = `a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
`

// TestAliasBombIsRefused: a definition whose aliases expand past any real
// one is refused before it is read (found by FuzzParse, where an event's
// payload of aliases took seconds per level to read), while the aliases
// real definitions use still load.
func TestAliasBombIsRefused(t *testing.T) {
	for _, src := range []string{
		aliasBomb + "key: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n",
		aliasBomb + "key: t\nevents: {e: {from: a, to: a, data: {type: object, properties: {x: *f}}}}\n",
	} {
		d, probs := Parse("bomb.yaml", []byte(src), func(string) ([]byte, error) { return []byte(form), nil })
		if d != nil || len(probs) != 1 || !strings.Contains(probs[0].Msg, "aliases are expanded") {
			t.Fatalf("not refused for its size: %v", probs)
		}
	}
	defs, err := LoadDir(os.DirFS("../../workflows"))
	if err != nil || len(defs) == 0 {
		t.Fatalf("the shipped definitions no longer load: %v", err)
	}
}

// FuzzParse feeds the loader arbitrary bytes as a definition and as its
// form: whatever the files hold, loading must end in a definition or
// problems, never a panic; the problems say where; and a definition that
// loads can be run (its machine built from every state, its diagram drawn,
// its form and payloads applied to data). `go test` runs the seeds;
// `go test -fuzz FuzzParse ./internal/workflow` explores further.
func FuzzParse(f *testing.F) {
	defs, forms := definitionSeeds(f)
	for i := range defs {
		f.Add(defs[i], forms[i])
	}
	f.Add([]byte(base), []byte(form))
	f.Add([]byte("key: t\nstates: {a: {kind: edit}}\nevents: {e: {from: a, to: a}}"), []byte(`{"type":"object"}`))
	f.Add([]byte("- [\n"), []byte("{"))
	f.Add([]byte("key: &a [*a]\n"), []byte(`{"$ref": "#/x"}`))
	// Hostile files (kept small: the fuzzer minimises what it finds from
	// them): nesting past the parsers' limits, an alias bomb, a form that
	// refers to itself, to the network and to the disk, a form named
	// outside the directory, bytes that are not text.
	f.Add([]byte("key: "+strings.Repeat("[", 10001)), []byte(strings.Repeat("[", 10001)))
	f.Add([]byte(aliasBomb+"key: t\nevents: {e: {from: a, to: a, data: {type: object, properties: {x: *f}}}}\n"), []byte(`{}`))
	f.Add([]byte("x: &x {type: object}\n"+base+"\n"), []byte(form))
	f.Add([]byte(base), []byte(`{"type": "object", "$ref": "#"}`))
	f.Add([]byte(base), []byte(`{"type": "object", "properties": {"a": {"$ref": "https://example.com/schema.json"}}}`))
	f.Add([]byte(base), []byte(`{"type": "object", "properties": {"a": {"$ref": "file:///etc/passwd"}}}`))
	f.Add([]byte(base), []byte(`{"type": "object", "properties": {"a": {"pattern": "(a+)+$"}}}`))
	f.Add([]byte(base), []byte(`{"type": "object", "properties": {"a": {"format": "no-such-format"}}}`))
	f.Add([]byte(base), []byte(`{"type": "object", "properties": `+strings.Repeat(`{"a": `, 1000)+"{}"+strings.Repeat("}", 1000)+"}"))
	f.Add([]byte(strings.Replace(base, "t.form.json", "../../../etc/passwd", 1)), []byte(form))
	f.Add([]byte("\xef\xbb\xbfkey: t\x00\xff\xfe"), []byte("\xff"))
	f.Fuzz(func(t *testing.T, def, formSrc []byte) {
		d, probs := Parse("f.yaml", def, func(name string) ([]byte, error) {
			// As LoadDir's fs.FS: nothing outside the directory.
			if !fs.ValidPath(name) {
				return nil, errors.New("invalid path")
			}
			return formSrc, nil
		})
		if d == nil && len(probs) == 0 {
			t.Fatal("neither a definition nor a problem")
		}
		if d != nil && len(probs) > 0 {
			t.Fatal("a definition despite problems")
		}
		for _, p := range probs {
			if p.Line < 0 || p.File == "" || p.Msg == "" {
				t.Fatalf("a problem that does not say where or what: %#v", p)
			}
		}
		if d == nil {
			return
		}
		if d.Key == "" || !hexHash.MatchString(d.Hash) {
			t.Fatalf("a definition without its key or hash: %q %q", d.Key, d.Hash)
		}
		if _, ok := d.State(d.Initial); !ok {
			t.Fatalf("initial state %q is not a state", d.Initial)
		}
		for _, st := range d.States {
			if m := d.Machine(st.Key); m.Current() != st.Key {
				t.Fatalf("machine in %s is in %s", st.Key, m.Current())
			}
			for _, ev := range d.EventsFrom(st.Key) {
				if _, ok := d.Event(ev.Key); !ok {
					t.Fatalf("event %s from %s is not an event", ev.Key, st.Key)
				}
			}
		}
		d.Diagram(false)
		d.Diagram(true)
		for _, mode := range []FormMode{Partial, Complete} {
			checkAnswer(t, Validate(d.Form, map[string]any{}, "data", mode))
			for _, ev := range d.Events {
				checkAnswer(t, Validate(ev.Data, map[string]any{}, "data", mode))
			}
		}
	})
}

// checkAnswer is what every validation must answer: nothing, or an
// invalid whose fields name where under data, each in both languages.
func checkAnswer(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	e := errs.As(err)
	if e == nil || e.Code != errs.Invalid {
		t.Fatalf("not an invalid: %v", err)
	}
	if len(e.Fields) == 0 {
		t.Fatalf("an invalid that names no field: %v", err)
	}
	for path, msg := range e.Fields {
		if path != "data" && !strings.HasPrefix(path, "data.") {
			t.Fatalf("field %q is not under data", path)
		}
		if msg.Zh == "" || msg.En == "" || !utf8.ValidString(msg.Zh) || !utf8.ValidString(msg.En) {
			t.Fatalf("field %q without a message in both languages: %#v", path, msg)
		}
	}
}

// FuzzValidate checks arbitrary JSON documents, as a client sends them,
// against every form and event payload of every definition the project
// has, in both modes: the validator must never panic, and must accept or
// answer an invalid that says where (see checkAnswer). The seeds are
// documents that fit, that almost fit, and that try the validator itself.
func FuzzValidate(f *testing.F) {
	defs, err := LoadDir(os.DirFS("../../workflows"))
	if err != nil {
		f.Fatal(err)
	}
	more, err := LoadDir(os.DirFS("testdata/valid"))
	if err != nil {
		f.Fatal(err)
	}
	fourth, err := LoadDir(os.DirFS("testdata/fourth"))
	if err != nil {
		f.Fatal(err)
	}
	var schemas []*jsonschema.Schema
	for _, d := range append(append(defs, more...), fourth...) {
		if d.Form != nil {
			schemas = append(schemas, d.Form)
		}
		for _, ev := range d.Events {
			if ev.Data != nil {
				schemas = append(schemas, ev.Data)
			}
		}
	}
	for _, seed := range []string{
		`{}`,
		`{"title": "茶叶深加工关键技术", "budget": 800000, "team": [{"name": "张三", "title": "高工"}], "start": "2026-05-01"}`,
		`{"title": "短", "budget": "lots", "team": [{}], "start": "2026-02-30"}`,
		`{"credit_code": "91350100M000100Y43", "id_number": "11010519491231002X", "phone": "13800138000"}`,
		`{"credit_code": "91350100M000100Y44", "id_number": "110105194912310020", "phone": "1"}`,
		`{"amount": 1e400, "budget": -0, "year": 2026.5, "revenue": 1e-400}`,
		`{"amount": 123456789012345678901234567890, "budget": 9007199254740993}`,
		`{"title": null, "team": null, "start": null, "unknown": {"deep": [1, 2, 3]}}`,
		`{"title": "` + strings.Repeat("长", 300) + `"}`,
		`{"team": [` + strings.Repeat(`{"name": "x"},`, 50) + `{"name": "y"}]}`,
		`{"extra": ` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`,
		`{"title": "<script>alert(1)</script>'; DROP TABLE applications;--", "summary": "%_\\"}`,
		`{"title": "a\u0000b\ud800", "\u202e": "\u0000"}`,
		`{"tier": "excellent", "tier_reason": "", "degree": "doctorate", "professional_title": "senior"}`,
		`{"tranche": 1, "amount": 100000, "paid_on": "2026-01-01"}`,
		`[]`, `"x"`, `null`, `1`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		// As bind decodes a body: anything that is not a JSON object
		// never reaches the validator.
		var data map[string]any
		dec := json.NewDecoder(bytes.NewReader(raw))
		if err := dec.Decode(&data); err != nil || data == nil {
			return
		}
		for _, sch := range schemas {
			checkAnswer(t, Validate(sch, data, "data", Partial))
			checkAnswer(t, Validate(sch, data, "data", Complete))
		}
	})
}
