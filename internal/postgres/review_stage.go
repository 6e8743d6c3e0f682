package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// ReviewStage is one round of a review state: opened when an application
// enters the state, closed when it leaves.
type ReviewStage struct {
	ID            int64
	ApplicationID string
	State         string
	Round         int
	Policy        string
	Opened        time.Time
	Due           *time.Time
	Closed        *time.Time
	// Outcome is the event that ended the stage; Decided says its own
	// policy did (and not a withdrawal or a timer).
	Outcome       string
	Decided       bool
	ResultVersion int
	Summary       map[string]any
}

type stageRow struct {
	ID            int64          `db:"id"`
	ApplicationID string         `db:"application_id"`
	State         string         `db:"state"`
	Round         int            `db:"round"`
	Policy        string         `db:"policy"`
	Opened        time.Time      `db:"opened_at"`
	Due           sql.NullTime   `db:"due_at"`
	Closed        sql.NullTime   `db:"closed_at"`
	Outcome       sql.NullString `db:"outcome"`
	Decided       bool           `db:"decided"`
	ResultVersion sql.NullInt64  `db:"result_version"`
	Summary       []byte         `db:"summary"`
}

const stageColumns = `id, application_id, state, round, policy, opened_at, due_at, closed_at, outcome, decided,
result_version, summary`

func toStage(r stageRow) (ReviewStage, error) {
	s := ReviewStage{ID: r.ID, ApplicationID: r.ApplicationID, State: r.State, Round: r.Round, Policy: r.Policy,
		Opened: r.Opened, Outcome: r.Outcome.String, Decided: r.Decided, ResultVersion: int(r.ResultVersion.Int64)}
	if r.Due.Valid {
		s.Due = &r.Due.Time
	}
	if r.Closed.Valid {
		s.Closed = &r.Closed.Time
	}
	if len(r.Summary) > 0 {
		if err := json.Unmarshal(r.Summary, &s.Summary); err != nil {
			return s, fmt.Errorf("decode stage summary %d: %w", r.ID, err)
		}
	}
	return s, nil
}

// OpenStage starts the next round of state for an application.
func (tx *Tx) OpenStage(ctx context.Context, appID, state, policy string, due *time.Time, at time.Time) (ReviewStage, error) {
	const q = `
INSERT INTO review_stages (application_id, state, round, policy, opened_at, due_at)
VALUES ($1, $2, (SELECT coalesce(max(round), 0) + 1 FROM review_stages WHERE application_id = $1 AND state = $2), $3, $4, $5)
RETURNING ` + stageColumns
	var r stageRow
	if err := tx.GetContext(ctx, &r, q, appID, state, policy, at, due); err != nil {
		return ReviewStage{}, mapError("open review stage", err)
	}
	return toStage(r)
}

// openStageCTE opens the next round of a stage: $9 the application, $10
// the state, $11 the policy, $12 the time, $13 the deadline (the
// candidates' query takes $1 to $8).
const openStageCTE = `s AS (
    INSERT INTO review_stages (application_id, state, round, policy, opened_at, due_at)
    VALUES ($9, $10, (SELECT coalesce(max(round), 0) + 1 FROM review_stages WHERE application_id = $9 AND state = $10), $11, $12, $13)
    RETURNING ` + stageColumns + `
)`

// OpenDrawStage opens the next round of a stage whose experts are drawn,
// and lists in the same statement who may be drawn (c), by id: a draw's
// pool is this list, so its order must be stable.
func (tx *Tx) OpenDrawStage(ctx context.Context, appID, state, policy string, due *time.Time, at time.Time,
	c CandidateQuery) (ReviewStage, []Candidate, error) {
	q := `
WITH ` + openStageCTE + `
SELECT s.*, c.id AS candidate_id, c.username AS candidate_username, c.name AS candidate_name
FROM s LEFT JOIN (SELECT u.id, u.username, u.name FROM users u` + candidatesWhere + `) c ON true
ORDER BY c.id`
	var rows []struct {
		stageRow
		CandidateID       sql.NullString `db:"candidate_id"`
		CandidateUsername sql.NullString `db:"candidate_username"`
		CandidateName     sql.NullString `db:"candidate_name"`
	}
	if err := tx.selectPrepared(ctx, &rows, q, append(c.args(), appID, state, policy, at, due)...); err != nil {
		return ReviewStage{}, nil, mapError("open review stage", err)
	}
	if len(rows) == 0 {
		return ReviewStage{}, nil, fmt.Errorf("open review stage of %s: no stage returned", appID)
	}
	stage, err := toStage(rows[0].stageRow)
	if err != nil {
		return ReviewStage{}, nil, err
	}
	var cands []Candidate
	for _, r := range rows {
		if r.CandidateID.Valid {
			cands = append(cands, Candidate{ID: r.CandidateID.String, Username: r.CandidateUsername.String, Name: r.CandidateName.String})
		}
	}
	return stage, cands, nil
}

