package workflow

import (
	"fmt"
	"slices"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
)

// Guard is a condition an event needs, compiled once at load.
type Guard struct {
	Source  string
	Message Text
	// Field names the input at fault when the guard fails ("data.budget").
	Field string
	// Conflict makes a failure a 409 (the state of something else forbids
	// it: a challenge no longer open) instead of a 422 (the input is wrong).
	Conflict bool
	// UsesEvent is set when the guard reads the event's payload, which is
	// only known when the event is actually fired.
	UsesEvent bool
	// Aggregates are the named aggregates it reads (agg.NAME); reading them
	// costs queries, so they are computed only when an event is fired.
	Aggregates []string
	// UsesRef is set when it reads the referenced application (ref).
	UsesRef bool
	program *vm.Program
}

// Deferred reports whether the guard can only be judged when the event is
// really fired (it reads the payload, an aggregate or the referenced
// application), not when listing the actions a caller may take.
func (g *Guard) Deferred() bool { return g.UsesEvent || len(g.Aggregates) > 0 || g.UsesRef }

// Env is everything a guard expression can read.
type Env struct {
	// Data is the application's form data.
	Data map[string]any `expr:"data"`
	// Event is the payload of the event being fired.
	Event map[string]any `expr:"event"`
	// Parent is the parent application, for child workflows.
	Parent *ParentEnv `expr:"parent"`
	// Ref is the application this one refers to (a challenge applied for).
	Ref *ParentEnv `expr:"ref"`
	// Agg holds the definition's named aggregates the guard reads.
	Agg   map[string]float64 `expr:"agg"`
	Actor ActorEnv           `expr:"actor"`
	App   AppEnv             `expr:"app"`
	Now   time.Time          `expr:"now"`
}

// ActorEnv is the person firing the event.
type ActorEnv struct {
	ID       string   `expr:"id"`
	Username string   `expr:"username"`
	OrgID    string   `expr:"org_id"`
	Roles    []string `expr:"roles"`
}

// AppEnv is the application itself.
type AppEnv struct {
	ID    string `expr:"id"`
	State string `expr:"state"`
	OrgID string `expr:"org_id"`
	// OrgParentID is the applicant organisation's recommending unit; empty
	// when it has none (its unit review is skipped, say).
	OrgParentID string    `expr:"org_parent_id"`
	ApplicantID string    `expr:"applicant_id"`
	Version     int       `expr:"version"`
	CreatedAt   time.Time `expr:"created_at"`
}

// ParentEnv is the parent (or referenced) application as guards see it.
type ParentEnv struct {
	State string         `expr:"state"`
	Data  map[string]any `expr:"data"`
}

// Check runs the guard. An expression that fails at run time (a missing
// field compared with a number, say) counts as not satisfied: a guard must
// prove the condition, not merely fail to disprove it.
func (g *Guard) Check(env Env) (bool, error) {
	out, err := expr.Run(g.program, env)
	if err != nil {
		return false, fmt.Errorf("guard %q: %w", g.Source, err)
	}
	ok, _ := out.(bool)
	return ok, nil
}

// fieldRefs collects, while an expression compiles, every path it reads
// under data, event and parent, so the loader can check them against the
// schemas.
type fieldRefs struct {
	paths [][]string // e.g. ["data", "budget"]
	roots map[string]bool
}

func (f *fieldRefs) Visit(node *ast.Node) {
	if id, ok := (*node).(*ast.IdentifierNode); ok {
		if f.roots == nil {
			f.roots = map[string]bool{}
		}
		f.roots[id.Value] = true
		return
	}
	m, ok := (*node).(*ast.MemberNode)
	if !ok {
		return
	}
	path := memberPath(m)
	if len(path) > 1 {
		f.paths = append(f.paths, path)
	}
}

// memberPath turns data.a.b (nested member nodes) into [data a b]; it gives
// up (nil) on computed parts such as data[x].
func memberPath(n ast.Node) []string {
	switch m := n.(type) {
	case *ast.IdentifierNode:
		return []string{m.Value}
	case *ast.MemberNode:
		prop, ok := m.Property.(*ast.StringNode)
		if !ok {
			return nil
		}
		head := memberPath(m.Node)
		if head == nil {
			return nil
		}
		return append(head, prop.Value)
	}
	return nil
}

// compileGuard compiles src against Env, returning the program and the
// paths it reads.
func compileGuard(src string) (*vm.Program, *fieldRefs, error) {
	refs := &fieldRefs{}
	prog, err := expr.Compile(src, expr.Env(Env{}), expr.AsBool(), expr.Patch(refs))
	if err != nil {
		return nil, nil, err
	}
	return prog, refs, nil
}

// Computed is a data field an event sets from an expression (a tier from
// the credentials, the tranches of a grant).
type Computed struct {
	Field  string
	Source string
	// Aggregates are the named aggregates it reads; UsesRef is set when it
	// reads the application referred to.
	Aggregates []string
	UsesRef    bool
	program    *vm.Program
}

// Eval runs the expression; a failure means the field is not set.
func (c *Computed) Eval(env Env) (any, error) {
	out, err := expr.Run(c.program, env)
	if err != nil {
		return nil, fmt.Errorf("compute %s = %q: %w", c.Field, c.Source, err)
	}
	return out, nil
}

func compileComputed(src string) (*vm.Program, *fieldRefs, error) {
	refs := &fieldRefs{}
	prog, err := expr.Compile(src, expr.Env(Env{}), expr.Patch(refs))
	if err != nil {
		return nil, nil, err
	}
	return prog, refs, nil
}

// aggregateNames lists the agg.NAME a compiled expression reads.
func (f *fieldRefs) aggregateNames() []string {
	var out []string
	for _, p := range f.paths {
		if len(p) >= 2 && p[0] == "agg" && !slices.Contains(out, p[1]) {
			out = append(out, p[1])
		}
	}
	return out
}
