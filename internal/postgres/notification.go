package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/sciflow/sciflow/internal/errs"
)

// Notification is an in-app message to one user.
type Notification struct {
	ID            string         `db:"id"`
	UserID        string         `db:"user_id"`
	Kind          string         `db:"kind"`
	ApplicationID sql.NullString `db:"application_id"`
	TaskID        sql.NullString `db:"task_id"`
	TitleZh       string         `db:"title_zh"`
	TitleEn       string         `db:"title_en"`
	Created       time.Time      `db:"created_at"`
	Read          sql.NullTime   `db:"read_at"`
	Emailed       sql.NullTime   `db:"emailed_at"`
}

const notificationColumns = `id, user_id, kind, application_id, task_id, title_zh, title_en, created_at, read_at, emailed_at`

// Notified is a notification just made, with where to e-mail it.
type Notified struct {
	ID    string         `db:"id"`
	Email sql.NullString `db:"email"`
}

// The titles below are built in SQL from the application's title, so that
// one statement makes every notification of a cause.
const appTitle = `coalesce(nullif(a.data ->> 'title', ''), '申请 ' || left(a.id::text, 8))`
const appTitleEn = `coalesce(nullif(a.data ->> 'title', ''), 'application ' || left(a.id::text, 8))`

// NotifyTasks tells the reviewers of tasks still open that they have them.
// It serves the side-effect jobs queued before tasks were announced in
// batches (AnnounceTasks), which a server upgraded meanwhile still works.
func (tx *Tx) NotifyTasks(ctx context.Context, taskIDs []string, at time.Time) ([]Notified, error) {
	return tx.notify(ctx, "notify tasks", "", `
    SELECT t.assignee_id, 'task', t.application_id, t.id,
        '新的评审任务：' || `+appTitle+`, 'New review task: ' || `+appTitleEn+`, 'task:' || t.id, $2
    FROM review_tasks t JOIN applications a ON a.id = t.application_id
    WHERE t.id = ANY ($1::uuid[]) AND t.status = 'open'`, pq.StringArray(taskIDs), at)
}

// QueueAnnouncements notes tasks just opened, to be announced to their
// reviewers by AnnounceTasks once this transaction commits.
func (tx *Tx) QueueAnnouncements(ctx context.Context, taskIDs []string) error {
	const q = `INSERT INTO tasks_to_announce (task_id) SELECT unnest($1::uuid[]) ON CONFLICT DO NOTHING`
	if _, err := tx.execPrepared(ctx, q, pq.StringArray(taskIDs)); err != nil {
		return mapError("queue task announcements", err)
	}
	return nil
}

// AnnounceTasks takes up to limit of the queued tasks no other transaction
// is taking, and tells the reviewers of those still open, once per task
// (a task decided or cancelled meanwhile is dropped). It returns the
// notifications made and how many queued tasks it took.
func (tx *Tx) AnnounceTasks(ctx context.Context, at time.Time, limit int) (made []Notified, taken int, err error) {
	const q = `
WITH due AS (
    DELETE FROM tasks_to_announce WHERE task_id IN (
        SELECT task_id FROM tasks_to_announce LIMIT $2 FOR UPDATE SKIP LOCKED)
    RETURNING task_id
), n AS (
    INSERT INTO notifications (user_id, kind, application_id, task_id, title_zh, title_en, dedupe_key, created_at)
    SELECT t.assignee_id, 'task', t.application_id, t.id,
        '新的评审任务：' || ` + appTitle + `, 'New review task: ' || ` + appTitleEn + `, 'task:' || t.id, $1
    FROM due JOIN review_tasks t ON t.id = due.task_id JOIN applications a ON a.id = t.application_id
    WHERE t.status = 'open'
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id, user_id
)
SELECT n.id, u.email, (SELECT count(*) FROM due) AS taken FROM n JOIN users u ON u.id = n.user_id
UNION ALL
-- the count alone when nothing was made
SELECT NULL, NULL, (SELECT count(*) FROM due) WHERE NOT EXISTS (SELECT 1 FROM n)`
	var rows []struct {
		ID    sql.NullString `db:"id"`
		Email sql.NullString `db:"email"`
		Taken int            `db:"taken"`
	}
	if err := tx.selectPrepared(ctx, &rows, q, at, limit); err != nil {
		return nil, 0, mapError("announce tasks", err)
	}
	for _, r := range rows {
		taken = r.Taken
		if r.ID.Valid {
			made = append(made, Notified{ID: r.ID.String, Email: r.Email})
		}
	}
	return made, taken, nil
}