// OpenRoleStage opens a stage whose reviewers are every candidate c finds
// (a role's holders), with a task each in id order (in a sequential stage
// only the first open), and queues the open ones to be announced
// (QueueAnnouncements), in one statement; it returns the tasks made.
func (tx *Tx) OpenRoleStage(ctx context.Context, appID, state, policy string, due *time.Time, at time.Time,
	c CandidateQuery, sequential bool) ([]ReviewTask, error) {
	q := `
WITH ` + openStageCTE + `, c AS (
    SELECT u.id, row_number() OVER (ORDER BY u.id) AS position FROM users u` + candidatesWhere + `
)
, t AS (
    INSERT INTO review_tasks (stage_id, application_id, assignee_id, position, via, status, due_at, created_at)
    SELECT s.id, s.application_id, c.id, c.position, 'role',
        CASE WHEN $14 AND c.position > 1 THEN '` + TaskWaiting + `' ELSE '` + TaskOpen + `' END, s.due_at, $12
    FROM s, c
    RETURNING id, status
), announced AS (
    INSERT INTO tasks_to_announce (task_id) SELECT id FROM t WHERE status = '` + TaskOpen + `'
)
SELECT id, status FROM t`
	args := append(c.args(), appID, state, policy, at, due, sequential)
	var rows []struct {
		ID     string `db:"id"`
		Status string `db:"status"`
	}
	if err := tx.selectPrepared(ctx, &rows, q, args...); err != nil {
		return nil, mapError("open review stage", err)
	}
	out := make([]ReviewTask, len(rows))
	for i, r := range rows {
		out[i] = ReviewTask{ID: r.ID, ApplicationID: appID, Status: r.Status}
	}
	return out, nil
}

// StageClose is how a stage ends.
type StageClose struct {
	Outcome string
	// Decided: by its own policy, so a reviewer may recall the decision
	// while the application stays at ResultVersion.
	Decided       bool
	ResultVersion int
	Summary       map[string]any
	At            time.Time
}

// CloseStage closes the application's open stage, if it has one, and
// cancels the tasks still waiting in it, in one statement.
func (tx *Tx) CloseStage(ctx context.Context, appID string, c StageClose) error {
	summary, err := json.Marshal(c.Summary)
	if err != nil {
		return fmt.Errorf("encode stage summary: %w", err)
	}
	reason := "stage_closed"
	if c.Decided {
		reason = "stage_decided"
	}
	const q = `
WITH s AS (
    UPDATE review_stages SET closed_at = $2, outcome = $3, decided = $4, result_version = $5, summary = $6
    WHERE application_id = $1 AND closed_at IS NULL
    RETURNING id
)
UPDATE review_tasks t SET status = 'cancelled', reason = $7, closed_at = $2
FROM s WHERE t.stage_id = s.id AND t.status IN ('waiting', 'open')`
	var version any
	if c.Decided {
		version = c.ResultVersion
	}
	if _, err := tx.ExecContext(ctx, q, appID, c.At, c.Outcome, c.Decided, version, string(summary), reason); err != nil {
		return mapError("close review stage", err)
	}
	return nil
}

// ReopenStage undoes a stage's decision (a reviewer recalled it): the stage
// is open again and the tasks its decision cancelled are back as they were.
func (tx *Tx) ReopenStage(ctx context.Context, stageID int64, sequential bool) error {
	const q = `
WITH s AS (
    UPDATE review_stages SET closed_at = NULL, outcome = NULL, decided = false, result_version = NULL, summary = NULL
    WHERE id = $1
    RETURNING id
)
UPDATE review_tasks t SET status = CASE WHEN $2 THEN 'waiting' ELSE 'open' END, reason = '', closed_at = NULL
FROM s WHERE t.stage_id = s.id AND t.status = 'cancelled' AND t.reason = 'stage_decided'`
	if _, err := tx.ExecContext(ctx, q, stageID, sequential); err != nil {
		return mapError("reopen review stage", err)
	}
	return nil
}

// LastStage is the application's most recent stage, open or closed; not
// found when it never had one.
func (tx *Tx) LastStage(ctx context.Context, appID string) (ReviewStage, error) {
	q := `SELECT ` + stageColumns + ` FROM review_stages WHERE application_id = $1 ORDER BY opened_at DESC, id DESC LIMIT 1`
	var r stageRow
	if err := tx.GetContext(ctx, &r, q, appID); err != nil {
		return ReviewStage{}, mapError("read last stage", err)
	}
	return toStage(r)
}

// Stage reads one stage.
func (tx *Tx) Stage(ctx context.Context, id int64) (ReviewStage, error) {
	var r stageRow
	if err := tx.getPrepared(ctx, &r, `SELECT `+stageColumns+` FROM review_stages WHERE id = $1`, id); err != nil {
		return ReviewStage{}, mapError("read stage", err)
	}
	return toStage(r)
}

// Stages lists an application's stages in the order they were opened.
func (db *DB) Stages(ctx context.Context, appID string) ([]ReviewStage, error) {
	return stages(ctx, db, `application_id = $1`, appID)
}

func stages(ctx context.Context, q sqlx.QueryerContext, where string, args ...any) ([]ReviewStage, error) {
	var rows []stageRow
	query := `SELECT ` + stageColumns + ` FROM review_stages WHERE ` + where + ` ORDER BY opened_at, id`
	if err := sqlx.SelectContext(ctx, q, &rows, query, args...); err != nil {
		return nil, mapError("list stages", err)
	}
	out := make([]ReviewStage, 0, len(rows))
	for _, r := range rows {
		s, err := toStage(r)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
