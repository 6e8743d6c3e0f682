package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
	"github.com/sciflow/sciflow/internal/workflow"
)

// KindObjection is the audit entry of an objection filed.
const KindObjection = "notice.objection"

// NoticeItem is one open public notice (公示), as anyone sees it: never a
// phone number, an ID number or an attachment.
type NoticeItem struct {
	ApplicationID string
	Workflow      string
	WorkflowTitle workflow.Text
	Title         string
	OrgName       string
	Person        string
	Amount        *float64
	Starts        time.Time
	Ends          time.Time
}

// Notices lists the notices whose period is running now, soonest ending
// first; no sign-in is needed.
func (e *Engine) Notices(ctx context.Context) ([]NoticeItem, error) {
	rows, err := e.db.OpenNotices(ctx, e.Now(), e.pausedStates(), postgres.NoticeQuery{})
	if err != nil {
		return nil, err
	}
	return e.noticeItems(rows), nil
}

// MaxNoticesPage is the most notices one page of NoticePage lists.
const MaxNoticesPage = 100

// NoticePage lists up to limit (at most MaxNoticesPage) of the running
// notices, of one workflow or ("") of all, after the position cursor names
// ("" for the first page), soonest ending first; next is the cursor of the
// page after, "" when this is the last. A cursor is opaque to its reader:
// the end and the id of the page's last notice.
func (e *Engine) NoticePage(ctx context.Context, workflowKey, cursor string, limit int) (items []NoticeItem, next string, err error) {
	if limit < 1 || limit > MaxNoticesPage {
		return nil, "", errs.E(errs.Invalid, fmt.Sprintf("每页条数应在 1 到 %d 之间", MaxNoticesPage),
			fmt.Sprintf("a page holds 1 to %d notices", MaxNoticesPage)).Field("per", "超出范围", "out of range")
	}
	q := postgres.NoticeQuery{Workflow: workflowKey, Limit: limit + 1}
	if cursor != "" {
		at, id, ok := parseNoticeCursor(cursor)
		if !ok {
			return nil, "", errs.E(errs.Invalid, "翻页位置无效，请从第一页重新浏览", "invalid page position; start again from the first page").
				Field("after", "无效", "invalid")
		}
		q.After = &postgres.NoticePosition{Ends: at, ID: id}
	}
	rows, err := e.db.OpenNotices(ctx, e.Now(), e.pausedStates(), q)
	if err != nil {
		return nil, "", err
	}
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		next = fmt.Sprintf("%d.%d", last.Ends.UnixMicro(), last.ID)
	}
	return e.noticeItems(rows), next, nil
}

// parseNoticeCursor reads NoticePage's cursor: microseconds since the
// epoch, a dot, a notice id.
func parseNoticeCursor(c string) (time.Time, int64, bool) {
	us, id, ok := strings.Cut(c, ".")
	if !ok {
		return time.Time{}, 0, false
	}
	t, err1 := strconv.ParseInt(us, 10, 64)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if err1 != nil || err2 != nil || n < 1 {
		return time.Time{}, 0, false
	}
	return time.UnixMicro(t), n, true
}

// Notice is an application's running notice; not found when it is not (or
// no longer) on notice. It reads that notice alone, not the whole list.
func (e *Engine) Notice(ctx context.Context, appID string) (NoticeItem, error) {
	rows, err := e.db.OpenNotices(ctx, e.Now(), e.pausedStates(), postgres.NoticeQuery{AppID: appID})
	if err != nil {
		return NoticeItem{}, err
	}
	if len(rows) == 0 {
		return NoticeItem{}, errs.E(errs.NotFound, "该公示不存在或已结束", "no such notice, or its period has ended")
	}
	return e.noticeItems(rows)[0], nil
}

// NoticeCount is how many notices run now, of one workflow or ("") of all,
// counted without listing them.
func (e *Engine) NoticeCount(ctx context.Context, workflowKey string) (int, error) {
	return e.db.CountOpenNotices(ctx, e.Now(), e.pausedStates(), workflowKey)
}

