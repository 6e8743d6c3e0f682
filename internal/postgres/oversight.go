package postgres

import (
	"context"
	"database/sql"
	"strconv"
	"time"

	"github.com/lib/pq"
)

// The rows behind the oversight checks (internal/oversight): each query
// reads what one check needs and nothing more, and leaves the judging (the
// thresholds, the outlier rule) to that package. Windows are half-open,
// [From, To); a zero bound is no bound.

// OversightWindow limits a check to what happened in [From, To).
type OversightWindow struct {
	From, To time.Time
}

func (w OversightWindow) args() (any, any) {
	bound := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t
	}
	return bound(w.From), bound(w.To)
}

// WorkflowVersionRef names one stored definition version.
// OversightAct is what every finding's row names: the application, who
// acted on it (empty when the finding is about the application alone) and
// when.
type OversightAct struct {
	ApplicationID string    `db:"application_id"`
	Workflow      string    `db:"workflow"`
	ActorID       string    `db:"actor_id"`
	ActorName     string    `db:"actor_name"`
	ActorUsername string    `db:"actor_username"`
	At            time.Time `db:"at"`
}

type WorkflowVersionRef struct {
	Key     string `db:"key"`
	Version int    `db:"version"`
}

// WorkflowVersionRefs lists every stored definition version, for checks
// that must know what kind of state each version's states are.
func (db *DB) WorkflowVersionRefs(ctx context.Context) ([]WorkflowVersionRef, error) {
	var out []WorkflowVersionRef
	if err := db.SelectContext(ctx, &out, `SELECT key, version FROM workflow_versions ORDER BY key, version`); err != nil {
		return nil, mapError("list workflow versions", err)
	}
	return out, nil
}

// MoveKey is how the oversight queries name a move: "workflow/version/
// from/event", as an audit entry of a transition records it.
func MoveKey(workflow string, version int, from, event string) string {
	return workflow + "/" + strconv.Itoa(version) + "/" + from + "/" + event
}

// moveKeySQL is MoveKey of a transition entry l whose content is c (jsonb).
const moveKeySQL = `l.workflow || '/' || (c ->> 'workflow_version') || '/' || (c ->> 'from') || '/' || l.event`

// StagesActor is one person who acted in two or more review stages of one
// application; At is the latest of their acts there.
type StagesActor struct {
	OversightAct
	// Stages are the states, in the order they first acted there.
	Stages pq.StringArray `db:"stages"`
}

// ActorsInTwoStages finds people who acted in two or more different review
// states of one application: a reviewer's decision on a task (its stage is
// in the entry) or a transition by a person that is one of stageMoves
// (MoveKey). Acting in the same state in two rounds is one state. The
// applicant never counts: withdrawing under review decides nothing. w
// applies to At.
func (db *DB) ActorsInTwoStages(ctx context.Context, stageMoves []string, w OversightWindow) ([]StagesActor, error) {
	const q = `
WITH acts AS (
    SELECT l.application_id, l.workflow, l.actor_id, l.at,
        CASE l.kind WHEN 'review.decision' THEN c -> 'data' ->> 'stage' ELSE c ->> 'from' END AS stage
    FROM audit_log l
    CROSS JOIN LATERAL (SELECT l.content::jsonb AS c) j
    WHERE l.application_id IS NOT NULL AND l.actor_id IS NOT NULL
      AND l.kind IN ('review.decision', 'transition')
      AND (l.kind = 'review.decision' OR ` + moveKeySQL + ` = ANY ($1::text[]))
), stages AS (
    SELECT application_id, workflow, actor_id, stage, min(at) AS first_at, max(at) AS last_at
    FROM acts WHERE stage IS NOT NULL
    GROUP BY application_id, workflow, actor_id, stage
)
SELECT a.application_id, a.workflow, a.actor_id, u.name AS actor_name, u.username AS actor_username,
    array_agg(a.stage ORDER BY a.first_at, a.stage) AS stages, max(a.last_at) AS at
FROM stages a
JOIN applications app ON app.id = a.application_id
JOIN users u ON u.id = a.actor_id
WHERE a.actor_id <> app.applicant_id
GROUP BY a.application_id, a.workflow, a.actor_id, u.name, u.username
HAVING count(*) >= 2
   AND ($2::timestamptz IS NULL OR max(a.last_at) >= $2) AND ($3::timestamptz IS NULL OR max(a.last_at) < $3)
ORDER BY at, a.application_id, a.actor_id`
	from, to := w.args()
	out := []StagesActor{}
	if err := db.SelectContext(ctx, &out, q, pq.StringArray(stageMoves), from, to); err != nil {
		return nil, mapError("find people acting in two stages", err)
	}
	return out, nil
}

