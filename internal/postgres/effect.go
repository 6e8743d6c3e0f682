package postgres

import (
	"context"
	"database/sql"
	"time"

	"github.com/riverqueue/river"
)

// ReplaceTimers ends the application's pending timers and, when due is set,
// schedules event for when it falls due in state: a timers row (which makes
// it fire once) and a river job to wake a server then, both in the
// transaction of the move that enters the state.
func (tx *Tx) ReplaceTimers(ctx context.Context, appID, state, event string, due *time.Time, at time.Time) error {
	if due == nil {
		if tx.timersEnded == appID {
			return nil // by the move that left the previous state
		}
		const end = `UPDATE timers SET done_at = $2 WHERE application_id = $1 AND done_at IS NULL`
		if _, err := tx.ExecContext(ctx, end, appID, at); err != nil {
			return mapError("end timers", err)
		}
		return nil
	}
	const q = `
WITH ended AS (UPDATE timers SET done_at = $5 WHERE application_id = $1 AND done_at IS NULL)
INSERT INTO timers (application_id, state, event, due_at, entered_at) VALUES ($1, $2, $3, $4, $5)
RETURNING id`
	var id int64
	if err := tx.GetContext(ctx, &id, q, appID, state, event, *due, at); err != nil {
		return mapError("schedule timer", err)
	}
	return tx.Enqueue(ctx, TimerJob{TimerID: id}, &river.InsertOpts{ScheduledAt: *due})
}

// Timer is a scheduled firing of an event.
type Timer struct {
	ID            int64        `db:"id"`
	ApplicationID string       `db:"application_id"`
	State         string       `db:"state"`
	Event         string       `db:"event"`
	Due           time.Time    `db:"due_at"`
	EnteredAt     sql.NullTime `db:"entered_at"`
	DoneAt        sql.NullTime `db:"done_at"`
}

const timerColumns = `id, application_id, state, event, due_at, entered_at, done_at`

// DueTimers lists pending timers due by asOf, oldest first.
func (db *DB) DueTimers(ctx context.Context, asOf time.Time, limit int) ([]Timer, error) {
	q := `SELECT ` + timerColumns + ` FROM timers WHERE done_at IS NULL AND due_at <= $1 ORDER BY due_at, id LIMIT $2`
	var out []Timer
	if err := db.SelectContext(ctx, &out, q, asOf, limit); err != nil {
		return nil, mapError("list due timers", err)
	}
	return out, nil
}

// Timer reads a timer without locking it, to find its application.
func (tx *Tx) Timer(ctx context.Context, id int64) (Timer, error) {
	var t Timer
	if err := tx.GetContext(ctx, &t, `SELECT `+timerColumns+` FROM timers WHERE id = $1`, id); err != nil {
		return t, mapError("read timer", err)
	}
	return t, nil
}

// LockTimer reads a timer and locks it until the transaction ends. Take the
// application's lock first: moves lock the application, then its timers.
func (tx *Tx) LockTimer(ctx context.Context, id int64) (Timer, error) {
	var t Timer
	if err := tx.GetContext(ctx, &t, `SELECT `+timerColumns+` FROM timers WHERE id = $1 FOR UPDATE`, id); err != nil {
		return t, mapError("lock timer", err)
	}
	return t, nil
}

// FinishTimer marks a timer done, whether it fired or had become void.
func (tx *Tx) FinishTimer(ctx context.Context, id int64, at time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE timers SET done_at = $2 WHERE id = $1 AND done_at IS NULL`, id, at); err != nil {
		return mapError("finish timer", err)
	}
	return nil
}

// IdempotentAnswer is the stored first answer to a request.
type IdempotentAnswer struct {
	RequestHash string `db:"request_hash"`
	Response    []byte `db:"response"`
}

// IdempotentAnswer finds the answer stored for (user, key); ok is false when
// the key is new.
func (tx *Tx) IdempotentAnswer(ctx context.Context, userID, key string) (a IdempotentAnswer, ok bool, err error) {
	const q = `SELECT request_hash, response FROM idempotency_keys WHERE user_id = $1 AND key = $2`
	err = tx.GetContext(ctx, &a, q, userID, key)
	if err != nil {
		err = mapError("find idempotency key", err)
		if isNotFound(err) {
			return a, false, nil
		}
		return a, false, err
	}
	return a, true, nil
}

// SaveIdempotentAnswer stores the answer to (user, key) with the request it answered.
func (tx *Tx) SaveIdempotentAnswer(ctx context.Context, userID, key, requestHash string, response []byte) error {
	const q = `INSERT INTO idempotency_keys (user_id, key, request_hash, response) VALUES ($1, $2, $3, $4)`
	if _, err := tx.ExecContext(ctx, q, userID, key, requestHash, string(response)); err != nil {
		return mapError("save idempotency key", err)
	}
	return nil
}
