package webui

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
	"github.com/sciflow/sciflow/internal/workflow"
)

// The audit log with its filters, export and the chain's verification.

// auditPageSize is how many entries a page of the log shows.
const auditPageSize = 50

type auditPage struct {
	Filter    auditForm
	Rows      []auditRow
	Workflows []option
	Events    []option
	// Next and First are links to the following and the first page; Export
	// and ExportXLSX are the files of everything the filters select.
	Next, First, Export, ExportXLSX string
	// SearchLimited: the reader is an administrator, whose search finds only
	// entries not about an application (whose comments and data they may
	// not read).
	SearchLimited bool
	Verify        *verifyView
	Invalid       bool
}

// auditForm is the filter as typed: an actor by username or id, dates as
// days in China time, Q the text searched for in comments and data.
type auditForm struct {
	Actor, Workflow, Event, App, From, To, Q, Cursor string
}

type auditRow struct {
	Seq               int64
	At                time.Time
	Kind, KindWord    string
	Actor, ActorLogin string
	System            bool
	AppID, AppShort   string
	Workflow, Event   string
	From, To          string
	Stage             string
	Comment, Subject  string
	SubjectName       string
	Hash, HashShort   string
	HasElement        bool
	Console, Public   bool
}

type verifyView struct {
	audit.Report
	Took string
	// Found are the report's problems with their kinds in words.
	Found []problemRow
}

type problemRow struct {
	audit.Problem
	KindWord string
	// Where names the entry, seal or application in the page's language.
	Where string
}

// problemWhere is Problem.Where in Chinese, or as it is in English.
func problemWhere(p audit.Problem, en bool) string {
	switch {
	case en:
		return p.Where()
	case p.ApplicationID != "":
		return "申请 " + p.ApplicationID
	case p.Chain != "":
		return fmt.Sprintf("链 %s 第 %d 条", p.Chain, p.ChainSeq)
	case p.Seal != 0:
		return fmt.Sprintf("第 %d 次封存", p.Seal)
	}
	return fmt.Sprintf("旧链第 %d 条", p.Seq)
}

func (ui *UI) auditLog(c echo.Context) error { return ui.renderAudit(c, false) }

// auditVerify runs GET /api/v1/audit/verify's check and shows it above the
// log: it reads and changes nothing, so a link may start it.
func (ui *UI) auditVerify(c echo.Context) error { return ui.renderAudit(c, true) }

func (ui *UI) renderAudit(c echo.Context, verify bool) error {
	u := user(c)
	if err := requireOversight(u); err != nil {
		return err
	}
	d, err := ui.data(c, "审计日志", "Audit log")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	f := auditForm{Actor: strings.TrimSpace(c.QueryParam("actor")), Workflow: c.QueryParam("workflow"), Event: c.QueryParam("event"),
		App: strings.TrimSpace(c.QueryParam("application_id")), From: c.QueryParam("from"), To: c.QueryParam("to"),
		Q: strings.TrimSpace(c.QueryParam("q")), Cursor: c.QueryParam("cursor")}
	p := auditPage{Filter: f, SearchLimited: !u.Has(identity.Auditor)}
	for _, def := range ui.Engine.Workflows() {
		p.Workflows = append(p.Workflows, option{Value: def.Key, Label: def.Title.In(d.En)})
		if def.Key == f.Workflow {
			for _, e := range def.Events {
				p.Events = append(p.Events, option{Value: e.Key, Label: e.Title.In(d.En)})
			}
		}
	}
	if verify {
		start := time.Now()
		r, err := ui.Chain.Verify(ctx, ui.DB)
		if err != nil {
			return err
		}
		v := &verifyView{Report: r, Took: time.Since(start).Round(time.Millisecond).String()}
		for _, pr := range r.Problems {
			v.Found = append(v.Found, problemRow{Problem: pr, KindWord: word(problemWords, pr.Kind, d.En), Where: problemWhere(pr, d.En)})
		}
		p.Verify = v
	}
	q, api, err := ui.auditQuery(ctx, u, f)
	status := http.StatusOK
	if err == nil {
		var rows []postgres.AuditRow
		if rows, err = ui.DB.AuditEntries(ctx, q); err == nil {
			p.Rows, err = ui.auditRows(ctx, user(c), rows, d.En)
			if err == nil && len(rows) == q.Limit {
				next := url.Values{}
				for k, v := range filterValues(f) {
					next[k] = v
				}
				next.Set("cursor", strconv.FormatInt(rows[len(rows)-1].Seq, 10))
				p.Next = "/audit?" + next.Encode()
			}
		}
	}
	if err != nil {
		var ok bool
		if status, ok = failed(&d, err); !ok {
			return err
		}
		p.Invalid = true
	} else {
		p.Export = "/api/v1/audit/export?" + api.Encode()
		api.Set("format", "xlsx")
		p.ExportXLSX = "/api/v1/audit/export?" + api.Encode()
	}
	if f.Cursor != "" {
		p.First = "/audit?" + filterValues(f).Encode()
	}
	d.Page = p
	return ui.render(c, status, "console_audit", d)
}

