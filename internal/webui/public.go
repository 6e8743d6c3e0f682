package webui

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/workflow"
)

// The pages anyone may read without signing in: the start page with the
// programmes and the challenges posted, and the 公示 with its objection form.

// programme is a workflow someone may start, for the start page.
type programme struct {
	Key, Title string
	// Starters are the roles that start it, in words.
	Starters string
}

// challenge is a posted challenge as the start page lists it.
type challenge struct {
	ID, Title, Field, Owner, Deadline string
	Ceiling                           any
	Open                              bool
	// Apply is where to start an application to it: the workflow that
	// refers to it, with the reference filled in.
	Apply string
}

type indexPage struct {
	Programmes []programme
	Challenges []challenge
	Notices    int
}

// visitor reads what is public: no roles, so only the public states of
// each workflow (a published challenge) are visible.
var visitor = &identity.User{}

func (ui *UI) index(c echo.Context) error {
	d, err := ui.data(c, "首页", "Home")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	var p indexPage
	for _, def := range ui.Engine.Workflows() {
		if def.Parent != "" || def.Key == "org_verification" || !startedBy(def, identity.Applicant) {
			continue
		}
		p.Programmes = append(p.Programmes, programme{Key: def.Key, Title: def.Title.In(d.En)})
	}
	if p.Challenges, err = ui.challenges(c, d.En); err != nil {
		return err
	}
	if p.Notices, err = ui.Engine.NoticeCount(ctx, ""); err != nil {
		return err
	}
	d.Page = p
	return ui.render(c, http.StatusOK, "index", d)
}

// challenges lists the challenges posted (a workflow that others refer
// to, in a public state), open ones first.
func (ui *UI) challenges(c echo.Context, en bool) ([]challenge, error) {
	var out []challenge
	for _, def := range ui.Engine.Workflows() {
		if len(def.PublicStates) == 0 {
			continue
		}
		apps, _, err := ui.Engine.List(c.Request().Context(), visitor, engine.ListInput{Workflow: def.Key, Limit: 50})
		if err != nil {
			return nil, err
		}
		open, apply := openStates(ui.Engine, def.Key)
		for _, a := range apps {
			ch := challenge{ID: a.ID, Title: dataText(a.Data, "title"), Field: dataText(a.Data, "field"),
				Owner: dataText(a.Data, "owner"), Deadline: dataText(a.Data, "deadline"), Ceiling: a.Data["budget_ceiling"],
				Open: open[a.State]}
			if ch.Open && apply != nil {
				ch.Apply = "/apps/new?workflow=" + url.QueryEscape(apply.Key) + "&" + url.QueryEscape(apply.RefersTo.Field) + "=" + a.ID
			}
			out = append(out, ch)
		}
	}
	// Open ones first; the list is otherwise newest first.
	var first, rest []challenge
	for _, ch := range out {
		if ch.Open {
			first = append(first, ch)
		} else {
			rest = append(rest, ch)
		}
	}
	return append(first, rest...), nil
}

// openStates are the states of key that another workflow's applications
// may refer to (where a challenge takes applications), and that workflow.
func openStates(e *engine.Engine, key string) (map[string]bool, *workflow.Definition) {
	out := map[string]bool{}
	var by *workflow.Definition
	for _, def := range e.Workflows() {
		if r := def.RefersTo; r != nil && r.Workflow == key {
			by = def
			for _, s := range r.States {
				out[s] = true
			}
		}
	}
	return out, by
}

func startedBy(def *workflow.Definition, r identity.Role) bool {
	for _, x := range def.CreatedBy {
		if x == r {
			return true
		}
	}
	return false
}

func dataText(data map[string]any, key string) string {
	if v, ok := data[key]; ok && v != nil {
		return scalarText(v)
	}
	return ""
}

type noticePage struct {
	Notices []engine.NoticeItem
	Notice  *engine.NoticeItem
	Filed   bool
	// The list's programme filter and its choices, how many notices it
	// holds, and links to its next and first pages.
	Workflow    string
	Workflows   []option
	Count       int
	Next, First string
}

