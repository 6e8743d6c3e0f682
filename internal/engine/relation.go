package engine

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
	"github.com/sciflow/sciflow/internal/workflow"
)

// reference reads the application a form refers to (the challenge applied
// for), as actor may see it, and holds a share lock on it so that it cannot
// change (close) under the transaction. Anything actor may not see, or of
// another workflow, is reported as not found on the form's field.
func (e *Engine) reference(ctx context.Context, tx *postgres.Tx, actor *identity.User, def *workflow.Definition, data map[string]any) (*postgres.Application, error) {
	r := def.RefersTo
	if r == nil {
		return nil, nil
	}
	field := "data." + r.Field
	id, _ := data[r.Field].(string)
	if id == "" {
		return nil, errs.E(errs.Invalid, "请选择所申报的对象", "choose what this application is for").Field(field, "必填", "required")
	}
	ref, err := tx.ShareApplication(ctx, actor, id)
	if errs.CodeOf(err) == errs.NotFound || err == nil && ref.Workflow != r.Workflow {
		return nil, errs.E(errs.Invalid, "所申报的对象不存在", "what this application refers to does not exist").Field(field, "不存在", "does not exist")
	}
	if err != nil {
		return nil, err
	}
	return &ref, nil
}

// referenceOpen refuses an application whose reference is not (or no
// longer) in a state that takes applications: 409, since it is the state of
// something else that forbids it.
func referenceOpen(def *workflow.Definition, ref *postgres.Application) error {
	if ref == nil || slices.Contains(def.RefersTo.States, ref.State) {
		return nil
	}
	return errs.E(errs.Conflict, "所申报的对象当前不接受申请（如榜单已截止）", "what this application refers to does not take applications now (a challenge closed, say)")
}

// party resolves the application's third organisation from its data: the
// organisation its party field names, which must exist and be of the kinds
// declared. A workflow without a party keeps what it had (a child inherits
// its parent's).
func (e *Engine) party(ctx context.Context, tx *postgres.Tx, def *workflow.Definition, data map[string]any, current string) (string, error) {
	p := def.Party
	if p == nil {
		return current, nil
	}
	ref, _ := data[p.Field].(string)
	if ref == "" {
		return "", nil
	}
	if ref == current {
		return current, nil
	}
	field := "data." + p.Field
	org, err := tx.OrgByRef(ctx, ref)
	if errs.CodeOf(err) == errs.NotFound {
		return "", errs.E(errs.Invalid, "所填单位不存在", "no such organisation").Field(field, "单位不存在", "no such organisation")
	}
	if err != nil {
		return "", err
	}
	if len(p.Kinds) > 0 && !slices.Contains(p.Kinds, org.Kind) {
		return "", errs.E(errs.Invalid, "所填单位类型不符", "the organisation is of the wrong kind").
			Field(field, "应为 "+kindList(p.Kinds), "must be "+kindList(p.Kinds))
	}
	return org.ID, nil
}

func kindList(ks []identity.OrgKind) string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	return strings.Join(out, "/")
}

// aggregates computes the named aggregates for app, whose data is data.
func (e *Engine) aggregates(ctx context.Context, tx *postgres.Tx, def *workflow.Definition, app postgres.Application,
	data map[string]any, names []string) (map[string]float64, error) {
	if len(names) == 0 {
		return nil, nil
	}
	out := make(map[string]float64, len(names))
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		a := def.Aggregates[name]
		q := postgres.AggregateQuery{Sum: a.Sum, Distinct: a.Distinct, Workflows: a.Workflows, States: a.States,
			Equal: map[string]any{}, LockKey: strings.Join(a.Workflows, ",")}
		for k, v := range a.Where {
			q.Equal[k] = v
		}
		for _, f := range a.Same {
			q.Equal[f] = data[f]
		}
		if a.SameApplicant {
			q.ApplicantID = app.ApplicantID
		}
		if a.SameOrg {
			q.OrgID = app.OrgID
		}
		if a.SameParent {
			q.ParentID = app.ParentID
		}
		if a.Children {
			q.ParentID = app.ID
		}
		if !a.IncludeSelf {
			q.ExcludeID = app.ID
		}
		if a.RefersHere != "" {
			q.Equal[a.RefersHere] = app.ID
		}
		v, err := tx.Aggregate(ctx, q)
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	return out, nil
}

// guardAggregates lists the aggregates an event's guards and computed
// fields read.
func guardAggregates(guards []*workflow.Guard, computed []*workflow.Computed) []string {
	var out []string
	for _, g := range guards {
		out = append(out, g.Aggregates...)
	}
	for _, c := range computed {
		out = append(out, c.Aggregates...)
	}
	return out
}

// applyAdds adds the event's payload amounts to the data's running totals,
// in hundredths so that money adds up exactly.
func applyAdds(ev *workflow.Event, data, payload map[string]any) map[string]any {
	if len(ev.Adds) == 0 {
		return data
	}
	set := map[string]any{}
	for to, from := range ev.Adds {
		cents := math.Round(number(data[to])*100) + math.Round(number(payload[from])*100)
		set[to] = cents / 100
	}
	return mergePatch(data, set)
}