// filterValues are the page's filters as typed, for its links.
func filterValues(f auditForm) url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"actor": f.Actor, "workflow": f.Workflow, "event": f.Event,
		"application_id": f.App, "from": f.From, "to": f.To, "q": f.Q} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// auditQuery turns the typed filters into the storage query for reader,
// and into the parameters GET /api/v1/audit/export takes for the same
// selection (an actor's id, RFC 3339 times).
func (ui *UI) auditQuery(ctx context.Context, reader *identity.User, f auditForm) (postgres.AuditQuery, url.Values, error) {
	q := postgres.AuditQuery{Workflow: f.Workflow, Event: f.Event, ApplicationID: f.App, Search: f.Q,
		SearchOutsideApplications: !reader.Has(identity.Auditor), Limit: auditPageSize}
	api := url.Values{}
	if f.Actor != "" {
		q.ActorID = f.Actor
		if !looksLikeID(f.Actor) {
			a, err := ui.DB.UserByUsername(ctx, strings.ToLower(f.Actor))
			if errs.CodeOf(err) == errs.NotFound {
				return q, nil, errs.E(errs.Invalid, "没有这个用户："+f.Actor, "no such user: "+f.Actor).Field("actor", "没有这个用户", "no such user")
			}
			if err != nil {
				return q, nil, err
			}
			q.ActorID = a.ID
		}
		api.Set("actor", q.ActorID)
	}
	var err error
	if q.From, err = day(f.From, "from"); err != nil {
		return q, nil, err
	}
	if q.To, err = day(f.To, "to"); err != nil {
		return q, nil, err
	}
	if !q.To.IsZero() {
		q.To = q.To.AddDate(0, 0, 1) // the whole of the last day
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.To.After(q.From) {
		return q, nil, errs.E(errs.Invalid, "结束日期早于开始日期", "the end date is before the start date").Field("to", "早于开始日期", "before the start date")
	}
	if f.Cursor != "" {
		n, err := strconv.ParseInt(f.Cursor, 10, 64)
		if err != nil || n < 0 {
			return q, nil, errs.E(errs.BadRequest, "分页游标无效", "invalid cursor").Field("cursor", "无效", "invalid")
		}
		q.AfterSeq = n
	}
	for k, v := range map[string]string{"workflow": q.Workflow, "event": q.Event, "application_id": q.ApplicationID, "q": q.Search} {
		if v != "" {
			api.Set(k, v)
		}
	}
	if !q.From.IsZero() {
		api.Set("from", q.From.Format(time.RFC3339))
	}
	if !q.To.IsZero() {
		api.Set("to", q.To.Format(time.RFC3339))
	}
	api.Set("format", "csv")
	return q, api, nil
}

func looksLikeID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	return err == nil
}

// day reads a date input as the start of that day in China.
func day(s, name string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation("2006-01-02", s, calendar.China)
	if err != nil {
		return t, errs.E(errs.Invalid, "日期格式应为 2006-01-02", "a date is written 2006-01-02").Field(name, "日期格式应为 年-月-日", "a date as year-month-day")
	}
	return t, nil
}