// notify inserts the notifications rows selects (user, kind, application,
// task, titles, dedupe key, time), skipping causes already notified, and
// returns the new ones with their users' e-mail addresses. with, when
// given, are CTEs the select reads.
func (tx *Tx) notify(ctx context.Context, op, with, rows string, args ...any) ([]Notified, error) {
	if with != "" {
		with += ","
	}
	q := `WITH ` + with + ` n AS (
    INSERT INTO notifications (user_id, kind, application_id, task_id, title_zh, title_en, dedupe_key, created_at)` + rows + `
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id, user_id
)
SELECT n.id, u.email FROM n JOIN users u ON u.id = n.user_id`
	var out []Notified
	if err := tx.selectPrepared(ctx, &out, q, args...); err != nil {
		return nil, mapError(op, err)
	}
	return out, nil
}

// NotifyApplicant tells an application's applicant something happened to
// it, once per cause (key).
func (tx *Tx) NotifyApplicant(ctx context.Context, appID, kind, titleZh, titleEn, key string, at time.Time) ([]Notified, error) {
	return tx.notify(ctx, "notify applicant", "", `
    SELECT a.applicant_id, $2, a.id, NULL::uuid, replace($3, '%s', `+appTitle+`), replace($4, '%s', `+appTitleEn+`), $5, $6
    FROM applications a WHERE a.id = $1`, appID, kind, titleZh, titleEn, key, at)
}

// RemindOverdue makes today's reminder (催办) for every open task past its
// due time, at most one per task and day. Each task is locked while its
// reminder is made, so a reminder can never follow the decision that
// closed the task; tasks being decided right now are skipped until the
// next round.
func (tx *Tx) RemindOverdue(ctx context.Context, now time.Time, day string) ([]Notified, error) {
	return tx.notify(ctx, "remind overdue tasks", `due AS (
    SELECT t.id, t.assignee_id, t.application_id FROM review_tasks t
    WHERE t.status = 'open' AND t.due_at < $1
    FOR UPDATE OF t SKIP LOCKED
)`, `
    SELECT due.assignee_id, 'reminder', due.application_id, due.id,
        '催办：' || `+appTitle+` || ' 已超过办理期限', 'Reminder: ' || `+appTitleEn+` || ' is overdue',
        'reminder:' || due.id || ':' || $2, $1
    FROM due JOIN applications a ON a.id = due.application_id`, now, day)
}

// OverdueTask is an open task past its due time, with what decides whether
// it is escalated.
type OverdueTask struct {
	ID              string    `db:"id"`
	Workflow        string    `db:"workflow"`
	WorkflowVersion int       `db:"workflow_version"`
	State           string    `db:"state"`
	Due             time.Time `db:"due_at"`
}

// OverdueTasks lists open tasks past their due time.
func (tx *Tx) OverdueTasks(ctx context.Context, now time.Time) ([]OverdueTask, error) {
	const q = `
SELECT t.id, a.workflow, a.workflow_version, s.state, t.due_at
FROM review_tasks t JOIN review_stages s ON s.id = t.stage_id JOIN applications a ON a.id = t.application_id
WHERE t.status = 'open' AND t.due_at < $1
ORDER BY t.due_at`
	var out []OverdueTask
	if err := tx.SelectContext(ctx, &out, q, now); err != nil {
		return nil, mapError("list overdue tasks", err)
	}
	return out, nil
}