// NoticeWorkflows are the workflows that hold public notices (a state of
// kind notice), by key: what the notice list may be narrowed to.
func (e *Engine) NoticeWorkflows() []*workflow.Definition {
	var out []*workflow.Definition
	for _, d := range e.Workflows() {
		if slices.ContainsFunc(d.States, func(s *workflow.State) bool { return s.Kind == workflow.KindNotice }) {
			out = append(out, d)
		}
	}
	return out
}

func (e *Engine) noticeItems(rows []postgres.Notice) []NoticeItem {
	out := make([]NoticeItem, 0, len(rows))
	for _, n := range rows {
		it := NoticeItem{ApplicationID: n.ApplicationID, Workflow: n.Workflow, Title: n.Title, OrgName: n.OrgName,
			Person: n.Person.String, Starts: n.Starts, Ends: n.Ends, WorkflowTitle: workflow.Text{Zh: n.Workflow, En: n.Workflow}}
		if n.Amount.Valid {
			v := n.Amount.Float64
			it.Amount = &v
		}
		if def, ok := e.Current(n.Workflow); ok {
			it.WorkflowTitle = def.Title
		}
		out = append(out, it)
	}
	return out
}

// pausedStates are "workflow:state" of the states an objection moves a
// notice to (its review): a notice there is still running.
func (e *Engine) pausedStates() []string {
	var out []string
	for _, d := range e.Workflows() {
		for _, s := range d.States {
			if s.OnObjection == "" {
				continue
			}
			if ev, ok := d.Event(s.OnObjection); ok {
				out = append(out, d.Key+":"+ev.To)
			}
		}
	}
	return out
}

// ObjectionInput is a real-name objection (异议) from anyone.
type ObjectionInput struct {
	Name, Phone, Org, Reason string
	// Address is where it came from, for throttling; never shown.
	Address string
}

var phonePattern = regexp.MustCompile(`^[0-9+ -]{6,20}$`)

// ObjectionsPerHour bounds the objections one address files in an hour: a
// public form must not become a way to flood the bureau or the chain.
const ObjectionsPerHour = 10

