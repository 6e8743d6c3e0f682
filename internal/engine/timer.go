package engine

import (
	"context"
	"time"
)

// RunTimers fires every timer due by asOf as the system, each in its own
// transaction, and returns how many fired. A timer whose application has
// left the state it was set for is void and only marked done; one whose
// event is refused (a guard, say) is marked done too and logged, so a bad
// timer cannot block the queue.
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
			ok, err := e.runTimer(ctx, t.ID, t.ApplicationID, t.State, t.Event)
			if err != nil {
				return fired, err
			}
			if ok {
				fired++
			}
		}
	}
}

func (e *Engine) runTimer(ctx context.Context, id int64, appID, state, event string) (bool, error) {
	tx, err := e.db.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	app, err := tx.LockApplication(ctx, nil, appID)
	if err != nil {
		return false, err
	}
	fired := false
	if app.State == state {
		if _, err := e.fire(ctx, tx, nil, app, FireInput{Event: event}); err != nil {
			e.log.Warn("timer event refused", "application_id", appID, "event", event, "err", err)
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
