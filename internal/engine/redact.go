package engine

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
	"github.com/sciflow/sciflow/internal/workflow"
)

// DefaultRetentionYears is how long a finished application keeps its
// personal data before it may be redacted: ten years from the day it
// finished, the archive period most bureaus apply to project files.
// SCIFLOW_RETENTION_YEARS sets another.
const DefaultRetentionYears = 10

// Redaction is what Redact removed.
type Redaction struct {
	ApplicationID string
	// Fields are the personal fields found and removed (paths as the form
	// marks them), Entries the audit entries rewritten without them.
	Fields  []string
	Entries int
	// Objections are the objections whose objector's name, phone and
	// address were removed.
	Objections int
	// Attachments are the files, in slots the workflow marks personal,
	// whose content and name were removed.
	Attachments int
}

// Redact removes an application's personal data (the form fields its
// workflow marks x-personal and the files in the slots it marks personal,
// in the version it ran on or the current one) from its form, its files
// and every entry of its audit chain, and its objectors' names and phones,
// once it has finished and its retention period has passed. Each
// rewritten entry keeps its hash and gains a signed redaction
// (audit.Chain.Redact), so the chain still verifies; the redaction itself
// is an entry of the chain. Only an administrator, or the operator at the
// console (actor nil), may redact. Redacting again removes only what is
// newly marked personal.
func (e *Engine) Redact(ctx context.Context, actor *identity.User, id string) (Redaction, error) {
	return e.redact(ctx, actor, id, time.Time{})
}

// redact is Redact judging the retention period as of asOf (zero: now),
// which the entry then records.
func (e *Engine) redact(ctx context.Context, actor *identity.User, id string, asOf time.Time) (Redaction, error) {
	if actor != nil && !actor.Has(identity.Admin) {
		if _, err := e.Get(ctx, actor, id); err != nil {
			return Redaction{}, err // what they cannot see does not exist
		}
		return Redaction{}, errs.E(errs.Forbidden, "只有系统管理员可以脱敏", "only an administrator may redact personal data")
	}
	tx, err := e.db.Begin(ctx)
	if err != nil {
		return Redaction{}, err
	}
	defer tx.Rollback()
	app, err := tx.LockApplication(ctx, actor, id)
	if err != nil {
		return Redaction{}, err
	}
	personal, slots, err := e.personalFields(ctx, app)
	if err != nil {
		return Redaction{}, err
	}
	now := e.Now()
	if err := e.redactable(ctx, app, cmp.Or(asOf, now)); err != nil {
		return Redaction{}, err
	}
	data := app.Data
	r := Redaction{ApplicationID: app.ID, Fields: workflow.RemovePersonal(data, personal)}
	files, err := tx.RedactAttachments(ctx, app.ID, slots, now)
	if err != nil {
		return Redaction{}, err
	}
	r.Attachments = len(files)
	// The chain is read whole before any entry changes: the rows of a
	// streaming read cannot be rewritten under it.
	var rows []postgres.AuditRow
	if err := tx.ScanChain(ctx, app.ID, func(row postgres.ChainRow) error {
		rows = append(rows, row.AuditRow)
		return nil
	}); err != nil {
		return Redaction{}, err
	}
	found := map[string]bool{}
	for _, row := range rows {
		changed, err := e.chain.Redact(ctx, tx, row, func(kind, subject string, d map[string]any) bool {
			if slot, ok := files[subject]; ok && kind == audit.KindAttachment {
				return stripAttachment(d, slot, found)
			}
			return stripEntry(kind, d, personal, found)
		})
		if err != nil {
			return Redaction{}, err
		}
		if changed {
			r.Entries++
		}
	}
	for p := range found {
		if !slices.Contains(r.Fields, p) {
			r.Fields = append(r.Fields, p)
		}
	}
	slices.Sort(r.Fields)
	if r.Objections, err = tx.RedactObjections(ctx, app.ID, now); err != nil {
		return Redaction{}, err
	}
	// What this redaction checked is kept, so that a sweep comes back when
	// the workflow marks more. Nothing new found, against nothing new
	// marked, is not recorded again.
	checked := checkedOf(personal, slots)
	if app.RedactedAt != nil && len(r.Fields) == 0 && r.Entries == 0 && r.Objections == 0 && r.Attachments == 0 {
		prior, err := tx.RedactedPersonal(ctx, app.ID)
		if err != nil {
			return Redaction{}, err
		}
		if prior != nil && !slices.ContainsFunc(checked, func(p string) bool { return !slices.Contains(prior, p) }) {
			return r, nil
		}
	}
	if err := tx.RedactApplication(ctx, app.ID, app.Version, data, checked, now); err != nil {
		return Redaction{}, err
	}
	entry := map[string]any{"fields": r.Fields, "entries": r.Entries, "objections": r.Objections,
		"attachments": r.Attachments, "checked": checked, "data_sha256": dataHash(data),
		"via": audit.Via(actor)}
	if !asOf.IsZero() {
		entry["as_of"] = asOf.UTC().Format(time.RFC3339)
	}
	_, err = e.chain.Append(ctx, tx, audit.Entry{Kind: audit.KindRedact, AtMicros: now.UnixMicro(),
		ActorID: audit.ActorID(actor), ApplicationID: app.ID, Workflow: app.Workflow, Data: entry})
	if err != nil {
		return Redaction{}, err
	}
	return r, tx.Commit()
}

