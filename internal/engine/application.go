package engine

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
	"github.com/sciflow/sciflow/internal/workflow"
)

// Application is an application as one caller sees it.
type Application struct {
	ID              string
	Workflow        string
	WorkflowVersion int
	State           string
	StateTitle      workflow.Text
	StateKind       workflow.StateKind
	Version         int
	Data            map[string]any
	Org             OrgRef
	Applicant       UserRef
	ParentID        string
	Created         time.Time
	Updated         time.Time
	Deadline        *time.Time
	// Redacted is when the personal data was removed after the retention
	// period (Redact); nil while it is kept.
	Redacted *time.Time
	// Actions are the events the caller may fire now, sorted by key.
	Actions []Action
	// Editable says the caller may change the form in the current state.
	Editable bool
	// Through are the caller's roles through which they see the
	// application (applicant, party, staff, public...).
	Through []identity.Role
}

// OrgRef names an organisation.
type OrgRef struct {
	ID   string
	Name string
	Kind string
}

// UserRef names a person.
type UserRef struct {
	ID       string
	Username string
	Name     string
}

// Action is an event the caller may fire.
type Action struct {
	Event string
	Title workflow.Text
}

// Transition is one step of an application's history.
type Transition struct {
	Seq     int
	Event   string
	From    string
	To      string
	Actor   *UserRef // nil: the system
	Comment string
	Data    map[string]any
	At      time.Time
	Hash    string
}

// CreateInput starts an application.
type CreateInput struct {
	Workflow string
	Data     map[string]any
	ParentID string
}

// Create starts an application of the workflow's current version in its
// initial state, recording the creation as the first step of its history.
func (e *Engine) Create(ctx context.Context, actor *identity.User, in CreateInput) (Application, error) {
	tx, err := e.db.Begin(ctx)
	if err != nil {
		return Application{}, err
	}
	defer tx.Rollback()
	view, err := e.CreateIn(ctx, tx, actor, in)
	if err != nil {
		return Application{}, err
	}
	if err := tx.Commit(); err != nil {
		return Application{}, err
	}
	return view, nil
}

