package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/sciflow/sciflow/internal/errs"
)

// ReviewTask is one reviewer's part in a stage.
type ReviewTask struct {
	ID            string
	StageID       int64
	ApplicationID string
	AssigneeID    string
	Position      int
	// Via says how the reviewer came to the task: role, assigned, drawn,
	// replacement (drawn after a recusal) or delegated.
	Via      string
	Status   string
	Decision string
	Scores   map[string]any
	// Total is a score task's weighted total, as exact decimal text.
	Total         string
	Comment       string
	Reason        string
	DrawID        int64
	DelegatedFrom string
	Due           *time.Time
	Created       time.Time
	Decided       *time.Time
	Closed        *time.Time
	// AssigneeUsername and AssigneeName name the reviewer.
	AssigneeUsername string
	AssigneeName     string
}

// Task statuses.
const (
	TaskWaiting   = "waiting" // a sequential stage has not reached it yet
	TaskOpen      = "open"
	TaskDecided   = "decided"
	TaskRecused   = "recused"
	TaskDelegated = "delegated"
	TaskCancelled = "cancelled"
)

// Active reports whether the task counts in its stage's policy.
func (t ReviewTask) Active() bool {
	return t.Status == TaskWaiting || t.Status == TaskOpen || t.Status == TaskDecided
}

type taskRow struct {
	ID               string         `db:"id"`
	StageID          int64          `db:"stage_id"`
	ApplicationID    string         `db:"application_id"`
	AssigneeID       string         `db:"assignee_id"`
	Position         int            `db:"position"`
	Via              string         `db:"via"`
	Status           string         `db:"status"`
	Decision         sql.NullString `db:"decision"`
	Scores           []byte         `db:"scores"`
	Total            sql.NullString `db:"total"`
	Comment          string         `db:"comment"`
	Reason           string         `db:"reason"`
	DrawID           sql.NullInt64  `db:"draw_id"`
	DelegatedFrom    sql.NullString `db:"delegated_from"`
	Due              sql.NullTime   `db:"due_at"`
	Created          time.Time      `db:"created_at"`
	Decided          sql.NullTime   `db:"decided_at"`
	Closed           sql.NullTime   `db:"closed_at"`
	AssigneeUsername string         `db:"assignee_username"`
	AssigneeName     string         `db:"assignee_name"`
}

const taskColumns = `t.id, t.stage_id, t.application_id, t.assignee_id, t.position, t.via, t.status, t.decision,
t.scores, t.total, t.comment, t.reason, t.draw_id, t.delegated_from, t.due_at, t.created_at, t.decided_at,
t.closed_at, u.username AS assignee_username, u.name AS assignee_name`

const taskFrom = ` FROM review_tasks t JOIN users u ON u.id = t.assignee_id `

func toTask(r taskRow) (ReviewTask, error) {
	t := ReviewTask{ID: r.ID, StageID: r.StageID, ApplicationID: r.ApplicationID, AssigneeID: r.AssigneeID,
		Position: r.Position, Via: r.Via, Status: r.Status, Decision: r.Decision.String, Total: r.Total.String,
		Comment: r.Comment, Reason: r.Reason, DrawID: r.DrawID.Int64, DelegatedFrom: r.DelegatedFrom.String,
		Created: r.Created, AssigneeUsername: r.AssigneeUsername, AssigneeName: r.AssigneeName}
	for _, p := range []struct {
		src sql.NullTime
		dst **time.Time
	}{{r.Due, &t.Due}, {r.Decided, &t.Decided}, {r.Closed, &t.Closed}} {
		if p.src.Valid {
			v := p.src.Time
			*p.dst = &v
		}
	}
	if len(r.Scores) > 0 {
		if err := json.Unmarshal(r.Scores, &t.Scores); err != nil {
			return t, fmt.Errorf("decode scores of task %s: %w", r.ID, err)
		}
	}
	return t, nil
}

