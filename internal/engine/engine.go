// Package engine runs workflow definitions against storage: it creates
// applications, fires events (one transaction each: lock, check roles and
// guards, move, record in the audit chain, queue side effects), and keeps
// every application on the definition version it started with.
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
	"github.com/sciflow/sciflow/internal/workflow"
)

// Engine is the workflow service.
type Engine struct {
	db    *postgres.DB
	chain *audit.Chain
	cal   *calendar.Calendar
	log   *slog.Logger
	// Now is the clock; tests move it.
	Now func() time.Time
	// SubmitGate, when set, may refuse an applicant's submission inside the
	// firing transaction (an account whose registration is unverified).
	SubmitGate func(ctx context.Context, tx *postgres.Tx, actor *identity.User) error
	// RetentionYears is how long a finished application keeps its personal
	// data (Redact); zero means DefaultRetentionYears.
	RetentionYears int
	// PlanMaxAge is how old the plan indicators PlanStats serves may be;
	// zero computes them for every request.
	PlanMaxAge time.Duration

	mu       sync.RWMutex
	current  map[string]*workflow.Definition // by key: what new applications start on
	versions map[versionKey]*workflow.Definition
}

type versionKey struct {
	key     string
	version int
}

// New makes an engine with no definitions; Sync adds them.
func New(db *postgres.DB, chain *audit.Chain, cal *calendar.Calendar, log *slog.Logger) *Engine {
	return &Engine{db: db, chain: chain, cal: cal, log: log, Now: time.Now,
		current: map[string]*workflow.Definition{}, versions: map[versionKey]*workflow.Definition{}}
}

// Sync stores each definition as an immutable version (a new one when its
// files changed, the existing one when they did not) and makes them the
// versions new applications start on. Running applications keep theirs.
func (e *Engine) Sync(ctx context.Context, defs []*workflow.Definition) error {
	for _, d := range defs {
		if err := e.syncOne(ctx, d); err != nil {
			return fmt.Errorf("store workflow %s: %w", d.Key, err)
		}
	}
	e.db.SetPublicStates(publicPairs(e.Workflows()))
	return nil
}

func (e *Engine) syncOne(ctx context.Context, d *workflow.Definition) error {
	tx, err := e.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	v, created, err := tx.EnsureWorkflowVersion(ctx, d.Key, d.Hash, d.Source)
	if err != nil {
		return err
	}
	if created {
		_, err := e.chain.Append(ctx, tx, audit.Entry{Kind: audit.KindWorkflow, Workflow: d.Key, WorkflowVersion: v,
			Subject: d.Key, Data: map[string]any{"hash": d.Hash}})
		if err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	d.Version = v
	e.mu.Lock()
	e.current[d.Key] = d
	e.versions[versionKey{d.Key, v}] = d
	e.mu.Unlock()
	if created {
		e.log.Info("workflow version stored", "workflow", d.Key, "version", v)
	}
	return nil
}

// Current is the definition new applications of key start on.
func (e *Engine) Current(key string) (*workflow.Definition, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	d, ok := e.current[key]
	return d, ok
}

// Workflows lists the current definitions, by key.
func (e *Engine) Workflows() []*workflow.Definition {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]*workflow.Definition, 0, len(e.current))
	for _, d := range e.current {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Definition returns a pinned version, rebuilding it from its stored source
// the first time it is needed.
func (e *Engine) Definition(ctx context.Context, key string, version int) (*workflow.Definition, error) {
	e.mu.RLock()
	d, ok := e.versions[versionKey{key, version}]
	e.mu.RUnlock()
	if ok {
		return d, nil
	}
	stored, err := e.db.WorkflowVersion(ctx, key, version)
	if err != nil {
		return nil, err
	}
	d, err = parseStored(stored)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.versions[versionKey{key, version}] = d
	e.mu.Unlock()
	return d, nil
}

// parseStored rebuilds a definition from the files stored with its version.
func parseStored(v postgres.WorkflowVersion) (*workflow.Definition, error) {
	var main string
	for name := range v.Source {
		if strings.HasSuffix(name, ".yaml") {
			main = name
		}
	}
	d, probs := workflow.Parse(main, v.Source[main], func(name string) ([]byte, error) {
		if src, ok := v.Source[path.Clean(name)]; ok {
			return src, nil
		}
		return nil, fmt.Errorf("%s is not part of the stored version", name)
	})
	if len(probs) > 0 {
		return nil, fmt.Errorf("stored workflow %s v%d no longer loads: %w", v.Key, v.Version, probs)
	}
	d.Version = v.Version
	return d, nil
}

// deadlineFor is when a stage's deadline falls, entered at.
func (e *Engine) deadlineFor(s *workflow.State, at time.Time) *time.Time {
	if s.Deadline == nil {
		return nil
	}
	t := e.cal.EndOfWorkingDays(at, s.Deadline.WorkingDays).Truncate(time.Microsecond)
	return &t
}

// enterState schedules what a state starts: its timer (replacing those of
// the state left behind) and, for a notice state, the public notice, whose
// period the timer ends. app is the application as it enters, its data
// included (a timer may fall due on a date the form gives).
func (e *Engine) enterState(ctx context.Context, tx *postgres.Tx, def *workflow.Definition, app postgres.Application, s *workflow.State, at time.Time) error {
	due := e.timerDue(s, app.Data, at)
	event := ""
	if s.Timer != nil {
		event = s.Timer.Event
	}
	if s.Kind == workflow.KindNotice && due != nil {
		ends, err := e.enterNotice(ctx, tx, def, app, s, *due, at)
		if err != nil {
			return err
		}
		due = &ends
	}
	return tx.ReplaceTimers(ctx, app.ID, s.Key, event, due, at)
}

func unknownWorkflow(key string) error {
	return errs.E(errs.NotFound, "未知的流程："+key, "unknown workflow: "+key)
}
