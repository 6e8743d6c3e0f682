package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/lib/pq"
)

// Notice is one public notice (公示) of an application: what the public list
// shows and when the period ends.
type Notice struct {
	ID            int64           `db:"id"`
	ApplicationID string          `db:"application_id"`
	Workflow      string          `db:"workflow"`
	State         string          `db:"state"`
	Title         string          `db:"title"`
	OrgName       string          `db:"org_name"`
	Person        sql.NullString  `db:"person"`
	Amount        sql.NullFloat64 `db:"amount"`
	Starts        time.Time       `db:"starts_at"`
	Ends          time.Time       `db:"ends_at"`
}

// ResumeNotice finds the application's notice in state whose period has
// not ended at now: re-entering the notice (an objection dismissed)
// resumes it rather than starting another. Not found when there is none.
func (tx *Tx) ResumeNotice(ctx context.Context, appID, state string, now time.Time) (Notice, error) {
	const q = `SELECT n.id, n.application_id, a.workflow, n.state, n.title, n.org_name, n.person, n.amount, n.starts_at, n.ends_at
FROM notices n JOIN applications a ON a.id = n.application_id
WHERE n.application_id = $1 AND n.state = $2 AND n.ends_at > $3 ORDER BY n.id DESC LIMIT 1`
	var n Notice
	if err := tx.GetContext(ctx, &n, q, appID, state, now); err != nil {
		return n, mapError("find notice", err)
	}
	return n, nil
}

// InsertNotice publishes a notice.
func (tx *Tx) InsertNotice(ctx context.Context, n Notice) (int64, error) {
	const q = `INSERT INTO notices (application_id, state, title, org_name, person, amount, starts_at, ends_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`
	var id int64
	if err := tx.GetContext(ctx, &id, q, n.ApplicationID, n.State, n.Title, n.OrgName, n.Person, n.Amount, n.Starts, n.Ends); err != nil {
		return 0, mapError("publish notice", err)
	}
	return id, nil
}

// LastNotice is the application's latest notice; not found when it has had none.
func (tx *Tx) LastNotice(ctx context.Context, appID string) (Notice, error) {
	const q = `SELECT n.id, n.application_id, a.workflow, n.state, n.title, n.org_name, n.person, n.amount, n.starts_at, n.ends_at
FROM notices n JOIN applications a ON a.id = n.application_id
WHERE n.application_id = $1 ORDER BY n.id DESC LIMIT 1`
	var n Notice
	if err := tx.GetContext(ctx, &n, q, appID); err != nil {
		return n, mapError("find notice", err)
	}
	return n, nil
}

// openNotices selects the notices whose period runs at $1, for
// applications still in the notice's state or in the review of an
// objection to it ($2, "workflow:state").
const openNotices = `FROM notices n JOIN applications a ON a.id = n.application_id
WHERE n.starts_at <= $1 AND n.ends_at > $1
  AND (a.state = n.state OR (a.workflow || ':' || a.state) = ANY ($2))
  AND n.id = (SELECT max(id) FROM notices m WHERE m.application_id = n.application_id)`

// NoticeQuery narrows OpenNotices: to one application's notice, to one
// workflow's, and to a page, the Limit notices after a position in the
// list's order (soonest ending first). Zero values narrow nothing.
type NoticeQuery struct {
	AppID    string
	Workflow string
	After    *NoticePosition
	Limit    int
}

// NoticePosition is a notice's place in the list: its end, then its id.
type NoticePosition struct {
	Ends time.Time
	ID   int64
}

// OpenNotices lists the notices whose period runs at now, soonest ending
// first, as q narrows them (none when q names an application that is not
// on notice).
func (db *DB) OpenNotices(ctx context.Context, now time.Time, pausedStates []string, q NoticeQuery) ([]Notice, error) {
	sel := `SELECT n.id, n.application_id, a.workflow, n.state, n.title, n.org_name, n.person, n.amount, n.starts_at, n.ends_at
` + openNotices
	args := []any{now, stringArray(pausedStates)}
	if q.AppID != "" {
		if !isUUID(q.AppID) {
			return nil, nil
		}
		args = append(args, q.AppID)
		sel += ` AND n.application_id = $` + strconv.Itoa(len(args))
	}
	sel += noticeWorkflow(q.Workflow, &args)
	if q.After != nil {
		args = append(args, q.After.Ends, q.After.ID)
		sel += fmt.Sprintf(` AND (n.ends_at, n.id) > ($%d, $%d)`, len(args)-1, len(args))
	}
	sel += ` ORDER BY n.ends_at, n.id`
	if q.Limit > 0 {
		args = append(args, q.Limit)
		sel += ` LIMIT $` + strconv.Itoa(len(args))
	}
	var out []Notice
	if err := db.SelectContext(ctx, &out, sel, args...); err != nil {
		return nil, mapError("list notices", err)
	}
	return out, nil
}

