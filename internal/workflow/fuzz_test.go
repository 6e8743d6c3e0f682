package workflow

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse feeds the loader arbitrary bytes: whatever a definition file
// holds, loading must end in a definition or problems, never a panic.
// `go test` runs the seeds; `go test -fuzz FuzzParse ./internal/workflow`
// explores further.
func FuzzParse(f *testing.F) {
	grant, err := os.ReadFile("testdata/valid/grant.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(grant, []byte(form))
	f.Add([]byte(base), []byte(form))
	f.Add([]byte("key: t\nstates: {a: {kind: edit}}\nevents: {e: {from: a, to: a}}"), []byte(`{"type":"object"}`))
	f.Add([]byte("- [\n"), []byte("{"))
	f.Add([]byte("key: &a [*a]\n"), []byte(`{"$ref": "#/x"}`))
	f.Fuzz(func(t *testing.T, def, formSrc []byte) {
		d, probs := Parse("f.yaml", def, func(name string) ([]byte, error) {
			if name == "t.form.json" || name == "grant.form.json" {
				return formSrc, nil
			}
			return nil, errors.New("no such file")
		})
		if d == nil && len(probs) == 0 {
			t.Fatal("neither a definition nor a problem")
		}
		if d != nil && len(probs) > 0 {
			t.Fatal("a definition despite problems")
		}
		for _, p := range probs {
			if p.Line < 0 {
				t.Fatalf("negative line in %v", p)
			}
		}
	})
}