// Object files a real-name objection to an application's notice while its
// period runs (409 after), and, the first time, fires the notice state's
// objection event so that the decision waits for staff to sustain or
// dismiss it.
func (e *Engine) Object(ctx context.Context, appID string, in ObjectionInput) (string, error) {
	in.Name, in.Phone, in.Org, in.Reason = strings.TrimSpace(in.Name), strings.TrimSpace(in.Phone), strings.TrimSpace(in.Org), strings.TrimSpace(in.Reason)
	bad := errs.E(errs.Invalid, "异议须实名、书面并说明理由", "an objection must give a real name, a phone number and written reasons")
	if in.Name == "" || utf8.RuneCountInString(in.Name) > 100 {
		bad.Field("name", "请填写真实姓名", "your real name is required")
	}
	if !phonePattern.MatchString(in.Phone) {
		bad.Field("phone", "请填写有效的联系电话", "a valid phone number is required")
	}
	if utf8.RuneCountInString(in.Org) > 200 {
		bad.Field("org", "不能超过 200 字", "at most 200 characters")
	}
	if n := utf8.RuneCountInString(in.Reason); n < 10 || n > 5000 {
		bad.Field("reason", "请写明理由（10-5000 字）", "write your reasons (10 to 5000 characters)")
	}
	if len(bad.Fields) > 0 {
		return "", bad
	}
	now := e.Now()
	if in.Address != "" {
		n, oldest, err := e.db.RecentObjections(ctx, in.Address, now.Add(-time.Hour))
		if err != nil {
			return "", err
		}
		if n >= ObjectionsPerHour {
			tooMany := errs.E(errs.TooMany, "提交过于频繁，请稍后再试", "too many objections from here; try again later")
			tooMany.RetryAfter = max(time.Second, oldest.Add(time.Hour).Sub(now))
			return "", tooMany
		}
	}
	tx, err := e.db.Begin(ctx)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	app, err := tx.LockApplication(ctx, nil, appID)
	if err != nil {
		return "", err
	}
	notice, err := tx.LastNotice(ctx, app.ID)
	if errs.CodeOf(err) == errs.NotFound {
		// Never published: as far as the public knows, it does not exist.
		return "", fmt.Errorf("notice of %s: %w", app.ID, errs.ErrNotFound)
	}
	if err != nil {
		return "", err
	}
	def, err := e.Definition(ctx, app.Workflow, app.WorkflowVersion)
	if err != nil {
		return "", err
	}
	st, _ := def.State(notice.State)
	paused := ""
	if st != nil && st.OnObjection != "" {
		if ev, ok := def.Event(st.OnObjection); ok {
			paused = ev.To
		}
	}
	if !now.Before(notice.Ends) || (app.State != notice.State && app.State != paused) {
		return "", errs.E(errs.Conflict, "公示期已结束，不再受理异议", "the notice period has ended; objections are no longer taken")
	}
	id, err := tx.InsertObjection(ctx, postgres.Objection{NoticeID: notice.ID, ApplicationID: app.ID, Name: in.Name,
		Phone: in.Phone, Org: in.Org, Reason: in.Reason, Address: in.Address, Created: now})
	if err != nil {
		return "", err
	}
	phone := sha256.Sum256([]byte(in.Phone))
	entry := audit.Entry{Kind: KindObjection, AtMicros: now.UnixMicro(), ApplicationID: app.ID, Workflow: app.Workflow,
		Subject: id, Comment: in.Reason, Data: map[string]any{"name": in.Name, "org": in.Org, "phone_sha256": hex.EncodeToString(phone[:])}}
	if app.State == notice.State && st.OnObjection != "" {
		// The decision waits: the objection review's tasks go to staff.
		_, err = e.fire(ctx, tx, nil, app, FireInput{Event: st.OnObjection, Comment: "收到实名异议 / objection received"},
			fireOpts{before: []audit.Entry{entry}})
	} else {
		_, err = e.chain.Append(ctx, tx, entry)
	}
	if err != nil {
		return "", err
	}
	return id, tx.Commit()
}

// ObjectionView is an objection as the bureau sees it.
type ObjectionView struct {
	ID, Name, Phone, Org, Reason, Status, Decision string
	Created                                        time.Time
	Decided                                        *time.Time
}

// Objections lists an application's objections for the bureau and
// oversight; whoever else sees the application may not learn who objected.
func (e *Engine) Objections(ctx context.Context, actor *identity.User, appID string) ([]ObjectionView, error) {
	app, err := e.db.Application(ctx, actor, appID)
	if err != nil {
		return nil, err
	}
	if !oversees(app.ScopeRoles) {
		return nil, errs.E(errs.Forbidden, "只有科技局和监督人员可以查看异议", "only the bureau and oversight see objections")
	}
	rows, err := e.db.Objections(ctx, app.ID)
	if err != nil {
		return nil, err
	}
	out := make([]ObjectionView, 0, len(rows))
	for _, o := range rows {
		v := ObjectionView{ID: o.ID, Name: o.Name, Phone: o.Phone, Org: o.Org, Reason: o.Reason, Status: o.Status,
			Decision: o.Decision, Created: o.Created}
		if o.Decided.Valid {
			v.Decided = &o.Decided.Time
		}
		out = append(out, v)
	}
	return out, nil
}

// publicPairs are the "workflow:state" pairs of the definitions' public
// states.
func publicPairs(defs []*workflow.Definition) []string {
	var out []string
	for _, d := range defs {
		for _, s := range d.PublicStates {
			out = append(out, d.Key+":"+s)
		}
	}
	slices.Sort(out)
	return out
}