// CreateIn is Create inside the caller's transaction, for work that starts
// an application together with other changes (a registration).
func (e *Engine) CreateIn(ctx context.Context, tx *postgres.Tx, actor *identity.User, in CreateInput) (Application, error) {
	def, ok := e.Current(in.Workflow)
	if !ok {
		return Application{}, unknownWorkflow(in.Workflow)
	}
	if !slices.ContainsFunc(def.CreatedBy, actor.Has) {
		return Application{}, errs.E(errs.Forbidden, "您的角色不能发起此类申请", "your role cannot start this kind of application")
	}
	if in.Data == nil {
		in.Data = map[string]any{}
	}
	if err := workflow.Validate(def.Form, in.Data, "data", workflow.Partial); err != nil {
		return Application{}, err
	}
	if err := eventFieldsUntouched(def, in.Data, nil); err != nil {
		return Application{}, err
	}
	initial, _ := def.State(def.Initial)
	now := e.Now()
	n := postgres.NewApplication{Workflow: def.Key, WorkflowVersion: def.Version, State: def.Initial, Data: in.Data,
		OrgID: actor.OrgID, ApplicantID: actor.ID, At: now, Deadline: e.deadlineFor(initial, now),
		// Applications that begin in review (an instalment a case officer
		// opens) are in the bureau's hands from the start.
		Submitted: initial.Kind != workflow.KindEdit}
	switch {
	case def.Parent != "" && in.ParentID == "":
		return Application{}, errs.E(errs.Invalid, "须指明所属的上级申请", "a parent application is required").
			Field("parent_id", "必填", "required")
	case def.Parent == "" && in.ParentID != "":
		return Application{}, errs.E(errs.Invalid, "此类申请没有上级申请", "this kind of application has no parent").
			Field("parent_id", "不应填写", "not allowed")
	case def.Parent != "":
		parent, err := tx.LockApplication(ctx, actor, in.ParentID)
		if err != nil {
			return Application{}, err
		}
		if parent.Workflow != def.Parent {
			return Application{}, errs.E(errs.Invalid, "上级申请的类型不符", "the parent is of the wrong workflow").
				Field("parent_id", "应为 "+def.Parent, "must be a "+def.Parent)
		}
		// A child belongs to the parent's applicant and organisation, and
		// involves the parent's third party.
		n.ParentID, n.OrgID, n.ApplicantID, n.PartyOrgID = parent.ID, parent.OrgID, parent.ApplicantID, parent.PartyOrgID
	}
	// Who it is for and what it is about are settled before it exists: the
	// reference must take applications (409), the party be a real
	// organisation of the right kind, the workflow's own guards hold.
	ref, err := e.reference(ctx, tx, actor, def, in.Data)
	if err != nil {
		return Application{}, err
	}
	if err := referenceOpen(def, ref); err != nil {
		return Application{}, err
	}
	if n.PartyOrgID, err = e.party(ctx, tx, def, in.Data, n.PartyOrgID); err != nil {
		return Application{}, err
	}
	if len(def.CreateGuards) > 0 {
		org, err := tx.OrgByRef(ctx, n.OrgID)
		if err != nil {
			return Application{}, err
		}
		draft := postgres.Application{Workflow: def.Key, State: def.Initial, Data: in.Data, OrgID: n.OrgID,
			OrgParentID: org.ParentID, ApplicantID: n.ApplicantID, ParentID: n.ParentID}
		env := e.guardEnv(ctx, tx, actor, draft, nil)
		env.Ref = refEnv(ref)
		if env.Agg, err = e.aggregates(ctx, tx, def, draft, in.Data, guardAggregates(def.CreateGuards, nil)); err != nil {
			return Application{}, err
		}
		if err := checkGuardList(def.CreateGuards, env); err != nil {
			return Application{}, err
		}
	}
	id, err := tx.InsertApplication(ctx, n)
	if err != nil {
		return Application{}, err
	}
	created := postgres.Application{ID: id, Workflow: def.Key, State: def.Initial, Data: in.Data, OrgID: n.OrgID}
	if err := e.enterState(ctx, tx, def, created, initial, now); err != nil {
		return Application{}, err
	}
	entry := audit.Entry{Kind: audit.KindTransition, AtMicros: now.UnixMicro(), ActorID: actor.ID,
		ApplicationID: id, AppSeq: 1, Workflow: def.Key, WorkflowVersion: def.Version, Event: "create", To: def.Initial,
		Data: map[string]any{"data_sha256": dataHash(in.Data)}}
	app, err := readBack(ctx, tx, actor, id)
	if err != nil {
		return Application{}, err
	}
	// An application that starts under review (an instalment the bureau
	// opens for the employer to confirm) starts its first stage too.
	var draws []audit.Entry
	if initial.Review != nil {
		hist := []audit.Recorded{{Entry: entry}}
		if draws, err = e.openStage(ctx, tx, def, app, initial, hist, n.Deadline, actor, now); err != nil {
			return Application{}, err
		}
	}
	view, err := e.view(ctx, tx, actor, app, def, knownHistory([]audit.Recorded{{Entry: entry}}))
	if err != nil {
		return Application{}, err
	}
	// Last, so the chain's head stays locked only until the commit.
	if _, err := e.chain.Append(ctx, tx, entry); err != nil {
		return Application{}, err
	}
	if err := e.appendAll(ctx, tx, draws); err != nil {
		return Application{}, err
	}
	return view, nil
}