// noticesPerPage is the notices the list shows at once unless ?per= asks
// for another number (at most engine.MaxNoticesPage).
const noticesPerPage = 50

// notices lists the running notices a page at a time, of one programme or
// of all: a province runs thousands.
func (ui *UI) notices(c echo.Context) error {
	d, err := ui.data(c, "公示", "Public notices")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	p := noticePage{Workflow: c.QueryParam("workflow")}
	for _, def := range ui.Engine.NoticeWorkflows() {
		p.Workflows = append(p.Workflows, option{Value: def.Key, Label: def.Title.In(d.En)})
	}
	if p.Workflow != "" && !slices.ContainsFunc(p.Workflows, func(o option) bool { return o.Value == p.Workflow }) {
		return errs.E(errs.NotFound, "没有这个公示类别", "no such programme of notices")
	}
	per := noticesPerPage
	if v := c.QueryParam("per"); v != "" {
		if per, err = strconv.Atoi(v); err != nil {
			per = 0 // refused below with the range
		}
	}
	next := ""
	if p.Notices, next, err = ui.Engine.NoticePage(ctx, p.Workflow, c.QueryParam("after"), per); err != nil {
		return err
	}
	if p.Count, err = ui.Engine.NoticeCount(ctx, p.Workflow); err != nil {
		return err
	}
	link := func(after string) string {
		q := url.Values{}
		if p.Workflow != "" {
			q.Set("workflow", p.Workflow)
		}
		if per != noticesPerPage {
			q.Set("per", strconv.Itoa(per))
		}
		if after != "" {
			q.Set("after", after)
		}
		if len(q) == 0 {
			return "/notices"
		}
		return "/notices?" + q.Encode()
	}
	if next != "" {
		p.Next = link(next)
	}
	if c.QueryParam("after") != "" {
		p.First = link("")
	}
	d.Page = p
	return ui.render(c, http.StatusOK, "notices", d)
}

// findNotice is the running notice of an application: 404 when it is not
// (or no longer) on notice.
func (ui *UI) findNotice(c echo.Context) (*engine.NoticeItem, error) {
	n, err := ui.Engine.Notice(c.Request().Context(), c.Param("id"))
	if err != nil {
		return nil, err
	}
	return &n, nil
}

func (ui *UI) notice(c echo.Context) error {
	d, err := ui.data(c, "公示详情", "Public notice")
	if err != nil {
		return err
	}
	n, err := ui.findNotice(c)
	if err != nil {
		return err
	}
	d.Page = noticePage{Notice: n}
	return ui.render(c, http.StatusOK, "notice", d)
}

// object files a real-name objection from the public form.
func (ui *UI) object(c echo.Context) error {
	d, err := ui.data(c, "公示详情", "Public notice")
	if err != nil {
		return err
	}
	if err := ui.checkCSRF(c); err != nil {
		return err
	}
	n, err := ui.findNotice(c)
	if errs.CodeOf(err) == errs.NotFound {
		// The period ended while the form was open: say so on the page.
		d.Message = pick(d.En, "公示期已结束，不再受理异议。", "The notice period has ended; objections are no longer accepted.")
		return ui.render(c, http.StatusConflict, "done", d)
	}
	if err != nil {
		return err
	}
	for _, k := range []string{"name", "phone", "org", "reason"} {
		d.Form[k] = strings.TrimSpace(c.FormValue(k))
	}
	_, err = ui.Engine.Object(c.Request().Context(), n.ApplicationID, engine.ObjectionInput{Name: d.Form["name"],
		Phone: d.Form["phone"], Org: d.Form["org"], Reason: d.Form["reason"], Address: c.RealIP()})
	if err != nil {
		status, ok := failed(&d, err)
		if !ok {
			return err
		}
		d.Page = noticePage{Notice: n}
		return ui.render(c, status, "notice", d)
	}
	d.Title = pick(d.En, "异议已提交", "Objection filed")
	d.Message = pick(d.En, "您的实名异议已提交，科技局将在核查后作出处理。公示期间，该事项暂停办理。",
		"Your objection has been filed under your name. The bureau will look into it; the matter waits meanwhile.")
	return ui.render(c, http.StatusCreated, "done", d)
}
