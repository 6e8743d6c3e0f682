package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Question is one question of a send back, with its answer once given.
type Question struct {
	ID            string         `db:"id"`
	ApplicationID string         `db:"application_id"`
	Round         int            `db:"round"`
	Position      int            `db:"position"`
	Question      string         `db:"question"`
	AskedIn       string         `db:"asked_in"`
	AskedBy       sql.NullString `db:"asked_by"`
	AskedAt       time.Time      `db:"asked_at"`
	Answer        sql.NullString `db:"answer"`
	AnsweredBy    sql.NullString `db:"answered_by"`
	AnsweredAt    sql.NullTime   `db:"answered_at"`
}

const questionColumns = `id, application_id, round, position, question, asked_in, asked_by, asked_at, answer,
answered_by, answered_at`

// AskQuestions stores the questions of the application's next send-back
// round and returns them.
func (tx *Tx) AskQuestions(ctx context.Context, appID, state, askedBy string, questions []string, at time.Time) ([]Question, error) {
	const q = `
INSERT INTO review_questions (application_id, round, position, question, asked_in, asked_by, asked_at)
SELECT $1, (SELECT coalesce(max(round), 0) + 1 FROM review_questions WHERE application_id = $1), ord, question, $2, $3, $4
FROM unnest($5::text[]) WITH ORDINALITY AS x (question, ord)
RETURNING ` + questionColumns
	var out []Question
	if err := tx.SelectContext(ctx, &out, q, appID, state, nullString(askedBy), at, pq.StringArray(questions)); err != nil {
		return nil, mapError("store questions", err)
	}
	return out, nil
}

// Questions lists an application's questions, round by round.
func (db *DB) Questions(ctx context.Context, appID string) ([]Question, error) {
	return questions(ctx, db, appID, false)
}

// LockQuestions lists an application's questions inside a transaction that
// holds the application's lock (so the answers cannot change meanwhile).
func (tx *Tx) LockQuestions(ctx context.Context, appID string) ([]Question, error) {
	return questions(ctx, tx, appID, true)
}

func questions(ctx context.Context, q sqlx.QueryerContext, appID string, lock bool) ([]Question, error) {
	query := `SELECT ` + questionColumns + ` FROM review_questions WHERE application_id = $1 ORDER BY round, position`
	if lock {
		query += ` FOR UPDATE`
	}
	var out []Question
	if err := sqlx.SelectContext(ctx, q, &out, query, appID); err != nil {
		return nil, mapError("list questions", err)
	}
	return out, nil
}

// Answer records the answer to a question.
func (tx *Tx) Answer(ctx context.Context, questionID, answer, by string, at time.Time) error {
	const q = `UPDATE review_questions SET answer = $2, answered_by = $3, answered_at = $4 WHERE id = $1`
	res, err := tx.ExecContext(ctx, q, questionID, answer, by, at)
	if err != nil {
		return mapError("store answer", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("answer question %s: no such question", questionID)
	}
	return nil
}