func number(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case int:
		return float64(n)
	case int64:
		return float64(n)
	case interface{ Float64() (float64, error) }:
		f, _ := n.Float64()
		return f
	}
	return 0
}

// applyCompute sets the event's computed fields from their expressions.
func applyCompute(ev *workflow.Event, env workflow.Env) (map[string]any, error) {
	if len(ev.Compute) == 0 {
		return env.Data, nil
	}
	set := map[string]any{}
	for _, c := range ev.Compute {
		v, err := c.Eval(env)
		if err != nil {
			return nil, errs.E(errs.Invalid, "无法计算 "+c.Field, "cannot compute "+c.Field).Field("data."+c.Field, "无法计算", "cannot be computed")
		}
		set[c.Field] = v
	}
	return mergePatch(env.Data, set), nil
}

// requireSlots refuses a submission while a required attachment slot is
// empty, naming each empty one.
func requireSlots(ctx context.Context, tx *postgres.Tx, def *workflow.Definition, appID string) error {
	var required []workflow.Slot
	for _, s := range def.Attachments {
		if s.Required {
			required = append(required, s)
		}
	}
	if len(required) == 0 {
		return nil
	}
	have, err := tx.AttachmentLabels(ctx, appID)
	if err != nil {
		return err
	}
	var missing *errs.Error
	for _, s := range required {
		if !slices.Contains(have, s.Key) {
			if missing == nil {
				missing = errs.E(errs.Invalid, "请上传必需的附件", "upload the required attachments")
			}
			missing.Field("attachments."+s.Key, "请上传"+s.Title.Zh, "upload the "+strings.ToLower(s.Title.En))
		}
	}
	if missing != nil {
		return missing
	}
	return nil
}

// timerDue is when a state's timer falls due, entered at: a number of
// working days on, or the end (midnight, China) of the day a date field
// names; nil when the state has no timer or the date is missing.
func (e *Engine) timerDue(s *workflow.State, data map[string]any, at time.Time) *time.Time {
	t := s.Timer
	switch {
	case t == nil:
		return nil
	case t.At != "":
		text, _ := data[t.At].(string)
		day, err := time.ParseInLocation(time.DateOnly, text, calendar.China)
		if err != nil {
			return nil
		}
		due := day.AddDate(0, 0, 1)
		return &due
	}
	due := e.cal.EndOfWorkingDays(at, t.After.WorkingDays)
	return &due
}

// enterNotice publishes the notice of an application entering a notice
// state, or resumes the one whose period still runs (an objection was
// dismissed), and returns when the period ends.
func (e *Engine) enterNotice(ctx context.Context, tx *postgres.Tx, def *workflow.Definition, app postgres.Application,
	st *workflow.State, ends time.Time, now time.Time) (time.Time, error) {
	old, err := tx.ResumeNotice(ctx, app.ID, st.Key, now)
	if err == nil {
		return old.Ends, nil
	}
	if errs.CodeOf(err) != errs.NotFound {
		return time.Time{}, err
	}
	n := postgres.Notice{ApplicationID: app.ID, State: st.Key, OrgName: app.OrgName, Starts: now, Ends: ends}
	if f := def.Notice; f != nil {
		n.Title, _ = app.Data[f.Title].(string)
		if f.Amount != "" {
			if _, ok := app.Data[f.Amount]; ok {
				n.Amount.Float64, n.Amount.Valid = number(app.Data[f.Amount]), true
			}
		}
		if f.Person != "" {
			n.Person.String, _ = app.Data[f.Person].(string)
			n.Person.Valid = n.Person.String != ""
		}
	}
	if n.Title == "" {
		n.Title = def.Title.Zh
	}
	if _, err := tx.InsertNotice(ctx, n); err != nil {
		return time.Time{}, err
	}
	return ends, nil
}

// cascade fires, as the system and in the same transaction, the event an
// event passes on: to the parent application, or to each child it is
// possible for. An event not possible from where the other application
// stands is simply not fired there.
func (e *Engine) cascade(ctx context.Context, tx *postgres.Tx, app postgres.Application, ev *workflow.Event, comment string) error {
	var targets []string
	event := ev.ParentEvent
	if event != "" && app.ParentID != "" {
		targets = []string{app.ParentID}
	}
	if ev.ChildrenEvent != "" {
		children, err := tx.ChildIDs(ctx, app.ID)
		if err != nil {
			return err
		}
		targets, event = children, ev.ChildrenEvent
	}
	why := ev.Title.Zh
	if comment != "" {
		why += "：" + comment
	}
	for _, id := range targets {
		other, err := tx.LockApplication(ctx, nil, id)
		if err != nil {
			return err
		}
		def, err := e.Definition(ctx, other.Workflow, other.WorkflowVersion)
		if err != nil {
			return err
		}
		if oe, ok := def.Event(event); !ok || !oe.System || !def.Machine(other.State).Can(event) {
			continue
		}
		if _, err := e.fire(ctx, tx, nil, other, FireInput{Event: event, Comment: why}, fireOpts{}); err != nil {
			return fmt.Errorf("pass %s on to %s: %w", event, id, err)
		}
	}
	return nil
}