// Get is one application as actor sees it; not found when they may not.
func (e *Engine) Get(ctx context.Context, actor *identity.User, id string) (Application, error) {
	app, err := e.db.Application(ctx, actor, id)
	if err != nil {
		return Application{}, err
	}
	def, err := e.Definition(ctx, app.Workflow, app.WorkflowVersion)
	if err != nil {
		return Application{}, err
	}
	return e.view(ctx, e.db, actor, app, def, storedHistory(ctx, e.db, app.ID))
}

// ListInput filters a list of applications.
type ListInput = postgres.ApplicationFilter

// List returns what actor may see, newest first.
func (e *Engine) List(ctx context.Context, actor *identity.User, in ListInput) ([]Application, string, error) {
	if in.Limit <= 0 || in.Limit > 200 {
		in.Limit = 50
	}
	apps, next, err := e.db.Applications(ctx, actor, in)
	if err != nil {
		return nil, "", err
	}
	// The first item that needs its history (to list actions) loads the
	// whole page's in one query.
	var page map[string][]postgres.HistoryRow
	pageHistory := func(id string) historyLoader {
		return func() ([]audit.Recorded, error) {
			if page == nil {
				ids := make([]string, len(apps))
				for i, a := range apps {
					ids[i] = a.ID
				}
				if page, err = e.db.Histories(ctx, ids); err != nil {
					return nil, err
				}
			}
			return decodeHistory(page[id])
		}
	}
	out := make([]Application, 0, len(apps))
	for _, a := range apps {
		def, err := e.Definition(ctx, a.Workflow, a.WorkflowVersion)
		if err != nil {
			return nil, "", err
		}
		v, err := e.view(ctx, e.db, actor, a, def, pageHistory(a.ID))
		if err != nil {
			return nil, "", err
		}
		out = append(out, v)
	}
	return out, next, nil
}

// historyReader is the storage both DB and Tx offer for a view.
type historyReader interface {
	History(ctx context.Context, appID string) ([]postgres.HistoryRow, error)
}

// appReader reads an application: the transaction when there is one, so a
// change sees its own snapshot and holds one connection, not two.
type appReader interface {
	Application(ctx context.Context, viewer *identity.User, id string) (postgres.Application, error)
}

// historyLoader yields an application's history when a view needs it (only
// to list actions, and then once).
type historyLoader func() ([]audit.Recorded, error)

func storedHistory(ctx context.Context, r historyReader, appID string) historyLoader {
	return func() ([]audit.Recorded, error) {
		rows, err := r.History(ctx, appID)
		if err != nil {
			return nil, err
		}
		return decodeHistory(rows)
	}
}

func knownHistory(h []audit.Recorded) historyLoader {
	return func() ([]audit.Recorded, error) { return h, nil }
}

// view is app as actor sees it, with the actions actor may take now.
func (e *Engine) view(ctx context.Context, r appReader, actor *identity.User, app postgres.Application, def *workflow.Definition, history historyLoader) (Application, error) {
	st, _ := def.State(app.State)
	v := Application{ID: app.ID, Workflow: app.Workflow, WorkflowVersion: app.WorkflowVersion, State: app.State,
		Version: app.Version, Data: app.Data, ParentID: app.ParentID, Created: app.Created, Updated: app.Updated,
		Deadline: app.Deadline, Redacted: app.RedactedAt, Actions: []Action{},
		Org:       OrgRef{ID: app.OrgID, Name: app.OrgName, Kind: app.OrgKind},
		Applicant: UserRef{ID: app.ApplicantID, Username: app.ApplicantLogin, Name: app.ApplicantName}}
	if st != nil {
		v.StateTitle, v.StateKind = st.Title, st.Kind
		v.Editable = actor != nil && st.MayEdit(app.ScopeRoles)
	}
	v.Through = app.ScopeRoles
	if oversightOnly(app.ScopeRoles) {
		// Administrators oversee the process, not the content: no form data.
		v.Data = map[string]any{}
	}
	if actor == nil {
		return v, nil
	}
	var hist []audit.Recorded
	var env *workflow.Env
	for _, ev := range def.EventsFrom(app.State) {
		if ev.System || !ev.MayFire(app.ScopeRoles) || st != nil && st.Review != nil && st.Review.DecidesBy(ev.Key) {
			continue
		}
		if env == nil {
			h, err := history()
			if err != nil {
				return v, err
			}
			hist = h
			ge := e.guardEnv(ctx, r, actor, app, nil)
			env = &ge
		}
		if separationOfDuties(def, app, ev, actor, hist) != nil {
			continue
		}
		if passesGuards(ev, *env) {
			v.Actions = append(v.Actions, Action{Event: ev.Key, Title: ev.Title})
		}
	}
	return v, nil
}

