package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/postgres"
	"github.com/sciflow/sciflow/internal/workflow"
)

// Move is one application moved, or to be moved, to another version.
type Move struct {
	ApplicationID string
	FromVersion   int
	FromState     string
	ToState       string
}

// MigrateVersion moves every running (non-terminal) application of key onto
// version to, renaming states by stateMap where the new version calls them
// something else. It checks everything before moving anything, moves all
// in one transaction, and records each move in the application's history.
// With dryRun it only reports what it would do.
func (e *Engine) MigrateVersion(ctx context.Context, key string, to int, stateMap map[string]string, dryRun bool) ([]Move, error) {
	target, err := e.Definition(ctx, key, to)
	if errs.CodeOf(err) == errs.NotFound {
		return nil, fmt.Errorf("workflow %s has no version %d", key, to)
	}
	if err != nil {
		return nil, err
	}
	tx, err := e.db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	ids, err := tx.RunningApplications(ctx, key, to)
	if err != nil {
		return nil, err
	}
	type pending struct {
		app  postgres.Application
		move Move
	}
	var todo []pending
	var problems []string
	for _, id := range ids {
		app, err := tx.LockApplication(ctx, nil, id)
		if err != nil {
			return nil, err
		}
		from, err := e.Definition(ctx, key, app.WorkflowVersion)
		if err != nil {
			return nil, err
		}
		if st, ok := from.State(app.State); ok && st.Kind == workflow.KindTerminal {
			continue // finished applications keep the version they finished on
		}
		newState := app.State
		if mapped, ok := stateMap[app.State]; ok {
			newState = mapped
		}
		if _, ok := target.State(newState); !ok {
			problems = append(problems, fmt.Sprintf("%s is in state %q, which version %d does not have (map it with --map %s=NEW)",
				app.ID, app.State, to, app.State))
			continue
		}
		todo = append(todo, pending{app, Move{app.ID, app.WorkflowVersion, app.State, newState}})
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, fmt.Errorf("nothing moved: %s", strings.Join(problems, "; "))
	}
	moves := make([]Move, 0, len(todo))
	for _, p := range todo {
		moves = append(moves, p.move)
	}
	if dryRun {
		return moves, nil
	}
	now := e.Now()
	for _, p := range todo {
		hist, err := tx.History(ctx, p.app.ID)
		if err != nil {
			return nil, err
		}
		changed := p.move.ToState != p.app.State
		toState, _ := target.State(p.move.ToState)
		c := postgres.ApplicationChange{ID: p.app.ID, Version: p.app.Version, State: p.move.ToState, StateChanged: changed,
			Data: p.app.Data, Submitted: p.app.SubmittedAt != nil, WorkflowVersion: to, PartyOrgID: p.app.PartyOrgID, At: now}
		if changed {
			c.Deadline = e.deadlineFor(toState, now)
		}
		if err := tx.UpdateApplication(ctx, c); err != nil {
			return nil, err
		}
		if changed {
			moved := p.app
			moved.State = p.move.ToState
			if err := e.enterState(ctx, tx, target, moved, toState, now); err != nil {
				return nil, err
			}
		}
		_, err = e.chain.Append(ctx, tx, audit.Entry{Kind: audit.KindTransition, AtMicros: now.UnixMicro(),
			ApplicationID: p.app.ID, AppSeq: len(hist) + 1, Workflow: key, WorkflowVersion: to, Event: audit.KindMigrate,
			From: p.app.State, To: p.move.ToState,
			Data: map[string]any{"from_version": p.move.FromVersion, "to_version": to}})
		if err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return moves, nil
}
