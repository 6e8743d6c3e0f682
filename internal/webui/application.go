package webui

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/httpapi"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/workflow"
)

// The application pages: the list, starting one, and the page of one
// application, where everything about it is seen and done: the form, the
// files, the questions of a send back, the timeline, the review stages and
// whatever the caller may decide or fire now.

type appsPage struct {
	Apps      []appRow
	Workflows []option
	States    []option
	Filter    engine.ListInput
	Next      string
}

type appRow struct {
	engine.Application
	Title, WorkflowTitle string
}

func (ui *UI) apps(c echo.Context) error {
	d, err := ui.data(c, "申请", "Applications")
	if err != nil {
		return err
	}
	f := engine.ListInput{Workflow: c.QueryParam("workflow"), State: c.QueryParam("state"), Query: c.QueryParam("q"),
		ParentID: c.QueryParam("parent"), Cursor: c.QueryParam("cursor"), Limit: 50}
	list, next, err := ui.Engine.List(c.Request().Context(), user(c), f)
	if err != nil {
		return err
	}
	p := appsPage{Filter: f, Next: next}
	for _, a := range list {
		p.Apps = append(p.Apps, ui.row(a, d.En))
	}
	for _, def := range ui.Engine.Workflows() {
		p.Workflows = append(p.Workflows, option{Value: def.Key, Label: def.Title.In(d.En)})
		if def.Key == f.Workflow {
			for _, s := range def.States {
				p.States = append(p.States, option{Value: s.Key, Label: s.Title.In(d.En)})
			}
		}
	}
	d.Page = p
	return ui.render(c, http.StatusOK, "apps", d)
}

func (ui *UI) row(a engine.Application, en bool) appRow {
	r := appRow{Application: a, Title: appTitle(a.Data)}
	if def, ok := ui.Engine.Current(a.Workflow); ok {
		r.WorkflowTitle = def.Title.In(en)
		if r.Title == "" {
			r.Title = def.Title.In(en)
		}
	}
	return r
}

