package engine

import (
	"context"
	"time"

	"github.com/sciflow/sciflow/internal/errs"
)

// RunTimers fires every timer due by asOf as the system, each in its own
// transaction, and returns how many fired. It is what `sciflow timers run`
// does; in a server, river wakes RunTimer for each timer when it falls due.
func (e *Engine) RunTimers(ctx context.Context, asOf time.Time) (int, error) {
	fired := 0
	for {
		due, err := e.db.DueTimers(ctx, asOf, 100)
		if err != nil {
			return fired, err
		}
		if len(due) == 0 {
			return fired, nil
		}
		for _, t := range due {
			ok, err := e.RunTimer(ctx, t.ID)
			if err != nil {
				return fired, err
			}
			if ok {
				fired++
			}
		}
	}
}

// RunTimer fires one timer's event, once: the timer row, locked and marked
// done in the transaction that fires, turns a second run (another server,
// a retried job, the command line) into nothing. A timer whose application
// has left the state entry it was set for is void and only marked done; one
// whose event is refused (a guard, say) is marked done too and logged, so a
// bad timer cannot block the others.
func (e *Engine) RunTimer(ctx context.Context, id int64) (bool, error) {
	tx, err := e.db.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	t, err := tx.Timer(ctx, id)
	if err != nil {
		return false, err
	}
	// Lock order as every move has it: the application, then its timers.
	app, err := tx.LockApplication(ctx, nil, t.ApplicationID)
	if err != nil {
		return false, err
	}
	if t, err = tx.LockTimer(ctx, id); err != nil {
		return false, err
	}
	if t.DoneAt.Valid {
		return false, nil
	}
	fired := false
	current := app.State == t.State && (!t.EnteredAt.Valid || app.StateEnteredAt.Equal(t.EnteredAt.Time))
	if current {
		if _, err := e.fire(ctx, tx, nil, app, FireInput{Event: t.Event}, fireOpts{}); err != nil {
			if errs.CodeOf(err) == errs.Internal {
				// The database failed (a deadlock, a lost connection, a
				// timeout), not the rules: the job tries again later.
				return false, err
			}
			e.log.Warn("timer event refused", "application_id", app.ID, "event", t.Event, "err", err)
			// Undo the attempt but keep the queue moving: mark it done in a
			// fresh transaction.
			tx.Rollback()
			return false, e.finishTimer(ctx, id)
		}
		fired = true
	}
	if err := tx.FinishTimer(ctx, id, e.Now()); err != nil {
		return false, err
	}
	return fired, tx.Commit()
}

func (e *Engine) finishTimer(ctx context.Context, id int64) error {
	tx, err := e.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := tx.FinishTimer(ctx, id, e.Now()); err != nil {
		return err
	}
	return tx.Commit()
}