func decodeHistory(rows []postgres.HistoryRow) ([]audit.Recorded, error) {
	out := make([]audit.Recorded, 0, len(rows))
	for _, r := range rows {
		rec, err := audit.Decode(r.AuditRow)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// History is an application's transitions, oldest first.
// Administrators see that steps happened, not what anyone wrote; who decided
// a review stage (a panel of experts, say) is for the bureau and oversight
// to know, not the applicant.
func (e *Engine) History(ctx context.Context, actor *identity.User, id string) ([]Transition, error) {
	app, err := e.db.Application(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	rows, err := e.db.History(ctx, id)
	if err != nil {
		return nil, err
	}
	admin, bureau := oversightOnly(app.ScopeRoles), oversees(app.ScopeRoles)
	out := make([]Transition, 0, len(rows))
	for _, r := range rows {
		t, err := toTransition(r)
		if err != nil {
			return nil, err
		}
		switch {
		case admin:
			t.Comment, t.Data = "", nil
		case !bureau && t.Data["decided_by"] != nil:
			t.Data = mergePatch(t.Data, map[string]any{"decided_by": nil})
		}
		out = append(out, t)
	}
	return out, nil
}

// oversees reports whether the caller sees an application as the bureau or
// oversight does: every review task, score, draw and decider.
func oversees(scope []identity.Role) bool {
	return slices.ContainsFunc(scope, func(r identity.Role) bool {
		return r == identity.Staff || r == identity.Leader || r == identity.Auditor
	})
}

func toTransition(r postgres.HistoryRow) (Transition, error) {
	rec, err := audit.Decode(r.AuditRow)
	if err != nil {
		return Transition{}, err
	}
	t := Transition{Seq: rec.AppSeq, Event: rec.Event, From: rec.From, To: rec.To, Comment: rec.Comment,
		Data: rec.Data, At: rec.At(), Hash: hex.EncodeToString(rec.Hash)}
	if rec.ActorID != "" {
		t.Actor = &UserRef{ID: rec.ActorID, Username: r.ActorUsername.String, Name: r.ActorName.String}
	}
	return t, nil
}

// Patch merges patch into the application's data (RFC 7396: null removes a
// field), if actor may edit in the current state and version still matches.
func (e *Engine) Patch(ctx context.Context, actor *identity.User, id string, version int, patch map[string]any) (Application, error) {
	tx, err := e.db.Begin(ctx)
	if err != nil {
		return Application{}, err
	}
	defer tx.Rollback()
	app, err := tx.LockApplication(ctx, actor, id)
	if err != nil {
		return Application{}, err
	}
	def, err := e.Definition(ctx, app.Workflow, app.WorkflowVersion)
	if err != nil {
		return Application{}, err
	}
	st, _ := def.State(app.State)
	if st == nil || !st.MayEdit(app.ScopeRoles) {
		return Application{}, errs.E(errs.Forbidden, "当前状态下您不能修改申请内容", "you may not change the application in its current state")
	}
	if version != app.Version {
		return Application{}, staleVersion(app.Version)
	}
	data := mergePatch(app.Data, patch)
	if err := workflow.Validate(def.Form, data, "data", workflow.Partial); err != nil {
		return Application{}, err
	}
	if err := eventFieldsUntouched(def, data, app.Data); err != nil {
		return Application{}, err
	}
	if r := def.RefersTo; r != nil && fmt.Sprint(data[r.Field]) != fmt.Sprint(app.Data[r.Field]) {
		ref, err := e.reference(ctx, tx, actor, def, data)
		if err != nil {
			return Application{}, err
		}
		if err := referenceOpen(def, ref); err != nil {
			return Application{}, err
		}
	}
	party, err := e.party(ctx, tx, def, data, app.PartyOrgID)
	if err != nil {
		return Application{}, err
	}
	now := e.Now()
	err = tx.UpdateApplication(ctx, postgres.ApplicationChange{ID: app.ID, Version: app.Version, State: app.State,
		Data: data, Submitted: app.SubmittedAt != nil, WorkflowVersion: app.WorkflowVersion, PartyOrgID: party, At: now})
	if err != nil {
		return Application{}, err
	}
	updated, err := tx.Application(ctx, actor, id)
	if err != nil {
		return Application{}, err
	}
	view, err := e.view(ctx, tx, actor, updated, def, storedHistory(ctx, tx, id))
	if err != nil {
		return Application{}, err
	}
	_, err = e.chain.Append(ctx, tx, audit.Entry{Kind: audit.KindDataPatch, AtMicros: now.UnixMicro(), ActorID: actor.ID,
		ApplicationID: app.ID, Workflow: app.Workflow, Data: map[string]any{"patch": patch, "data_sha256": dataHash(data)}})
	if err != nil {
		return Application{}, err
	}
	if err := tx.Commit(); err != nil {
		return Application{}, err
	}
	return view, nil
}

func staleVersion(current int) error {
	return errs.E(errs.Conflict, fmt.Sprintf("申请已被他人修改（当前版本 %d），请刷新后重试", current),
		fmt.Sprintf("the application has changed (now at version %d); reload and try again", current))
}

// mergePatch applies an RFC 7396 JSON merge patch.
func mergePatch(target, patch map[string]any) map[string]any {
	out := make(map[string]any, len(target)+len(patch))
	for k, v := range target {
		out[k] = v
	}
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(out, k)
		case map[string]any:
			tv, _ := out[k].(map[string]any)
			out[k] = mergePatch(tv, pv)
		default:
			out[k] = v
		}
	}
	return out
}

// oversightOnly reports whether the caller sees an application only as an
// administrator, who may know that it exists and where it stands but not
// what it says.
func oversightOnly(scope []identity.Role) bool {
	return len(scope) > 0 && !slices.ContainsFunc(scope, func(r identity.Role) bool { return r != identity.Admin })
}

// readBack reads an application the actor has just written, as the actor
// sees it. When the write took it out of their sight (a child created for
// another organisation, a move to a state they may not see), they still get
// the result of what they did, through no role, so with no actions.
func readBack(ctx context.Context, tx *postgres.Tx, actor *identity.User, id string) (postgres.Application, error) {
	app, err := tx.ApplicationWritten(ctx, actor, id)
	if errs.CodeOf(err) == errs.NotFound {
		return tx.Application(ctx, nil, id)
	}
	return app, err
}

// eventFieldsUntouched refuses form data that writes a field only events
// write (EventFields): given before, it must stay as it was.
func eventFieldsUntouched(def *workflow.Definition, data, before map[string]any) error {
	var bad *errs.Error
	for f := range def.EventFields() {
		now, had := data[f]
		was, hadBefore := before[f]
		if had == hadBefore && fmt.Sprint(now) == fmt.Sprint(was) {
			continue
		}
		if bad == nil {
			bad = errs.E(errs.Invalid, "部分字段由办理环节填写，不能直接修改", "some fields are filled in by the workflow's steps, not by editing")
		}
		bad.Field("data."+f, "由办理环节填写", "filled in by the workflow")
	}
	if bad != nil {
		return bad
	}
	return nil
}