// auditRows decodes a page of entries and names their actors, users and
// states, with one query for all the people on the page.
func (ui *UI) auditRows(ctx context.Context, reader *identity.User, rows []postgres.AuditRow, en bool) ([]auditRow, error) {
	recs := make([]audit.Recorded, 0, len(rows))
	var ids []string
	for _, row := range rows {
		rec, err := audit.Decode(row)
		if err != nil {
			return nil, err
		}
		rec = rec.ForReader(reader)
		recs = append(recs, rec)
		if rec.ActorID != "" {
			ids = append(ids, rec.ActorID)
		}
		if rec.Subject != "" && strings.HasPrefix(rec.Kind, "user.") {
			ids = append(ids, rec.Subject)
		}
	}
	people, err := ui.DB.UsersByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]identity.User, len(people))
	for _, p := range people {
		byID[p.ID] = p
	}
	defs := map[string]*workflow.Definition{}
	definition := func(key string, version int) *workflow.Definition {
		k := key + "@" + strconv.Itoa(version)
		if def, ok := defs[k]; ok {
			return def
		}
		def, err := ui.Engine.Definition(ctx, key, version)
		if err != nil {
			def, _ = ui.Engine.Current(key)
		}
		defs[k] = def
		return def
	}
	out := make([]auditRow, 0, len(recs))
	for _, rec := range recs {
		h := hex.EncodeToString(rec.Hash)
		r := auditRow{Seq: rec.Seq, At: rec.At(), Kind: rec.Kind, KindWord: word(auditKindWords, rec.Kind, en),
			System: rec.ActorID == "", AppID: rec.ApplicationID, Workflow: rec.Workflow, Event: rec.Event, From: rec.From, To: rec.To,
			Comment: rec.Comment, Subject: rec.Subject, Hash: h, HashShort: h[:min(12, len(h))]}
		if a, ok := byID[rec.ActorID]; ok {
			r.Actor, r.ActorLogin = a.Name, a.Username
		} else if rec.ActorID != "" {
			r.Actor = rec.ActorID
		}
		if s, ok := byID[rec.Subject]; ok && strings.HasPrefix(rec.Kind, "user.") {
			r.SubjectName = s.Name + "（" + s.Username + "）"
		} else if name, ok := rec.Data["name"].(string); ok && rec.Kind == audit.KindOrgCreate {
			r.SubjectName = name
		}
		// No actor: the operator at the console, or the system itself (a
		// timer, a stage's outcome).
		r.Console = r.System && rec.Data["via"] == "console"
		// An objection comes from the public, who hold no account.
		r.Public = r.System && rec.Kind == engine.KindObjection
		if len(r.AppID) >= 8 {
			r.AppShort = r.AppID[:8]
		}
		if name, ok := rec.Data["name"].(string); ok && rec.Kind == audit.KindAttachment {
			r.SubjectName = name
		}
		// A reviewer's entry names its stage and decision in its data.
		stage, _ := rec.Data["stage"].(string)
		decision, _ := rec.Data["decision"].(string)
		if rec.Workflow != "" {
			if def := definition(rec.Workflow, rec.WorkflowVersion); def != nil {
				r.Workflow = def.Title.In(en)
				switch {
				case rec.Event == "create":
					r.Event = pick(en, "创建", "created")
				case rec.Event != "":
					r.Event = eventWord(def, rec.Event, en)
				case decision != "":
					r.Event = eventWord(def, decision, en)
				}
				if s, ok := def.State(rec.From); ok {
					r.From = s.Title.In(en)
				}
				if s, ok := def.State(rec.To); ok {
					r.To = s.Title.In(en)
				}
				if s, ok := def.State(stage); ok {
					r.Stage = s.Title.In(en)
				}
			}
		}
		r.HasElement = r.Workflow != "" || r.Event != "" || r.From != "" || r.To != ""
		out = append(out, r)
	}
	return out, nil
}