// appTitle is what names an application: its title, or the person's name.
func appTitle(data map[string]any) string {
	for _, k := range []string{"title", "name"} {
		if s, ok := data[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

type applyPage struct {
	Programmes []programme
	Challenges []challenge
	// Challenge is the workflow that applies to a challenge.
	Challenge string
}

// apply lists what the user may start, with the challenges open for
// applications.
func (ui *UI) apply(c echo.Context) error {
	d, err := ui.data(c, "申报", "Apply")
	if err != nil {
		return err
	}
	u := user(c)
	var p applyPage
	for _, def := range ui.Engine.Workflows() {
		if def.Parent != "" || !slices.ContainsFunc(def.CreatedBy, u.Has) {
			continue
		}
		if def.RefersTo != nil {
			p.Challenge = def.Key
		}
		p.Programmes = append(p.Programmes, programme{Key: def.Key, Title: def.Title.In(d.En)})
	}
	if p.Challenge != "" {
		all, err := ui.challenges(c, d.En)
		if err != nil {
			return err
		}
		for _, ch := range all {
			if ch.Open {
				p.Challenges = append(p.Challenges, ch)
			}
		}
	}
	d.Page = p
	return ui.render(c, http.StatusOK, "apply", d)
}

type newPage struct {
	Workflow, Title, ParentID string
	Fields                    []field
}

// drawnForm is the form of def as the user fills it in: fields events fill
// in are left out, and a reference is a choice of the records open for it.
func (ui *UI) drawnForm(c echo.Context, def *workflow.Definition, en bool, data map[string]any, errors map[string]string, id string) ([]field, error) {
	s, err := parseSchema(def.FormJSON)
	if err != nil {
		return nil, err
	}
	spec := formSpec{Prefix: "data", IDPrefix: id, En: en, Skip: def.EventFields(), SpareRows: 1}
	if spec.Options, err = ui.refOptions(c, def, en, data); err != nil {
		return nil, err
	}
	return spec.fields(s, data, errors), nil
}

// refOptions offer the records an application may refer to (the open
// challenges), plus the one it names already.
func (ui *UI) refOptions(c echo.Context, def *workflow.Definition, en bool, data map[string]any) (map[string][]option, error) {
	r := def.RefersTo
	if r == nil {
		return nil, nil
	}
	all, err := ui.challenges(c, en)
	if err != nil {
		return nil, err
	}
	opts := []option{{Value: "", Label: pick(en, "请选择", "Choose")}}
	for _, ch := range all {
		if ch.Open || ch.ID == scalarText(data[r.Field]) {
			opts = append(opts, option{Value: ch.ID, Label: ch.Title})
		}
	}
	return map[string][]option{r.Field: opts}, nil
}

func (ui *UI) newApp(c echo.Context) error {
	d, err := ui.data(c, "新建申请", "New application")
	if err != nil {
		return err
	}
	def, ok := ui.Engine.Current(c.QueryParam("workflow"))
	if !ok {
		return errs.E(errs.NotFound, "没有这个申报类别", "no such programme")
	}
	data := map[string]any{}
	if r := def.RefersTo; r != nil && c.QueryParam(r.Field) != "" {
		data[r.Field] = c.QueryParam(r.Field)
	}
	return ui.renderNew(c, d, def, data, http.StatusOK)
}

func (ui *UI) renderNew(c echo.Context, d pageData, def *workflow.Definition, data map[string]any, status int) error {
	fields, err := ui.drawnForm(c, def, d.En, data, d.Errors, "new")
	if err != nil {
		return err
	}
	d.Title = pick(d.En, "新建：", "New: ") + def.Title.In(d.En)
	d.Page = newPage{Workflow: def.Key, Title: def.Title.In(d.En), ParentID: c.FormValue("parent"), Fields: fields}
	return ui.render(c, status, "new", d)
}

// createApp starts an application as a draft; files and submission follow
// on its page.
func (ui *UI) createApp(c echo.Context) error {
	d, err := ui.data(c, "新建申请", "New application")
	if err != nil {
		return err
	}
	if err := ui.checkCSRF(c); err != nil {
		return err
	}
	def, ok := ui.Engine.Current(c.FormValue("workflow"))
	if !ok {
		return errs.E(errs.NotFound, "没有这个申报类别", "no such programme")
	}
	form, err := c.FormParams()
	if err != nil {
		return errs.E(errs.BadRequest, "表单格式不正确", "malformed form")
	}
	s, err := parseSchema(def.FormJSON)
	if err != nil {
		return err
	}
	data := formSpec{Prefix: "data", Skip: def.EventFields()}.readForm(s, form, false)
	app, err := ui.Engine.Create(c.Request().Context(), user(c), engine.CreateInput{Workflow: def.Key, Data: data,
		ParentID: c.FormValue("parent")})
	if err != nil {
		status, ok := failed(&d, err)
		if !ok {
			return err
		}
		return ui.renderNew(c, d, def, data, status)
	}
	return ui.done(c, "/apps/"+app.ID, "草稿已保存。请上传附件，检查无误后提交。",
		"Draft saved. Upload the attachments, check everything, then submit.")
}

// appPage is everything the page of one application shows.
type appPage struct {
	App      engine.Application
	Title    string
	Workflow string
	// Edit is the form when the caller may change it now; View the data
	// read only otherwise.
	Edit      []field
	View      []field
	Submits   []actionForm // the events the edit form can submit with
	Actions   []actionForm
	Tasks     []taskForm
	Slots     []slotView
	Questions []engine.Question
	Answering bool
	// Redactable: an administrator looks at a finished application whose
	// personal data is still kept (the engine judges the retention period).
	Redactable bool
	History    []step
	Stages     []stageView
	Objections []engine.ObjectionView
	Parent     *appRow
	Children   []childGroup
	Assign     []assignForm
	// Failed names the form whose errors the page shows.
	Failed string
}

// actionForm is an event the caller may fire, with what it asks for.
type actionForm struct {
	Event, Title string
	Comment      workflow.CommentRule
	Questions    bool
	Fields       []field
	// Primary events move the application on (submit, approve); the rest
	// (withdraw, terminate) are drawn quieter.
	Danger bool
}

type slotView struct {
	Key, Title       string
	Required, Secret bool
	// Withheld: the slot is confidential and the caller an expert, who is
	// not shown its files.
	Withheld bool
	Files    []engine.Attachment
	Error    string
}

type step struct {
	engine.Transition
	Title, FromTitle, ToTitle, Actor string
	Details                          []field
}

type childGroup struct {
	Workflow, Title string
	CanStart        bool
	Apps            []appRow
}

type assignForm struct {
	State, Title string
}

// posted is a form that failed, shown again as it was sent.
type posted struct {
	form string
	data map[string]any
	// chosen and scores are a decision form's choice and scores as typed.
	chosen string
	scores map[string]string
}

func (ui *UI) showApp(c echo.Context) error {
	d, err := ui.data(c, "申请详情", "Application")
	if err != nil {
		return err
	}
	return ui.renderApp(c, d, http.StatusOK, nil)
}

// renderApp draws the page of an application; after a failed post it
// shows that form again with what was sent and its errors.
func (ui *UI) renderApp(c echo.Context, d pageData, status int, p *posted) error {
	ctx := c.Request().Context()
	u := user(c)
	id := c.Param("id")
	app, err := ui.Engine.Get(ctx, u, id)
	if err != nil {
		return err
	}
	def, err := ui.Engine.Definition(ctx, app.Workflow, app.WorkflowVersion)
	if err != nil {
		return err
	}
	page := appPage{App: app, Title: appTitle(app.Data), Workflow: def.Title.In(d.En)}
	if page.Title == "" {
		page.Title = page.Workflow
	}
	d.Title = page.Title
	errorsFor := func(form string) map[string]string {
		if p != nil && p.form == form {
			return d.Errors
		}
		return map[string]string{}
	}
	if p != nil {
		page.Failed = p.form
	}

	// The form: editable, or read only.
	if app.Editable {
		data := app.Data
		if p != nil && p.form == "edit" {
			data = p.data
		}
		if page.Edit, err = ui.drawnForm(c, def, d.En, data, errorsFor("edit"), "edit"); err != nil {
			return err
		}
	} else {
		s, err := parseSchema(def.FormJSON)
		if err != nil {
			return err
		}
		spec := formSpec{Prefix: "data", IDPrefix: "view", En: d.En}
		if spec.Options, err = ui.refOptions(c, def, d.En, app.Data); err != nil {
			return err
		}
		page.View = spec.fields(s, app.Data, nil)
	}

	// What the caller may fire now: with the form's own submit events
	// beside the form, the rest in the actions box.
	for _, a := range app.Actions {
		ev, ok := def.Event(a.Event)
		if !ok {
			continue
		}
		var data map[string]any
		if p != nil && p.form == "event:"+ev.Key {
			data = p.data
		}
		af, err := actionOf(ev, d.En, data, errorsFor("event:"+ev.Key))
		if err != nil {
			return err
		}
		if app.Editable && ev.ValidateForm && len(af.Fields) == 0 && ev.Comment != workflow.CommentRequired {
			page.Submits = append(page.Submits, af)
			continue
		}
		page.Actions = append(page.Actions, af)
	}

	// Files, by slot.
	files, err := ui.Engine.Attachments(ctx, u, app.ID)
	if err != nil {
		return err
	}
	page.Slots = slotsOf(def, files, d.En, errorsFor("edit"), errorsFor("upload"))
	if expertOnly(app.Through) {
		for i := range page.Slots {
			page.Slots[i].Withheld = page.Slots[i].Secret
		}
	}

	// Questions of send backs, to answer while the application is back.
	if page.Questions, err = ui.Engine.Questions(ctx, u, app.ID); err != nil && errs.CodeOf(err) != errs.Forbidden {
		return err
	}
	page.Answering = app.Editable && slices.ContainsFunc(page.Questions, func(q engine.Question) bool { return !q.Answered })
	page.Redactable = u.Has(identity.Admin) && app.StateKind == workflow.KindTerminal && app.Redacted == nil

	// The timeline and the review stages.
	hist, err := ui.Engine.History(ctx, u, app.ID)
	if err != nil {
		return err
	}
	page.History = stepsOf(def, hist, d.En)
	stages, err := ui.Engine.ReviewRecord(ctx, u, app.ID)
	if err != nil {
		return err
	}
	page.Stages = stageViews(def, stages, d.En)
	for _, st := range stages {
		for _, t := range st.Tasks {
			if t.Assignee.ID == u.ID && t.Status == "open" {
				var data map[string]any
				var chosen string
				var scores map[string]string
				if p != nil && p.form == "task:"+t.ID {
					data, chosen, scores = p.data, p.chosen, p.scores
				}
				tf, err := taskFormOf(def, t, d.En, data, errorsFor("task:"+t.ID), chosen, scores)
				if err != nil {
					return err
				}
				page.Tasks = append(page.Tasks, tf)
			}
		}
	}
	// Staff put reviewers on an assigned stage, or add one (加签).
	if st, ok := def.State(app.State); ok && st.Review != nil && slices.Contains(app.Through, identity.Staff) {
		page.Assign = append(page.Assign, assignForm{State: st.Key, Title: st.Title.In(d.En)})
	}
	if slices.ContainsFunc(app.Through, func(r identity.Role) bool {
		return r == identity.Staff || r == identity.Leader || r == identity.Auditor
	}) {
		if page.Objections, err = ui.Engine.Objections(ctx, u, app.ID); err != nil {
			return err
		}
	}

	// Where it hangs: its parent, and its children by workflow.
	if app.ParentID != "" {
		if parent, err := ui.Engine.Get(ctx, u, app.ParentID); err == nil {
			r := ui.row(parent, d.En)
			page.Parent = &r
		}
	}
	for _, child := range ui.Engine.Workflows() {
		if child.Parent != app.Workflow {
			continue
		}
		kids, _, err := ui.Engine.List(ctx, u, engine.ListInput{Workflow: child.Key, ParentID: app.ID, Limit: 200})
		if err != nil {
			return err
		}
		g := childGroup{Workflow: child.Key, Title: child.Title.In(d.En), CanStart: slices.ContainsFunc(child.CreatedBy, u.Has)}
		for _, k := range kids {
			g.Apps = append(g.Apps, ui.row(k, d.En))
		}
		if len(g.Apps) > 0 || g.CanStart {
			page.Children = append(page.Children, g)
		}
	}
	d.Page = page
	return ui.render(c, status, "app", d)
}

// expertOnly reports whether the caller sees the application only as a
// reviewing expert (the engine withholds confidential files from them).
func expertOnly(through []identity.Role) bool {
	return len(through) > 0 && !slices.ContainsFunc(through, func(r identity.Role) bool { return r != identity.Expert })
}

// actionOf is the small form that fires ev: its payload's fields, a
// comment, questions for a send back.
func actionOf(ev *workflow.Event, en bool, data map[string]any, errors map[string]string) (actionForm, error) {
	af := actionForm{Event: ev.Key, Title: ev.Title.In(en), Comment: ev.Comment, Questions: ev.Questions,
		Danger: strings.Contains(ev.Key, "withdraw") || strings.Contains(ev.Key, "terminat") || strings.Contains(ev.Key, "cancel") ||
			strings.Contains(ev.Key, "reject")}
	if len(ev.DataJSON) > 0 {
		s, err := parseSchema(ev.DataJSON)
		if err != nil {
			return af, err
		}
		af.Fields = formSpec{Prefix: "data", IDPrefix: "ev-" + ev.Key, En: en}.fields(s, data, errors)
	}
	return af, nil
}

func slotsOf(def *workflow.Definition, files []engine.Attachment, en bool, submitErrors, uploadErrors map[string]string) []slotView {
	var out []slotView
	seen := map[string]bool{}
	for _, s := range def.Attachments {
		v := slotView{Key: s.Key, Title: s.Title.In(en), Required: s.Required, Secret: s.Confidential,
			Error: submitErrors["attachments."+s.Key]}
		if msg := uploadErrors["file"]; msg != "" && uploadErrors["slot"] == s.Key {
			v.Error = msg
		}
		for _, f := range files {
			if f.Label == s.Key {
				v.Files = append(v.Files, f)
			}
		}
		seen[s.Key] = true
		out = append(out, v)
	}
	// Files under no declared slot (added over the API with a free label).
	var other slotView
	for _, f := range files {
		if !seen[f.Label] {
			other.Files = append(other.Files, f)
		}
	}
	if len(other.Files) > 0 {
		other.Title = pick(en, "其他附件", "Other files")
		out = append(out, other)
	}
	return out
}

// stepsOf words the history for people: event and state titles, who, and
// what the step carried (an amount, a date).
func stepsOf(def *workflow.Definition, hist []engine.Transition, en bool) []step {
	out := make([]step, 0, len(hist))
	for _, h := range hist {
		s := step{Transition: h, Title: h.Event}
		switch h.Event {
		case "create":
			s.Title = pick(en, "创建", "Created")
		case "review.recall":
			s.Title = pick(en, "取回决定", "Decision recalled")
		}
		if ev, ok := def.Event(h.Event); ok {
			s.Title = ev.Title.In(en)
			if len(ev.DataJSON) > 0 && h.Data != nil {
				if sc, err := parseSchema(ev.DataJSON); err == nil {
					for _, f := range (formSpec{Prefix: "data", IDPrefix: "h" + strconv.Itoa(h.Seq), En: en}).fields(sc, h.Data, nil) {
						if f.Value != "" {
							s.Details = append(s.Details, f)
						}
					}
				}
			}
		}
		if st, ok := def.State(h.From); ok {
			s.FromTitle = st.Title.In(en)
		}
		if st, ok := def.State(h.To); ok {
			s.ToTitle = st.Title.In(en)
		}
		if h.Actor != nil {
			s.Actor = h.Actor.Name
		} else {
			s.Actor = pick(en, "系统", "the system")
		}
		out = append(out, s)
	}
	return out
}

// appPost begins a form post about an application: the page's data (to
// show errors on), the CSRF check, the posted form, and the application and
// its definition as the caller sees them.
func (ui *UI) appPost(c echo.Context, id string) (pageData, url.Values, engine.Application, *workflow.Definition, error) {
	d, err := ui.data(c, "申请详情", "Application")
	if err != nil {
		return d, nil, engine.Application{}, nil, err
	}
	if err := ui.checkCSRF(c); err != nil {
		return d, nil, engine.Application{}, nil, err
	}
	form, err := c.FormParams()
	if err != nil {
		return d, nil, engine.Application{}, nil, errs.E(errs.BadRequest, "表单格式不正确", "malformed form")
	}
	ctx := c.Request().Context()
	app, err := ui.Engine.Get(ctx, user(c), id)
	if err != nil {
		return d, nil, engine.Application{}, nil, err
	}
	def, err := ui.Engine.Definition(ctx, app.Workflow, app.WorkflowVersion)
	return d, form, app, def, err
}

// editApp saves the form; with "then", it also fires that event (submit)
// once the save is in.
func (ui *UI) editApp(c echo.Context) error {
	d, form, app, def, err := ui.appPost(c, c.Param("id"))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	u := user(c)
	s, err := parseSchema(def.FormJSON)
	if err != nil {
		return err
	}
	spec := formSpec{Prefix: "data", Skip: def.EventFields()}
	patch := spec.readForm(s, form, true)
	version, err := strconv.Atoi(c.FormValue("version"))
	if err != nil {
		return errs.E(errs.BadRequest, "缺少版本号，请刷新后重试", "the version is missing; reload and try again")
	}
	shown := mergeData(app.Data, patch)
	app, err = ui.Engine.Patch(ctx, u, app.ID, version, patch)
	if err != nil {
		status, ok := failed(&d, err)
		if !ok {
			return err
		}
		return ui.renderApp(c, d, status, &posted{form: "edit", data: shown})
	}
	then := c.FormValue("then")
	if then == "" {
		return ui.done(c, "/apps/"+app.ID, "已保存。", "Saved.")
	}
	v := app.Version
	_, err = ui.Engine.Fire(ctx, u, app.ID, engine.FireInput{Event: then, ExpectedVersion: &v})
	if err != nil {
		status, ok := failed(&d, err)
		if !ok {
			return err
		}
		d.Message = pick(d.En, "已保存，但未能提交：", "Saved, but not submitted: ") + d.Message
		return ui.renderApp(c, d, status, &posted{form: "edit", data: app.Data})
	}
	return ui.done(c, "/apps/"+app.ID, "已提交。", "Submitted.")
}

// mergeData is the data as it would be after a merge patch, to show the
// form again as the user left it.
func mergeData(data, patch map[string]any) map[string]any {
	out := make(map[string]any, len(data)+len(patch))
	for k, v := range data {
		out[k] = v
	}
	for k, v := range patch {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// fireEvent fires one of the actions with its comment, payload and
// questions.
func (ui *UI) fireEvent(c echo.Context) error {
	d, form, app, def, err := ui.appPost(c, c.Param("id"))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	u := user(c)
	key := c.FormValue("event")
	ev, ok := def.Event(key)
	if !ok {
		return errs.E(errs.Invalid, "没有这个操作", "no such action").Field("event", "未知", "unknown")
	}
	in := engine.FireInput{Event: ev.Key, Comment: strings.TrimSpace(c.FormValue("comment")), Questions: lines(c.FormValue("questions"))}
	if v, err := strconv.Atoi(c.FormValue("version")); err == nil {
		in.ExpectedVersion = &v
	}
	if len(ev.DataJSON) > 0 {
		s, err := parseSchema(ev.DataJSON)
		if err != nil {
			return err
		}
		in.Data = formSpec{Prefix: "data"}.readForm(s, form, false)
	}
	// The event's key makes a double click one transition: the second
	// gets the first's answer.
	in.IdempotencyKey = c.FormValue("nonce")
	if _, err := ui.Engine.Fire(ctx, u, app.ID, in); err != nil {
		status, ok := failed(&d, err)
		if !ok {
			return err
		}
		d.Form["comment"], d.Form["questions"] = in.Comment, c.FormValue("questions")
		return ui.renderApp(c, d, status, &posted{form: "event:" + ev.Key, data: in.Data})
	}
	return ui.done(c, "/apps/"+app.ID, "已办理："+ev.Title.Zh, "Done: "+ev.Title.En)
}

// lines splits a textarea into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// upload stores a file in a slot. A script may send it with progress; it
// gets the same redirect a plain form does.
func (ui *UI) upload(c echo.Context) error {
	d, err := ui.data(c, "申请详情", "Application")
	if err != nil {
		return err
	}
	in, text, err := httpapi.ReadUpload(c, ui.MaxUpload, "_csrf", "slot")
	if err == nil && !ui.Sessions.CheckCSRF(c.Request().Context(), text["_csrf"]) {
		return errs.E(errs.Forbidden, "页面已过期，请刷新后重试", "the page has expired; reload it and try again")
	}
	if err == nil {
		in.Label = text["slot"]
		_, err = ui.Engine.AddAttachment(c.Request().Context(), user(c), c.Param("id"), in)
	}
	if err != nil {
		status, ok := failed(&d, err)
		if !ok {
			return err
		}
		if d.Errors["file"] == "" {
			d.Errors["file"] = d.Message
		}
		d.Errors["slot"] = text["slot"]
		return ui.renderApp(c, d, status, &posted{form: "upload"})
	}
	return ui.done(c, "/apps/"+c.Param("id")+"#files", "文件已上传："+in.Name, "Uploaded: "+in.Name)
}

// answer records the applicant's answers to a send back's questions.
func (ui *UI) answer(c echo.Context) error {
	d, err := ui.data(c, "申请详情", "Application")
	if err != nil {
		return err
	}
	if err := ui.checkCSRF(c); err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return errs.E(errs.BadRequest, "表单格式不正确", "malformed form")
	}
	answers := map[string]string{}
	for k, v := range form {
		if id, ok := strings.CutPrefix(k, "answers."); ok && strings.TrimSpace(v[0]) != "" {
			answers[id] = strings.TrimSpace(v[0])
			d.Form[k] = v[0]
		}
	}
	if _, err := ui.Engine.Answer(c.Request().Context(), user(c), c.Param("id"), answers); err != nil {
		status, ok := failed(&d, err)
		if !ok {
			return err
		}
		return ui.renderApp(c, d, status, &posted{form: "answers"})
	}
	return ui.done(c, "/apps/"+c.Param("id"), "答复已保存。修改完成后请重新提交。", "Answers saved. Submit again when the changes are done.")
}

// redact removes a finished application's personal data after its
// retention period, for an administrator (engine.Redact).
func (ui *UI) redact(c echo.Context) error {
	d, err := ui.data(c, "申请详情", "Application")
	if err != nil {
		return err
	}
	if err := ui.checkCSRF(c); err != nil {
		return err
	}
	r, err := ui.Engine.Redact(c.Request().Context(), user(c), c.Param("id"))
	if err != nil {
		status, ok := failed(&d, err)
		if !ok {
			return err
		}
		return ui.renderApp(c, d, status, &posted{form: "redact"})
	}
	fields := strings.Join(r.Fields, "、")
	return ui.done(c, "/apps/"+c.Param("id"), fmt.Sprintf("个人信息已删除（%s），审计记录 %d 条随之脱敏。", fields, r.Entries),
		fmt.Sprintf("Personal data removed (%s) from the form and %d audit entries.", fields, r.Entries))
}

// addReviewer lets staff name a reviewer for the open stage.
func (ui *UI) addReviewer(c echo.Context) error {
	d, err := ui.data(c, "申请详情", "Application")
	if err != nil {
		return err
	}
	if err := ui.checkCSRF(c); err != nil {
		return err
	}
	d.Form["reviewer"] = strings.TrimSpace(c.FormValue("reviewer"))
	_, err = ui.Engine.AddReviewer(c.Request().Context(), user(c), c.Param("id"), c.FormValue("state"), d.Form["reviewer"])
	if err != nil {
		status, ok := failed(&d, err)
		if !ok {
			return err
		}
		return ui.renderApp(c, d, status, &posted{form: "assign"})
	}
	return ui.done(c, "/apps/"+c.Param("id")+"#review", "已指派评审人："+d.Form["reviewer"], "Reviewer added: "+d.Form["reviewer"])
}