// ConflictedDecision is a decided review task whose reviewer declares a
// conflict with the applicant's organisation, or, in a stage that drew
// experts, works for it.
type ConflictedDecision struct {
	OversightAct
	TaskID   string         `db:"task_id"`
	Stage    string         `db:"stage"`
	OrgName  string         `db:"org_name"`
	Decision string         `db:"decision"`
	Total    sql.NullString `db:"total"`
	// Declared: a conflict with the applicant's organisation is on record;
	// SameOrg: the reviewer works for it.
	Declared bool `db:"declared"`
	SameOrg  bool `db:"same_org"`
}

// ConflictedDecisions lists decided tasks whose reviewer is in conflict
// with the applicant's organisation, by the time they decided (within w).
// expert_conflicts holds declarations as they stand now, with no date: a
// conflict declared after the decision shows here too.
func (db *DB) ConflictedDecisions(ctx context.Context, w OversightWindow) ([]ConflictedDecision, error) {
	const q = `
SELECT t.id AS task_id, t.application_id, a.workflow, s.state AS stage, t.assignee_id AS actor_id,
    u.name AS actor_name, u.username AS actor_username, o.name AS org_name, t.decision, t.total::text AS total,
    EXISTS (SELECT 1 FROM expert_conflicts c WHERE c.user_id = t.assignee_id AND c.org_id = a.org_id) AS declared,
    u.org_id = a.org_id AS same_org, t.decided_at AS at
FROM review_tasks t
JOIN review_stages s ON s.id = t.stage_id
JOIN applications a ON a.id = t.application_id
JOIN orgs o ON o.id = a.org_id
JOIN users u ON u.id = t.assignee_id
WHERE t.status = 'decided'
  AND (EXISTS (SELECT 1 FROM expert_conflicts c WHERE c.user_id = t.assignee_id AND c.org_id = a.org_id)
       OR (u.org_id = a.org_id AND EXISTS (SELECT 1 FROM expert_draws d WHERE d.stage_id = t.stage_id)))
  AND ($1::timestamptz IS NULL OR t.decided_at >= $1) AND ($2::timestamptz IS NULL OR t.decided_at < $2)
ORDER BY t.decided_at, t.id`
	from, to := w.args()
	out := []ConflictedDecision{}
	if err := db.SelectContext(ctx, &out, q, from, to); err != nil {
		return nil, mapError("find conflicted decisions", err)
	}
	return out, nil
}

// PanelScore is one reviewer's weighted total in a scored stage.
type PanelScore struct {
	OversightAct
	TaskID  string `db:"task_id"`
	StageID int64  `db:"stage_id"`
	Stage   string `db:"stage"`
	Round   int    `db:"round"`
	Total   string `db:"total"` // exact decimal text
}

// PanelScores lists the totals of every stage in which at least minPanel
// reviewers have handed in scores, grouped by stage, for stages with a
// total decided within w (the whole panel comes with it).
func (db *DB) PanelScores(ctx context.Context, minPanel int, w OversightWindow) ([]PanelScore, error) {
	const q = `
WITH panels AS (
    SELECT stage_id FROM review_tasks
    WHERE status = 'decided' AND total IS NOT NULL
    GROUP BY stage_id
    HAVING count(*) >= $1::int
       AND ($2::timestamptz IS NULL OR max(decided_at) >= $2) AND ($3::timestamptz IS NULL OR min(decided_at) < $3)
)
SELECT t.id AS task_id, t.stage_id, t.application_id, a.workflow, s.state AS stage, s.round,
    t.assignee_id AS actor_id, u.name AS actor_name, u.username AS actor_username, t.total::text AS total,
    t.decided_at AS at
FROM panels p
JOIN review_tasks t ON t.stage_id = p.stage_id AND t.status = 'decided' AND t.total IS NOT NULL
JOIN review_stages s ON s.id = t.stage_id
JOIN applications a ON a.id = t.application_id
JOIN users u ON u.id = t.assignee_id
ORDER BY t.stage_id, t.position, t.id`
	from, to := w.args()
	out := []PanelScore{}
	if err := db.SelectContext(ctx, &out, q, minPanel, from, to); err != nil {
		return nil, mapError("list panel scores", err)
	}
	return out, nil
}