// RedactDue redacts every application whose retention period has passed
// by asOf (zero: now) and whose personal data is still kept, or whose
// workflow now marks more personal than its redaction checked, one
// transaction each, as the operator: the sweep of sciflow redact. A given
// asOf is recorded in each redaction's entry.
func (e *Engine) RedactDue(ctx context.Context, asOf time.Time) ([]Redaction, error) {
	// Terminal states and personal data as the current versions name them;
	// Redact checks each application against the version it ran on too.
	spec := map[string]postgres.Retention{}
	for _, d := range e.Workflows() {
		r := postgres.Retention{Final: []string{}, Personal: checkedOf(d.Personal, d.PersonalSlots())}
		for _, s := range d.States {
			if s.Kind == workflow.KindTerminal {
				r.Final = append(r.Final, s.Key)
			}
		}
		spec[d.Key] = r
	}
	tx, err := e.db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	ids, err := tx.Redactable(ctx, spec, cmp.Or(asOf, e.Now()).AddDate(-e.retentionYears(), 0, 0))
	tx.Rollback()
	if err != nil {
		return nil, err
	}
	var done []Redaction
	for _, id := range ids {
		r, err := e.redact(ctx, nil, id, asOf)
		if err != nil {
			return done, err
		}
		done = append(done, r)
	}
	return done, nil
}

func (e *Engine) retentionYears() int {
	if e.RetentionYears > 0 {
		return e.RetentionYears
	}
	return DefaultRetentionYears
}

// redactable refuses an application that has not finished, or finished
// within its retention period.
func (e *Engine) redactable(ctx context.Context, app postgres.Application, now time.Time) error {
	def, err := e.Definition(ctx, app.Workflow, app.WorkflowVersion)
	if err != nil {
		return err
	}
	if st, ok := def.State(app.State); !ok || st.Kind != workflow.KindTerminal {
		return errs.E(errs.Conflict, "申请尚未办结，个人信息不能脱敏", "the application has not finished: its personal data cannot be redacted yet")
	}
	if until := app.StateEnteredAt.AddDate(e.retentionYears(), 0, 0); now.Before(until) {
		day := until.In(calendar.China).Format("2006-01-02")
		return errs.E(errs.Conflict, "保存期限未满，"+day+" 之后才能脱敏", "the retention period has not passed: redaction is possible after "+day)
	}
	return nil
}

// personalFields are the form fields and the attachment slots marked
// personal by the version the application ran on and by the current one:
// marking a field or a slot personal later applies to earlier applications
// too.
func (e *Engine) personalFields(ctx context.Context, app postgres.Application) (fields, slots []string, err error) {
	def, err := e.Definition(ctx, app.Workflow, app.WorkflowVersion)
	if err != nil {
		return nil, nil, err
	}
	defs := []*workflow.Definition{def}
	if cur, ok := e.Current(app.Workflow); ok {
		defs = append(defs, cur)
	}
	for _, d := range defs {
		fields = append(fields, d.Personal...)
		slots = append(slots, d.PersonalSlots()...)
	}
	slices.Sort(fields)
	slices.Sort(slots)
	return slices.Compact(fields), slices.Compact(slots), nil
}

// checkedOf names what a redaction checks, as the application keeps it
// (postgres.RedactApplication) and the sweep compares it: the form fields,
// and the slots as attachments.KEY (the name a submission's errors give
// them), sorted.
func checkedOf(fields, slots []string) []string {
	out := slices.Clone(fields)
	for _, s := range slots {
		out = append(out, "attachments."+s)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// stripAttachment removes a redacted file's name from its upload's entry
// (a file is often named for its owner: 张三身份证.jpg); its size, digest
// and confidentiality stay. The field found is the slot's, as a workflow
// names it in a submission's errors (attachments.id_card).
func stripAttachment(data map[string]any, slot string, found map[string]bool) bool {
	if _, ok := data["name"]; !ok {
		return false
	}
	delete(data, "name")
	found["attachments."+slot] = true
	return true
}

// stripEntry removes personal fields from an audit entry's data: form
// fields travel in a data patch's "patch" and in a transition's data (an
// event's fields). It records in found what it removed.
func stripEntry(kind string, data map[string]any, personal []string, found map[string]bool) bool {
	target := data
	switch kind {
	case audit.KindDataPatch:
		target, _ = data["patch"].(map[string]any)
	case audit.KindTransition:
	case KindObjection:
		// The objector, not the form: their name and their phone's digest
		// (eleven digits are no secret behind a hash).
		removed := false
		for key, field := range map[string]string{"name": "objection.name", "phone_sha256": "objection.phone"} {
			if _, ok := data[key]; ok {
				delete(data, key)
				found[field], removed = true, true
			}
		}
		return removed
	default:
		return false
	}
	removed := workflow.RemovePersonal(target, personal)
	for _, p := range removed {
		found[p] = true
	}
	return len(removed) > 0
}
