package postgres

import (
	"context"
	"time"
)

// ReplaceTimers ends the application's pending timers and, when due is set,
// schedules event for when it falls due in state.
func (tx *Tx) ReplaceTimers(ctx context.Context, appID, state, event string, due *time.Time, at time.Time) error {
	const end = `UPDATE timers SET done_at = $2 WHERE application_id = $1 AND done_at IS NULL`
	if _, err := tx.ExecContext(ctx, end, appID, at); err != nil {
		return mapError("end timers", err)
	}
	if due == nil {
		return nil
	}
	const ins = `INSERT INTO timers (application_id, state, event, due_at) VALUES ($1, $2, $3, $4)`
	if _, err := tx.ExecContext(ctx, ins, appID, state, event, *due); err != nil {
		return mapError("schedule timer", err)
	}
	return nil
}

// DueTimer is a timer whose time has come.
type DueTimer struct {
	ID            int64     `db:"id"`
	ApplicationID string    `db:"application_id"`
	State         string    `db:"state"`
	Event         string    `db:"event"`
	Due           time.Time `db:"due_at"`
}

// DueTimers lists pending timers due by asOf, oldest first.
func (db *DB) DueTimers(ctx context.Context, asOf time.Time, limit int) ([]DueTimer, error) {
	const q = `SELECT id, application_id, state, event, due_at FROM timers
WHERE done_at IS NULL AND due_at <= $1 ORDER BY due_at, id LIMIT $2`
	var out []DueTimer
	if err := db.SelectContext(ctx, &out, q, asOf, limit); err != nil {
		return nil, mapError("list due timers", err)
	}
	return out, nil
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
	if _, err := tx.ExecContext(ctx, q, userID, key, requestHash, response); err != nil {
		return mapError("save idempotency key", err)
	}
	return nil
}