// LateDecision is a review task decided after it was due.
type LateDecision struct {
	OversightAct
	TaskID   string    `db:"task_id"`
	Stage    string    `db:"stage"`
	Decision string    `db:"decision"`
	Due      time.Time `db:"due_at"`
}

// LateDecisions lists tasks decided (within w) after their due time.
func (db *DB) LateDecisions(ctx context.Context, w OversightWindow) ([]LateDecision, error) {
	const q = `
SELECT t.id AS task_id, t.application_id, a.workflow, s.state AS stage, t.assignee_id AS actor_id,
    u.name AS actor_name, u.username AS actor_username, t.decision, t.due_at, t.decided_at AS at
FROM review_tasks t
JOIN review_stages s ON s.id = t.stage_id
JOIN applications a ON a.id = t.application_id
JOIN users u ON u.id = t.assignee_id
WHERE t.status = 'decided' AND t.due_at IS NOT NULL AND t.decided_at > t.due_at
  AND ($1::timestamptz IS NULL OR t.decided_at >= $1) AND ($2::timestamptz IS NULL OR t.decided_at < $2)
ORDER BY t.decided_at, t.id`
	from, to := w.args()
	out := []LateDecision{}
	if err := db.SelectContext(ctx, &out, q, from, to); err != nil {
		return nil, mapError("find late decisions", err)
	}
	return out, nil
}

// ReturnedApplication is an application handed back to its applicant more
// often than a limit; At is the latest return, and nobody is named.
type ReturnedApplication struct {
	OversightAct
	Returns int `db:"returns"`
}

// ReturnedMoreThan finds applications with more than n transitions that
// are one of returnMoves (MoveKey), not counting a return its reviewer
// recalled (the application's next step is review.recall), whose latest
// return is within w.
func (db *DB) ReturnedMoreThan(ctx context.Context, returnMoves []string, n int, w OversightWindow) ([]ReturnedApplication, error) {
	const q = `
SELECT l.application_id, l.workflow, count(*) AS returns, max(l.at) AS at
FROM audit_log l
CROSS JOIN LATERAL (SELECT l.content::jsonb AS c) j
WHERE l.kind = 'transition' AND l.application_id IS NOT NULL
  AND ` + moveKeySQL + ` = ANY ($1::text[])
  AND NOT EXISTS (SELECT 1 FROM audit_log r
                  WHERE r.application_id = l.application_id AND r.app_seq = l.app_seq + 1 AND r.event = 'review.recall')
GROUP BY l.application_id, l.workflow
HAVING count(*) > $2::int
   AND ($3::timestamptz IS NULL OR max(l.at) >= $3) AND ($4::timestamptz IS NULL OR max(l.at) < $4)
ORDER BY at, l.application_id`
	from, to := w.args()
	out := []ReturnedApplication{}
	if err := db.SelectContext(ctx, &out, q, pq.StringArray(returnMoves), n, from, to); err != nil {
		return nil, mapError("count returns", err)
	}
	return out, nil
}

// ReplacedAttachment is a file added after its application was first
// submitted to a slot (label) that already held one.
type ReplacedAttachment struct {
	OversightAct
	AttachmentID string    `db:"attachment_id"`
	Slot         string    `db:"slot"`
	Name         string    `db:"name"`
	EarlierID    string    `db:"earlier_id"`
	EarlierName  string    `db:"earlier_name"`
	Submitted    time.Time `db:"submitted_at"`
}