func toTasks(rows []taskRow) ([]ReviewTask, error) {
	out := make([]ReviewTask, 0, len(rows))
	for _, r := range rows {
		t, err := toTask(r)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// NewTask is a task to create.
type NewTask struct {
	AssigneeID    string
	Position      int
	Via           string
	Status        string
	DrawID        int64
	DelegatedFrom string
}

// InsertTasks creates a stage's tasks and notes the open ones to be
// announced (QueueAnnouncements), in one statement, and returns them in
// position order. A person already on the stage's panel is a conflict:
// nobody reviews one stage twice.
func (tx *Tx) InsertTasks(ctx context.Context, stage ReviewStage, tasks []NewTask, at time.Time) ([]ReviewTask, error) {
	_, out, err := tx.insertTasks(ctx, stage, tasks, at, nil)
	return out, err
}

// InsertDrawnTasks stores a draw with the tasks of the experts it picked
// (each task's DrawID is the draw's), as InsertTasks does, in one
// statement, and returns the draw's id with the tasks.
func (tx *Tx) InsertDrawnTasks(ctx context.Context, d ExpertDraw, stage ReviewStage, tasks []NewTask, at time.Time) (int64, []ReviewTask, error) {
	return tx.insertTasks(ctx, stage, tasks, at, &d)
}

func (tx *Tx) insertTasks(ctx context.Context, stage ReviewStage, tasks []NewTask, at time.Time, d *ExpertDraw) (int64, []ReviewTask, error) {
	if len(tasks) == 0 {
		return 0, nil, nil
	}
	n := len(tasks)
	assignees, vias, statuses, froms := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	positions, draws := make([]int64, n), make([]int64, n)
	for i, t := range tasks {
		assignees[i], vias[i], statuses[i], positions[i] = t.AssigneeID, t.Via, t.Status, int64(t.Position)
		froms[i], draws[i] = t.DelegatedFrom, t.DrawID
	}
	args := []any{stage.ID, stage.ApplicationID, stage.Due, at, pq.StringArray(assignees), pq.Int64Array(positions),
		pq.StringArray(vias), pq.StringArray(statuses), pq.Int64Array(draws), pq.StringArray(froms)}
	draw, drawID, drawn := "", "nullif(d, 0)", "0"
	if d != nil {
		draw = `drawn AS (
    INSERT INTO expert_draws (stage_id, seed, specialty, wanted, pool, picked, replaces_task, drawn_by, drawn_at)
    VALUES ($1, $11, $12, $13, $14, $15, $16, $17, $4) RETURNING id
), `
		drawID, drawn = "(SELECT id FROM drawn)", "(SELECT id FROM drawn)"
		args = append(args, d.Seed, d.Specialty, d.Wanted, d.Pool, d.Picked, d.ReplacesTask, d.DrawnBy)
	}
	q := `
WITH ` + draw + `t AS (
    INSERT INTO review_tasks (stage_id, application_id, assignee_id, position, via, status, draw_id, delegated_from, due_at, created_at)
    SELECT $1, $2, a, p, v, s, ` + drawID + `, nullif(f, '')::uuid, $3, $4
    FROM unnest($5::uuid[], $6::int[], $7::text[], $8::text[], $9::bigint[], $10::text[]) AS x (a, p, v, s, d, f)
    RETURNING *
), announced AS (
    INSERT INTO tasks_to_announce (task_id) SELECT id FROM t WHERE status = '` + TaskOpen + `'
)
SELECT ` + drawn + ` AS made_draw, ` + taskColumns + ` FROM t JOIN users u ON u.id = t.assignee_id ORDER BY t.position, t.created_at`
	var rows []struct {
		Draw int64 `db:"made_draw"`
		taskRow
	}
	if err := tx.selectPrepared(ctx, &rows, q, args...); err != nil {
		return 0, nil, mapError("insert review tasks", err)
	}
	out := make([]ReviewTask, 0, len(rows))
	for _, r := range rows {
		t, err := toTask(r.taskRow)
		if err != nil {
			return 0, nil, err
		}
		out = append(out, t)
	}
	return rows[0].Draw, out, nil
}

// StageTasks lists a stage's tasks in panel order.
func (tx *Tx) StageTasks(ctx context.Context, stageID int64) ([]ReviewTask, error) {
	var rows []taskRow
	q := `SELECT ` + taskColumns + taskFrom + `WHERE t.stage_id = $1 ORDER BY t.position, t.created_at`
	if err := tx.selectPrepared(ctx, &rows, q, stageID); err != nil {
		return nil, mapError("list stage tasks", err)
	}
	return toTasks(rows)
}

// TasksOfStages lists the tasks of several stages, for an application's
// review record.
func (db *DB) TasksOfStages(ctx context.Context, stageIDs []int64) ([]ReviewTask, error) {
	var rows []taskRow
	q := `SELECT ` + taskColumns + taskFrom + `WHERE t.stage_id = ANY ($1) ORDER BY t.stage_id, t.position, t.created_at`
	if err := db.SelectContext(ctx, &rows, q, pq.Int64Array(stageIDs)); err != nil {
		return nil, mapError("list tasks", err)
	}
	return toTasks(rows)
}

// TaskApplication finds the application and stage of a task assigned to
// userID; not found for anyone else's task.
func (tx *Tx) TaskApplication(ctx context.Context, taskID, userID string) (appID string, stageID int64, err error) {
	if !isUUID(taskID) {
		return "", 0, fmt.Errorf("task %q: %w", taskID, errs.ErrNotFound)
	}
	const q = `SELECT application_id, stage_id FROM review_tasks WHERE id = $1 AND assignee_id = $2`
	var r struct {
		AppID   string `db:"application_id"`
		StageID int64  `db:"stage_id"`
	}
	if err := tx.getPrepared(ctx, &r, q, taskID, userID); err != nil {
		return "", 0, mapError("find task", err)
	}
	return r.AppID, r.StageID, nil
}

// SaveTask writes what changed in a task: its status and decision.
func (tx *Tx) SaveTask(ctx context.Context, t ReviewTask) error {
	var scores any // NULL without scores
	if t.Scores != nil {
		raw, err := json.Marshal(t.Scores)
		if err != nil {
			return fmt.Errorf("encode scores: %w", err)
		}
		scores = string(raw)
	}
	const q = `
UPDATE review_tasks SET status = $2, decision = $3, scores = $4, total = $5, comment = $6, reason = $7,
    decided_at = $8, closed_at = $9
WHERE id = $1`
	_, err := tx.execPrepared(ctx, q, t.ID, t.Status, nullString(t.Decision), scores, nullString(t.Total), t.Comment,
		t.Reason, t.Decided, t.Closed)
	if err != nil {
		return mapError("save task", err)
	}
	return nil
}

// TaskFilter narrows a reviewer's task list.
type TaskFilter struct {
	Done     bool // decided, recused, delegated or cancelled instead of open
	Workflow string
	State    string
	Overdue  bool
	Query    string
	Limit    int
	Now      time.Time
}

// InboxTask is a task with what an inbox shows of its application.
type InboxTask struct {
	ReviewTask
	Workflow        string
	WorkflowVersion int
	State           string // the stage's state
	Round           int
	Policy          string
	AppTitle        string
	OrgName         string
}

// Tasks lists userID's tasks, soonest due first (open) or latest first (done).
func (db *DB) Tasks(ctx context.Context, userID string, f TaskFilter) ([]InboxTask, error) {
	args := []any{userID}
	where := []string{"t.assignee_id = $1"}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	order := `t.due_at NULLS LAST, t.created_at, t.id`
	if f.Done {
		where = append(where, "t.status IN ('decided', 'recused', 'delegated', 'cancelled')")
		order = `coalesce(t.decided_at, t.closed_at) DESC, t.id`
	} else {
		where = append(where, "t.status = 'open'")
	}
	if f.Workflow != "" {
		add("a.workflow = $%d", f.Workflow)
	}
	if f.State != "" {
		add("s.state = $%d", f.State)
	}
	if f.Overdue {
		add("t.due_at < $%d", f.Now)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		add("(a.data ->> 'title' ILIKE $%[1]d OR o.name ILIKE $%[1]d)", likePattern(q))
	}
	args = append(args, f.Limit)
	q := `SELECT ` + taskColumns + `, a.workflow, a.workflow_version, s.state, s.round, s.policy,
    coalesce(a.data ->> 'title', '') AS app_title, o.name AS org_name` + taskFrom + `
JOIN review_stages s ON s.id = t.stage_id
JOIN applications a ON a.id = t.application_id
JOIN orgs o ON o.id = a.org_id
WHERE ` + strings.Join(where, " AND ") + ` ORDER BY ` + order + fmt.Sprintf(` LIMIT $%d`, len(args))
	var rows []struct {
		taskRow
		Workflow        string `db:"workflow"`
		WorkflowVersion int    `db:"workflow_version"`
		State           string `db:"state"`
		Round           int    `db:"round"`
		Policy          string `db:"policy"`
		AppTitle        string `db:"app_title"`
		OrgName         string `db:"org_name"`
	}
	if err := db.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, mapError("list tasks", err)
	}
	out := make([]InboxTask, 0, len(rows))
	for _, r := range rows {
		t, err := toTask(r.taskRow)
		if err != nil {
			return nil, err
		}
		out = append(out, InboxTask{ReviewTask: t, Workflow: r.Workflow, WorkflowVersion: r.WorkflowVersion, State: r.State,
			Round: r.Round, Policy: r.Policy, AppTitle: r.AppTitle, OrgName: r.OrgName})
	}
	return out, nil
}

// TaskCount is how many open tasks a reviewer has in one stage.
type TaskCount struct {
	Workflow string `db:"workflow"`
	State    string `db:"state"`
	Open     int    `db:"open"`
	Overdue  int    `db:"overdue"`
}

// TaskCounts counts userID's open tasks per workflow and stage.
func (db *DB) TaskCounts(ctx context.Context, userID string, now time.Time) ([]TaskCount, error) {
	const q = `
SELECT a.workflow, s.state, count(*) AS open, count(*) FILTER (WHERE t.due_at < $2) AS overdue
FROM review_tasks t
JOIN review_stages s ON s.id = t.stage_id
JOIN applications a ON a.id = t.application_id
WHERE t.assignee_id = $1 AND t.status = 'open'
GROUP BY a.workflow, s.state ORDER BY a.workflow, s.state`
	var out []TaskCount
	if err := db.SelectContext(ctx, &out, q, userID, now); err != nil {
		return nil, mapError("count tasks", err)
	}
	return out, nil
}

func likePattern(q string) string {
	return "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(q) + "%"
}