// CountOpenNotices is how many notices OpenNotices would list, of one
// workflow or ("") of all.
func (db *DB) CountOpenNotices(ctx context.Context, now time.Time, pausedStates []string, workflow string) (int, error) {
	args := []any{now, stringArray(pausedStates)}
	q := `SELECT count(*) ` + openNotices + noticeWorkflow(workflow, &args)
	var n int
	if err := db.GetContext(ctx, &n, q, args...); err != nil {
		return 0, mapError("count notices", err)
	}
	return n, nil
}

// noticeWorkflow narrows openNotices to one workflow's, if one is named.
func noticeWorkflow(workflow string, args *[]any) string {
	if workflow == "" {
		return ""
	}
	*args = append(*args, workflow)
	return ` AND a.workflow = $` + strconv.Itoa(len(*args))
}

// Objection is a real-name objection (异议) to a notice.
type Objection struct {
	ID            string       `db:"id"`
	NoticeID      int64        `db:"notice_id"`
	ApplicationID string       `db:"application_id"`
	Name          string       `db:"name"`
	Phone         string       `db:"phone"`
	Org           string       `db:"org"`
	Reason        string       `db:"reason"`
	Address       string       `db:"address"`
	Created       time.Time    `db:"created_at"`
	Status        string       `db:"status"`
	Decided       sql.NullTime `db:"decided_at"`
	Decision      string       `db:"decision"`
}

// InsertObjection stores an objection.
func (tx *Tx) InsertObjection(ctx context.Context, o Objection) (string, error) {
	const q = `INSERT INTO objections (notice_id, application_id, name, phone, org, reason, address, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`
	var id string
	if err := tx.GetContext(ctx, &id, q, o.NoticeID, o.ApplicationID, o.Name, o.Phone, o.Org, o.Reason, o.Address, o.Created); err != nil {
		return "", mapError("store objection", err)
	}
	return id, nil
}

// RecentObjections counts objections filed from address since since, and
// when the oldest of them was.
func (db *DB) RecentObjections(ctx context.Context, address string, since time.Time) (int, time.Time, error) {
	const q = `SELECT count(*), coalesce(min(created_at), now()) FROM objections WHERE address = $1 AND created_at > $2`
	var n int
	var oldest time.Time
	if err := db.QueryRowxContext(ctx, q, address, since).Scan(&n, &oldest); err != nil {
		return 0, time.Time{}, mapError("count objections", err)
	}
	return n, oldest, nil
}

// ResolveObjections decides an application's open objections.
func (tx *Tx) ResolveObjections(ctx context.Context, appID, status, decision string, at time.Time) (int, error) {
	const q = `UPDATE objections SET status = $2, decision = $3, decided_at = $4 WHERE application_id = $1 AND status = 'open'`
	res, err := tx.ExecContext(ctx, q, appID, status, decision, at)
	if err != nil {
		return 0, mapError("resolve objections", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// Objections lists an application's objections, oldest first.
func (db *DB) Objections(ctx context.Context, appID string) ([]Objection, error) {
	const q = `SELECT id, notice_id, application_id, name, phone, org, reason, address, created_at, status, decided_at, decision
FROM objections WHERE application_id = $1 ORDER BY created_at, id`
	var out []Objection
	if err := db.SelectContext(ctx, &out, q, appID); err != nil {
		return nil, mapError("list objections", err)
	}
	return out, nil
}

func stringArray(vs []string) pq.StringArray {
	if vs == nil {
		return pq.StringArray{}
	}
	return pq.StringArray(vs)
}