// Escalate tells every leader about each task (once per task and leader),
// if it is still open.
func (tx *Tx) Escalate(ctx context.Context, taskIDs []string, now time.Time) ([]Notified, error) {
	return tx.notify(ctx, "escalate overdue tasks", `t AS (
    SELECT t.id, t.application_id, u.name AS reviewer FROM review_tasks t JOIN users u ON u.id = t.assignee_id
    WHERE t.id = ANY ($1::uuid[]) AND t.status = 'open'
    FOR UPDATE OF t SKIP LOCKED
)`, `
    SELECT l.id, 'escalation', t.application_id, t.id,
        '逾期督办：' || `+appTitle+` || '（' || t.reviewer || '）', 'Overdue: ' || `+appTitleEn+` || ' (' || t.reviewer || ')',
        'escalation:' || t.id || ':' || l.id, $2
    FROM t JOIN applications a ON a.id = t.application_id
    CROSS JOIN users l WHERE 'leader' = ANY (l.roles) AND l.disabled_at IS NULL`, pq.StringArray(taskIDs), now)
}

// Notifications lists a user's notifications, newest first.
func (db *DB) Notifications(ctx context.Context, userID string, unreadOnly bool, limit int) ([]Notification, error) {
	q := `SELECT ` + notificationColumns + ` FROM notifications WHERE user_id = $1 AND (NOT $2 OR read_at IS NULL)
ORDER BY created_at DESC, id DESC LIMIT $3`
	var out []Notification
	if err := db.SelectContext(ctx, &out, q, userID, unreadOnly, limit); err != nil {
		return nil, mapError("list notifications", err)
	}
	return out, nil
}

// MarkNotificationRead marks one of a user's notifications read; anyone
// else's is not found.
func (db *DB) MarkNotificationRead(ctx context.Context, userID, id string, at time.Time) error {
	if !isUUID(id) {
		return fmt.Errorf("notification %q: %w", id, errs.ErrNotFound)
	}
	const q = `UPDATE notifications SET read_at = coalesce(read_at, $3) WHERE id = $1 AND user_id = $2`
	res, err := db.ExecContext(ctx, q, id, userID, at)
	if err != nil {
		return mapError("mark notification read", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("notification %s: %w", id, errs.ErrNotFound)
	}
	return nil
}

// Mailing is a notification locked for e-mailing, with its recipient and,
// for a reminder, whether its task is still open.
type Mailing struct {
	Notification
	Email    sql.NullString `db:"email"`
	Name     string         `db:"name"`
	TaskOpen sql.NullBool   `db:"task_open"`
}

// LockMailing locks a notification while it is e-mailed, so that two
// workers can never send it at once.
func (tx *Tx) LockMailing(ctx context.Context, id string) (Mailing, error) {
	const q = `
SELECT n.id, n.user_id, n.kind, n.application_id, n.task_id, n.title_zh, n.title_en, n.created_at, n.read_at,
    n.emailed_at, u.email, u.name, (SELECT t.status = 'open' FROM review_tasks t WHERE t.id = n.task_id) AS task_open
FROM notifications n JOIN users u ON u.id = n.user_id
WHERE n.id = $1
FOR UPDATE OF n`
	var m Mailing
	if err := tx.GetContext(ctx, &m, q, id); err != nil {
		return m, mapError("lock notification", err)
	}
	return m, nil
}

// MarkEmailed records that a notification reached the SMTP server.
func (tx *Tx) MarkEmailed(ctx context.Context, id string, at time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE notifications SET emailed_at = $2 WHERE id = $1`, id, at); err != nil {
		return mapError("mark notification e-mailed", err)
	}
	return nil
}

// Badges are the counts a page's header shows a user: open tasks (and how
// many are overdue) and unread notifications.
type Badges struct {
	OpenTasks int `db:"open_tasks"`
	Overdue   int `db:"overdue"`
	Unread    int `db:"unread"`
}

// Badges counts a user's open tasks and unread notifications in one round
// trip, since every page shows them.
func (db *DB) Badges(ctx context.Context, userID string, now time.Time) (Badges, error) {
	const q = `
SELECT (SELECT count(*) FROM review_tasks WHERE assignee_id = $1 AND status = 'open') AS open_tasks,
       (SELECT count(*) FROM review_tasks WHERE assignee_id = $1 AND status = 'open' AND due_at < $2) AS overdue,
       (SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL) AS unread`
	var b Badges
	if err := db.GetContext(ctx, &b, q, userID, now); err != nil {
		return b, mapError("count badges", err)
	}
	return b, nil
}