// ReplacedAttachments finds files added (within w) after their application's
// first submission to a slot that already held an earlier file. When a
// file was added is its attachment.add entry's time (the engine's clock,
// the same as submitted_at's), else the row's created_at. Files of a
// workflow without slots all have the empty label: there only an earlier
// file of the same name counts.
func (db *DB) ReplacedAttachments(ctx context.Context, w OversightWindow) ([]ReplacedAttachment, error) {
	const q = `
WITH files AS (
    SELECT f.id, f.application_id, f.label, f.name, f.uploaded_by,
        coalesce((SELECT min(l.at) FROM audit_log l
                  WHERE l.application_id = f.application_id AND l.kind = 'attachment.add'
                    AND l.content::jsonb ->> 'subject' = f.id::text), f.created_at) AS at
    FROM attachments f
    JOIN applications a ON a.id = f.application_id AND a.submitted_at IS NOT NULL
)
SELECT n.id AS attachment_id, n.application_id, a.workflow, n.label AS slot, n.name,
    n.uploaded_by AS actor_id, u.name AS actor_name, u.username AS actor_username,
    p.id AS earlier_id, p.name AS earlier_name, a.submitted_at, n.at
FROM files n
JOIN applications a ON a.id = n.application_id
JOIN users u ON u.id = n.uploaded_by
CROSS JOIN LATERAL (
    SELECT p.id, p.name FROM files p
    WHERE p.application_id = n.application_id AND p.id <> n.id AND p.label = n.label
      AND (p.at, p.id) < (n.at, n.id) AND (n.label <> '' OR p.name = n.name)
    ORDER BY p.at DESC, p.id DESC LIMIT 1
) p
WHERE n.at > a.submitted_at
  AND ($1::timestamptz IS NULL OR n.at >= $1) AND ($2::timestamptz IS NULL OR n.at < $2)
ORDER BY n.at, n.id`
	from, to := w.args()
	out := []ReplacedAttachment{}
	if err := db.SelectContext(ctx, &out, q, from, to); err != nil {
		return nil, mapError("find replaced attachments", err)
	}
	return out, nil
}

// NightQuery describes the night hours: from StartHour to EndHour (next
// morning) in the zone OffsetSeconds east of UTC, and how many of an
// account's audited actions in one night count.
type NightQuery struct {
	OffsetSeconds      int
	StartHour, EndHour int
	Min                int
	Window             OversightWindow
}

// NightActivity is one account's actions in one night.
type NightActivity struct {
	ActorID       string    `db:"actor_id"`
	ActorName     string    `db:"actor_name"`
	ActorUsername string    `db:"actor_username"`
	Night         string    `db:"night"` // the evening's date, YYYY-MM-DD
	Actions       int       `db:"actions"`
	First         time.Time `db:"first_at"`
	Last          time.Time `db:"last_at"`
}

// NightActivities counts each account's audited actions (failed sign-ins
// excluded: they are someone trying the name, not the account acting) per
// night, among those made within the window, and lists the nights with at
// least q.Min. A night belongs to the date of its evening.
func (db *DB) NightActivities(ctx context.Context, q NightQuery) ([]NightActivity, error) {
	const sel = `
WITH acts AS (
    SELECT l.actor_id, l.at, (l.at AT TIME ZONE 'UTC') + make_interval(secs => $1::int) AS local
    FROM audit_log l
    WHERE l.actor_id IS NOT NULL AND l.kind <> 'login.failed'
      AND ($5::timestamptz IS NULL OR l.at >= $5) AND ($6::timestamptz IS NULL OR l.at < $6)
)
SELECT a.actor_id, u.name AS actor_name, u.username AS actor_username,
    to_char(a.local - make_interval(hours => $3::int), 'YYYY-MM-DD') AS night,
    count(*) AS actions, min(a.at) AS first_at, max(a.at) AS last_at
FROM acts a
JOIN users u ON u.id = a.actor_id
WHERE extract(hour FROM a.local) >= $2::int OR extract(hour FROM a.local) < $3::int
GROUP BY a.actor_id, u.name, u.username, night
HAVING count(*) >= $4::int
ORDER BY night, a.actor_id`
	from, to := q.Window.args()
	out := []NightActivity{}
	if err := db.SelectContext(ctx, &out, sel, q.OffsetSeconds, q.StartHour, q.EndHour, q.Min, from, to); err != nil {
		return nil, mapError("count night actions", err)
	}
	return out, nil
}
