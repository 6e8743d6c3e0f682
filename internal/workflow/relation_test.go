package workflow

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/identity"
)

// challengeBase is a 揭榜挂帅 challenge: public while published, closed by a
// timer at the date its form names, and counting the entries made to it.
const challengeBase = `key: challenge
title: {zh: 揭榜挂帅榜单, en: Open challenge}
initial: draft
form: challenge.form.json
created_by: [staff]
public_states: [published, closed]
aggregates:
  entries:
    count:
      workflow: [entry]
      states: [notice, running]
      refers_here: challenge
      where: {kind: open}
  funded:
    sum:
      workflow: [entry]
      field: amount
      same: [field]
      same_org: true
      same_applicant: true
states:
  draft:
    title: {zh: 编制中, en: Draft}
    kind: edit
    editable_by: [staff]
  published:
    title: {zh: 张榜中, en: Published}
    kind: active
    timer: {at: deadline, event: close}
  closed:
    title: {zh: 已截止, en: Closed}
    kind: active
  done:
    title: {zh: 已结束, en: Done}
    kind: terminal
events:
  publish:
    title: {zh: 发布, en: Publish}
    from: [draft]
    to: published
    roles: [staff]
  close:
    title: {zh: 截止, en: Close}
    from: [published]
    to: closed
    system: true
  finish:
    title: {zh: 结束, en: Finish}
    from: [closed]
    to: done
    roles: [staff]
    compute: {total: 'agg.funded'}
    guards:
      - if: 'agg.entries == 0'
        message: {zh: 仍有申报在公示或实施中, en: Entries are in notice or running}
        code: conflict
`

const challengeForm = `{"type": "object", "properties": {"title": {"type": "string"}, "field": {"type": "string"},
 "deadline": {"type": "string", "format": "date"}, "budget_ceiling": {"type": "integer"}, "total": {"type": "number"}}}`

// entryBase applies to a challenge: it names the challenge, a third party
// (the enterprise or village served), what its 公示 shows, its attachment
// slots, and is funded in tranches (trancheBase) that hang under it.
const entryBase = `key: entry
title: {zh: 揭榜申报, en: Challenge entry}
initial: draft
form: entry.form.json
created_by: [applicant]
refers_to: {workflow: challenge, field: challenge, states: [published]}
party: {field: target_org, kinds: [enterprise, village]}
notice: {title: title, amount: amount, person: leader}
attachments:
  - {key: plan, title: {zh: 技术方案, en: Technical plan}, required: true}
  - {key: finance, title: {zh: 财务报表, en: Financial statements}, required: true, confidential: true}
  - {key: contract, title: {zh: 任务书, en: Contract}}
aggregates:
  mine:
    count: {workflow: [entry], same_applicant: true, states: [draft, review]}
guards:
  - if: 'ref.state == "published" && agg.mine < 3'
    message: {zh: 榜单已截止或申报过多, en: The challenge is closed or you applied too often}
    field: data.challenge
    code: conflict
states:
  draft:
    title: {zh: 填报, en: Draft}
    kind: edit
    editable_by: [applicant]
  review:
    title: {zh: 审核, en: Review}
    kind: review
  notice:
    title: {zh: 公示, en: Public notice}
    kind: notice
    timer: {after: {working_days: 5}, event: notice_end}
    on_objection: object
  objection:
    title: {zh: 异议处理, en: Objection review}
    kind: review
  running:
    title: {zh: 实施中, en: Running}
    kind: active
    editable_by: [party]
  done:
    title: {zh: 已结题, en: Done}
    kind: terminal
  rejected:
    title: {zh: 未通过, en: Rejected}
    kind: terminal
events:
  submit:
    title: {zh: 提交, en: Submit}
    from: [draft]
    to: review
    roles: [applicant]
    compute: {field: 'ref.data.field'}
    guards:
      - if: 'app.org_parent_id != ""'
        message: {zh: 须经推荐单位, en: A recommending unit is needed}
        code: invalid
      - if: 'data.budget <= ref.data.budget_ceiling'
        message: {zh: 超过榜单资助上限, en: Over the challenge's ceiling}
        field: data.budget
  approve:
    title: {zh: 批准, en: Approve}
    from: [review]
    to: notice
    roles: [leader]
    data: {type: object, required: [amount], properties: {amount: {type: number}}}
    sets: [amount]
  notice_end:
    title: {zh: 公示期满, en: Notice ends}
    from: [notice]
    to: running
    system: true
  object:
    title: {zh: 收到异议, en: Objection received}
    from: [notice]
    to: objection
    system: true
  dismiss:
    title: {zh: 异议不成立, en: Dismiss}
    from: [objection]
    to: notice
    roles: [staff]
    resolves_objections: dismissed
  sustain:
    title: {zh: 异议成立, en: Sustain}
    from: [objection]
    to: rejected
    roles: [staff]
    resolves_objections: sustained
  disburse:
    title: {zh: 拨付, en: Disburse}
    from: [running]
    to: running
    roles: [staff]
    data: {type: object, required: [paid], properties: {paid: {type: number}}}
    adds: {disbursed: paid}
    compute: {left: 'data.amount - data.disbursed'}
  confirm:
    title: {zh: 服务对象确认, en: Confirmed by the party}
    from: [running]
    to: running
    roles: [party]
  terminate:
    title: {zh: 终止, en: Terminate}
    from: [running]
    to: rejected
    system: true
  close:
    title: {zh: 结题, en: Close}
    from: [running]
    to: done
    roles: [staff]
    children_event: stop
`

const entryForm = `{"type": "object", "properties": {"challenge": {"type": "string"}, "target_org": {"type": "string"},
 "title": {"type": "string"}, "leader": {"type": "string"}, "field": {"type": "string"}, "kind": {"type": "string"},
 "budget": {"type": "integer"}, "amount": {"type": "number"}, "disbursed": {"type": "number"}, "left": {"type": "number"},
 "start": {"type": "string", "format": "date"}}}`

// trancheBase is an instalment of an entry's funding: it acts through the
// entry's party, and failing it terminates the entry.
const trancheBase = `key: tranche
title: {zh: 拨款, en: Tranche}
initial: draft
form: tranche.form.json
parent: entry
created_by: [staff]
aggregates:
  paid:
    sum: {workflow: [tranche], field: amount, states: [paid], same_parent: true, include_self: true}
states:
  draft:
    title: {zh: 待拨付, en: Due}
    kind: edit
    editable_by: [staff]
  paid:
    title: {zh: 已拨付, en: Paid}
    kind: terminal
  stopped:
    title: {zh: 已停止, en: Stopped}
    kind: terminal
  failed:
    title: {zh: 未完成, en: Failed}
    kind: terminal
events:
  pay:
    title: {zh: 拨付, en: Pay}
    from: [draft]
    to: paid
    roles: [staff]
    guards:
      - if: 'agg.paid <= parent.data.amount'
        message: {zh: 超过批准金额, en: Over the amount approved}
  confirm:
    title: {zh: 服务对象确认, en: Confirmed by the party}
    from: [draft]
    to: draft
    roles: [party]
  stop:
    title: {zh: 停止, en: Stop}
    from: [draft]
    to: stopped
    system: true
  fail:
    title: {zh: 未完成, en: Fail}
    from: [draft]
    to: failed
    roles: [staff]
    parent_event: terminate
`

const trancheForm = `{"type": "object", "properties": {"amount": {"type": "number"}}}`

func programmeFiles() map[string]string {
	return map[string]string{
		"challenge.yaml": challengeBase, "challenge.form.json": challengeForm,
		"entry.yaml": entryBase, "entry.form.json": entryForm,
		"tranche.yaml": trancheBase, "tranche.form.json": trancheForm,
	}
}

func TestProgrammeBaseIsValid(t *testing.T) {
	defs := mustLoad(t, programmeFiles())
	require.Len(t, defs, 3)
	challenge, entry, tranche := defs[0], defs[1], defs[2]
	require.Equal(t, []string{"challenge", "entry", "tranche"}, []string{challenge.Key, entry.Key, tranche.Key})

	t.Run("challenge", func(t *testing.T) {
		require.Equal(t, []string{"published", "closed"}, challenge.PublicStates)
		require.Nil(t, challenge.RefersTo)
		require.Nil(t, challenge.Party)
		require.Nil(t, challenge.Notice)
		require.Equal(t, map[string]*Aggregate{
			"entries": {Name: "entries", Workflows: []string{"entry"}, States: []string{"notice", "running"},
				RefersHere: "challenge", Where: map[string]any{"kind": "open"}},
			"funded": {Name: "funded", Sum: "amount", Workflows: []string{"entry"}, Same: []string{"field"},
				SameOrg: true, SameApplicant: true},
		}, challenge.Aggregates)
		published, _ := challenge.State("published")
		require.Equal(t, &Timer{At: "deadline", Event: "close"}, published.Timer)

		finish, _ := challenge.Event("finish")
		require.Len(t, finish.Compute, 1)
		total := finish.Compute[0]
		require.Equal(t, "total", total.Field)
		require.Equal(t, []string{"funded"}, total.Aggregates)
		require.False(t, total.UsesRef)
		v, err := total.Eval(Env{Agg: map[string]float64{"funded": 1.5e6}})
		require.NoError(t, err)
		require.Equal(t, 1.5e6, v)

		require.Len(t, finish.Guards, 1)
		g := finish.Guards[0]
		require.True(t, g.Conflict)
		require.Equal(t, []string{"entries"}, g.Aggregates)
		require.False(t, g.UsesRef)
		require.False(t, g.UsesEvent)
		require.True(t, g.Deferred(), "an aggregate is only computed when the event is fired")
		ok, err := g.Check(Env{Agg: map[string]float64{"entries": 0}})
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = g.Check(Env{Agg: map[string]float64{"entries": 2}})
		require.NoError(t, err)
		require.False(t, ok)
	})

	t.Run("entry", func(t *testing.T) {
		require.Equal(t, &Reference{Workflow: "challenge", Field: "challenge", States: []string{"published"}}, entry.RefersTo)
		require.Equal(t, &Party{Field: "target_org", Kinds: []identity.OrgKind{identity.Enterprise, identity.Village}}, entry.Party)
		require.Equal(t, &NoticeFields{Title: "title", Amount: "amount", Person: "leader"}, entry.Notice)
		require.Empty(t, entry.PublicStates)
		require.Equal(t, []Slot{
			{Key: "plan", Title: Text{Zh: "技术方案", En: "Technical plan"}, Required: true},
			{Key: "finance", Title: Text{Zh: "财务报表", En: "Financial statements"}, Required: true, Confidential: true},
			{Key: "contract", Title: Text{Zh: "任务书", En: "Contract"}},
		}, entry.Attachments)
		slot, ok := entry.Slot("finance")
		require.True(t, ok)
		require.True(t, slot.Confidential)
		_, ok = entry.Slot("licence")
		require.False(t, ok)
		require.Equal(t, map[string]*Aggregate{
			"mine": {Name: "mine", Workflows: []string{"entry"}, States: []string{"draft", "review"}, SameApplicant: true},
		}, entry.Aggregates)

		// The create guard reads the challenge and an aggregate, so it is
		// only judged when the application is really started.
		require.Len(t, entry.CreateGuards, 1)
		cg := entry.CreateGuards[0]
		require.Equal(t, "data.challenge", cg.Field)
		require.Equal(t, Text{Zh: "榜单已截止或申报过多", En: "The challenge is closed or you applied too often"}, cg.Message)
		require.True(t, cg.Conflict)
		require.True(t, cg.UsesRef)
		require.False(t, cg.UsesEvent)
		require.Equal(t, []string{"mine"}, cg.Aggregates)
		require.True(t, cg.Deferred())
		ok, err := cg.Check(Env{Ref: &ParentEnv{State: "published"}, Agg: map[string]float64{"mine": 2}})
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = cg.Check(Env{Ref: &ParentEnv{State: "closed"}, Agg: map[string]float64{"mine": 0}})
		require.NoError(t, err)
		require.False(t, ok)

		notice, _ := entry.State("notice")
		require.Equal(t, KindNotice, notice.Kind)
		require.Equal(t, &Timer{After: Duration{WorkingDays: 5}, Event: "notice_end"}, notice.Timer)
		require.Equal(t, "object", notice.OnObjection)
		running, _ := entry.State("running")
		require.Equal(t, []identity.Role{identity.Party}, running.EditableBy)

		submit, _ := entry.Event("submit")
		require.Len(t, submit.Compute, 1)
		field := submit.Compute[0]
		require.Equal(t, "field", field.Field)
		require.True(t, field.UsesRef)
		require.Empty(t, field.Aggregates)
		v, err := field.Eval(Env{Ref: &ParentEnv{State: "published", Data: map[string]any{"field": "新材料"}}})
		require.NoError(t, err)
		require.Equal(t, "新材料", v)
		require.Len(t, submit.Guards, 2)
		unit, ceiling := submit.Guards[0], submit.Guards[1]
		require.False(t, unit.Conflict, "code: invalid is the default 422")
		require.False(t, unit.Deferred(), "app.org_parent_id is known when listing actions")
		ok, err = unit.Check(Env{App: AppEnv{OrgParentID: ""}})
		require.NoError(t, err)
		require.False(t, ok)
		ok, err = unit.Check(Env{App: AppEnv{OrgParentID: "unit-1"}})
		require.NoError(t, err)
		require.True(t, ok)
		require.True(t, ceiling.UsesRef)
		require.Empty(t, ceiling.Aggregates)
		require.True(t, ceiling.Deferred())

		approve, _ := entry.Event("approve")
		require.Equal(t, []string{"amount"}, approve.Sets)
		dismiss, _ := entry.Event("dismiss")
		require.Equal(t, "dismissed", dismiss.ResolvesObjections)
		sustain, _ := entry.Event("sustain")
		require.Equal(t, "sustained", sustain.ResolvesObjections)
		disburse, _ := entry.Event("disburse")
		require.Equal(t, map[string]string{"disbursed": "paid"}, disburse.Adds)
		require.Len(t, disburse.Compute, 1)
		require.Equal(t, "left", disburse.Compute[0].Field)
		require.False(t, disburse.Compute[0].UsesRef)
		confirm, _ := entry.Event("confirm")
		require.Equal(t, []identity.Role{identity.Party}, confirm.Roles)
		closing, _ := entry.Event("close")
		require.Equal(t, "stop", closing.ChildrenEvent)
		require.Empty(t, closing.ParentEvent)
	})

	t.Run("tranche", func(t *testing.T) {
		require.Equal(t, "entry", tranche.Parent)
		require.Nil(t, tranche.Party, "a child acts through its parent's party")
		require.Equal(t, map[string]*Aggregate{
			"paid": {Name: "paid", Sum: "amount", Workflows: []string{"tranche"}, States: []string{"paid"},
				SameParent: true, IncludeSelf: true},
		}, tranche.Aggregates)
		pay, _ := tranche.Event("pay")
		require.Len(t, pay.Guards, 1)
		require.Equal(t, []string{"paid"}, pay.Guards[0].Aggregates)
		require.False(t, pay.Guards[0].UsesRef)
		require.True(t, pay.Guards[0].Deferred())
		confirm, _ := tranche.Event("confirm")
		require.Equal(t, []identity.Role{identity.Party}, confirm.Roles)
		fail, _ := tranche.Event("fail")
		require.Equal(t, "terminate", fail.ParentEvent)
		stop, _ := tranche.Event("stop")
		require.True(t, stop.System, "fired by the entry's children_event")
	})
}

// edit replaces the first from in file by to.
type edit struct{ file, from, to string }

// TestProgrammeCheckFindsEachProblem breaks the valid programme one thing at
// a time. A definition with a problem does not load, so the others then
// miss it (a parent, a counted workflow) and say so too; each case compares
// every problem of the files its expectations name, and only those.
func TestProgrammeCheckFindsEachProblem(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edits []edit
		want  []string
	}{
		// refers_to
		{"unknown refers_to workflow", []edit{{"entry.yaml", "refers_to: {workflow: challenge", "refers_to: {workflow: contest"}},
			// Line 1: the cross-check does not keep refers_to's line.
			[]string{`entry.yaml:1: refers_to workflow "contest" is not defined`}},
		{"refers_to state not in that workflow", []edit{{"entry.yaml", "states: [published]}", "states: [open]}"}},
			[]string{`entry.yaml:6: refers_to state "open" is not a state of challenge`}},
		{"refers_to without states", []edit{{"entry.yaml", ", states: [published]}", "}"}},
			[]string{`entry.yaml:6: refers_to needs "states"`}},
		{"refers_to field not in the form", []edit{{"entry.yaml", "field: challenge, states", "field: chalenge, states"}},
			[]string{`entry.yaml:6: refers_to.field "chalenge" is not a field of the form`}},
		{"refers_to field not a string", []edit{{"entry.yaml", "field: challenge, states", "field: budget, states"}},
			[]string{`entry.yaml:6: refers_to.field "budget" must be a string field of the form`}},
		{"guard reading ref without refers_to", []edit{{"challenge.yaml", "agg.entries == 0", `ref.state == "published"`}},
			[]string{"challenge.yaml:54: guard reads ref, but the workflow refers to no other application (refers_to)"}},
		{"compute reading ref without refers_to", []edit{{"challenge.yaml", "'agg.funded'", "'ref.data.amount'"}},
			[]string{"challenge.yaml:52: compute total reads ref, but the workflow refers to no other application (refers_to)"}},

		// party
		{"party field not in the form", []edit{{"entry.yaml", "party: {field: target_org", "party: {field: target"}},
			[]string{`entry.yaml:7: party.field "target" is not a field of the form`}},
		{"party field not a string", []edit{{"entry.yaml", "party: {field: target_org", "party: {field: amount"}},
			[]string{`entry.yaml:7: party.field "amount" must be a string field of the form`}},
		{"unknown party kind", []edit{{"entry.yaml", "kinds: [enterprise, village]", "kinds: [enterprise, farm]"}},
			[]string{`entry.yaml:7: unknown organisation kind "farm" in party.kinds`}},
		{"party in roles without a party", []edit{{"challenge.yaml", "roles: [staff]", "roles: [staff, party]"}},
			[]string{"challenge.yaml:41: role party in roles of publish, but the workflow declares no party"}},
		{"party in editable_by without a party", []edit{{"challenge.yaml", "editable_by: [staff]", "editable_by: [party]"}},
			[]string{"challenge.yaml:25: role party in editable_by of draft, but the workflow declares no party"}},
		{"child acting as party when no ancestor declares one", []edit{
			{"entry.yaml", "party: {field: target_org, kinds: [enterprise, village]}\n", ""},
			{"entry.yaml", "editable_by: [party]", "editable_by: [staff]"},
			{"entry.yaml", "roles: [party]", "roles: [staff]"}},
			[]string{"tranche.yaml:1: events of tranche act as party, but neither it nor its parent declares a party"}},

		// aggregates
		{"aggregate over an unknown workflow", []edit{{"challenge.yaml", "workflow: [entry]", "workflow: [entries]"}},
			[]string{`challenge.yaml:10: aggregate entries counts unknown workflow "entries"`}},
		{"aggregate state not in the counted workflow", []edit{{"challenge.yaml", "states: [notice, running]", "states: [notice, runing]"}},
			[]string{`challenge.yaml:11: aggregate entries: "runing" is not a state of entry`}},
		{"aggregate same field not in the form", []edit{{"challenge.yaml", "same: [field]", "same: [feild]"}},
			[]string{`challenge.yaml:18: aggregate funded: same "feild" is not a field of the form`}},
		{"aggregate with both count and sum", []edit{{"entry.yaml", "states: [draft, review]}\n", "states: [draft, review]}\n    sum: {workflow: [entry], field: amount}\n"}},
			[]string{"entry.yaml:14: aggregate mine needs exactly one of count or sum",
				"entry.yaml:18: guard reads agg.mine, which the workflow's aggregates do not define"}},
		{"aggregate with neither count nor sum", []edit{{"entry.yaml", "    count: {workflow: [entry]", "    total: {workflow: [entry]"}},
			[]string{"entry.yaml:14: aggregate mine needs exactly one of count or sum",
				`entry.yaml:15: unknown field "total" in aggregate mine (allowed: count, sum)`,
				"entry.yaml:17: guard reads agg.mine, which the workflow's aggregates do not define"}},
		{"count with a field", []edit{{"entry.yaml", "same_applicant: true, states", "same_applicant: true, field: amount, states"}},
			[]string{"entry.yaml:15: aggregate mine: field belongs to sum"}},
		{"sum without a field", []edit{{"challenge.yaml", "      field: amount\n", ""}},
			[]string{`challenge.yaml:16: aggregate funded needs "field"`}},
		{"guard reading an undeclared aggregate", []edit{{"challenge.yaml", "agg.entries == 0", "agg.missing == 0"}},
			[]string{"challenge.yaml:54: guard reads agg.missing, which the workflow's aggregates do not define"}},
		{"compute reading an undeclared aggregate", []edit{{"challenge.yaml", "'agg.funded'", "'agg.fund'"}},
			[]string{"challenge.yaml:52: compute total reads agg.fund, which the workflow's aggregates do not define"}},

		// notice (公示) and objections
		{"notice title not in the form", []edit{{"entry.yaml", "notice: {title: title", "notice: {title: name"}},
			[]string{`entry.yaml:8: notice.title "name" is not a field of the form`}},
		{"notice amount not a number", []edit{{"entry.yaml", "amount: amount, person", "amount: title, person"}},
			[]string{`entry.yaml:8: notice.amount "title" must be a number field of the form`}},
		{"notice person not a string", []edit{{"entry.yaml", "person: leader}", "person: budget}"}},
			[]string{`entry.yaml:8: notice.person "budget" must be a string field of the form`}},
		{"notice state without a timer", []edit{{"entry.yaml", "    timer: {after: {working_days: 5}, event: notice_end}\n", ""}},
			[]string{"entry.yaml:29: notice state notice needs a timer: the period must end by itself"}},
		{"notice states without notice", []edit{{"entry.yaml", "notice: {title: title, amount: amount, person: leader}\n", ""}},
			[]string{"entry.yaml:1: the workflow has notice states, so it must say what the public list shows (notice: {title: ...})"}},
		{"notice without notice states", []edit{{"challenge.yaml", "public_states: [published, closed]\n", "public_states: [published, closed]\nnotice: {title: title}\n"}},
			[]string{"challenge.yaml:7: notice: is set but the workflow has no notice state"}},
		{"on_objection on a state that is not a notice", []edit{{"challenge.yaml", "event: close}\n", "event: close}\n    on_objection: close\n"}},
			[]string{"challenge.yaml:30: state published takes objections but is not of kind notice"}},
		{"on_objection naming an unknown event", []edit{{"entry.yaml", "on_objection: object", "on_objection: objekt"}},
			[]string{`entry.yaml:33: on_objection of notice names unknown event "objekt"`}},
		{"on_objection naming an event that is not system", []edit{{"entry.yaml", "    to: objection\n    system: true", "    to: objection\n    roles: [staff]"}},
			[]string{"entry.yaml:33: on_objection of notice fires object, which must be system: true"}},
		{"on_objection naming an event not possible from the state", []edit{{"entry.yaml", "on_objection: object", "on_objection: terminate"}},
			[]string{"entry.yaml:33: on_objection of notice fires terminate, which is not possible from notice"}},
		{"bad resolves_objections", []edit{{"entry.yaml", "resolves_objections: dismissed", "resolves_objections: rejected"}},
			[]string{`entry.yaml:83: resolves_objections must be sustained or dismissed, not "rejected"`}},
		{"unknown public state", []edit{{"challenge.yaml", "public_states: [published, closed]", "public_states: [published, shut]"}},
			[]string{`challenge.yaml:6: public_states names unknown state "shut"`}},

		// timers at a date
		{"timer with both after and at", []edit{{"entry.yaml", "{after: {working_days: 5}, event", "{after: {working_days: 5}, at: start, event"}},
			[]string{"entry.yaml:32: timer needs exactly one of after (working days) or at (a date field of the form)"}},
		{"timer with neither after nor at", []edit{{"challenge.yaml", "timer: {at: deadline, event", "timer: {event"}},
			[]string{"challenge.yaml:29: timer needs exactly one of after (working days) or at (a date field of the form)"}},
		{"timer at a field that is not a date", []edit{{"challenge.yaml", "timer: {at: deadline", "timer: {at: title"}},
			[]string{`challenge.yaml:29: timer at "title" must name a date field of the form (format: date)`}},
		{"timer at a field not in the form", []edit{{"challenge.yaml", "timer: {at: deadline", "timer: {at: closing"}},
			[]string{`challenge.yaml:29: timer at "closing" must name a date field of the form (format: date)`}},

		// adds and compute
		{"adds into a field that is not a number", []edit{{"entry.yaml", "adds: {disbursed: paid}", "adds: {title: paid}"}},
			[]string{`entry.yaml:96: adds "title" must be a number field of the form`}},
		{"adds into a field not in the form", []edit{{"entry.yaml", "adds: {disbursed: paid}", "adds: {paid_out: paid}"}},
			[]string{`entry.yaml:96: adds "paid_out" is not a field of the form`}},
		{"adds from a payload field that is not a number", []edit{{"entry.yaml", "properties: {paid: {type: number}}", "properties: {paid: {type: string}}"}},
			[]string{`entry.yaml:96: adds disbursed from "paid", which is not a number in the event's data`}},
		{"adds from a payload field not in the data", []edit{{"entry.yaml", "adds: {disbursed: paid}", "adds: {disbursed: payment}"}},
			[]string{`entry.yaml:96: adds disbursed from "payment", which is not a number in the event's data`}},
		{"compute into a field not in the form", []edit{{"entry.yaml", "compute: {left:", "compute: {remaining:"}},
			[]string{`entry.yaml:97: compute "remaining", which the form does not define`}},
		{"compute that does not compile", []edit{{"entry.yaml", "'data.amount - data.disbursed'", "'data.amount -'"}},
			[]string{"entry.yaml:97: compute left does not compile: unexpected token EOF (1:13) | data.amount - | ............^"}},
		{"compute reading an unknown field", []edit{{"entry.yaml", "'data.amount - data.disbursed'", "'data.amount - data.disbursd'"}},
			[]string{"entry.yaml:97: compute left refers to unknown field data.disbursd"}},

		// guards
		{"bad guard code", []edit{{"challenge.yaml", "code: conflict", "code: forbidden"}},
			[]string{`challenge.yaml:56: guard code must be invalid (422, the default) or conflict (409), not "forbidden"`}},
		{"create guard reading event", []edit{{"entry.yaml", `'ref.state == "published" && agg.mine < 3'`, "'len(event) == 0'"}},
			[]string{"entry.yaml:17: the workflow's guards are checked when an application is started, which has no event: len(event) == 0"}},
		{"create guard reading an event field", []edit{{"entry.yaml", `'ref.state == "published" && agg.mine < 3'`, "'event.ok == true'"}},
			[]string{"entry.yaml:17: the workflow's guards are checked when an application is started, which has no event: event.ok == true",
				"entry.yaml:17: guard reads event.ok but the event takes no data"}},

		// cascades to the parent and the children
		{"parent_event that is not system in the parent", []edit{{"tranche.yaml", "parent_event: terminate", "parent_event: close"}},
			[]string{`tranche.yaml:1: event fail: parent_event "close" must be a system event of entry`}},
		{"parent_event the parent does not have", []edit{{"tranche.yaml", "parent_event: terminate", "parent_event: end"}},
			[]string{`tranche.yaml:1: event fail: parent_event "end" must be a system event of entry`}},
		{"parent system event nothing fires any more", []edit{{"tranche.yaml", "    parent_event: terminate\n", ""}},
			[]string{"entry.yaml:103: no role may fire event terminate: it is system-only but no timer, review, objection or related workflow fires it"}},
		{"parent_event without a parent", []edit{{"challenge.yaml", "    to: published\n", "    to: published\n    parent_event: close\n"}},
			[]string{"challenge.yaml:1: event publish has parent_event but the workflow has no parent"}},
		{"children_event no child has", []edit{{"entry.yaml", "children_event: stop", "children_event: halt"}},
			[]string{`entry.yaml:1: event close: no child workflow of entry has event "halt"`}},
		{"children_event not system in the child", []edit{{"entry.yaml", "children_event: stop", "children_event: pay"}},
			[]string{`entry.yaml:1: event close: children_event "pay" must be a system event of tranche`}},
		{"child system event nothing fires any more", []edit{{"entry.yaml", "    children_event: stop\n", ""}},
			[]string{"tranche.yaml:38: no role may fire event stop: it is system-only but no timer, review, objection or related workflow fires it"}},

		// attachment slots
		{"duplicate attachment slot", []edit{{"entry.yaml", "{key: contract,", "{key: plan,"}},
			[]string{`entry.yaml:12: duplicate attachment slot "plan"`}},
		{"attachment slot with a bad key", []edit{{"entry.yaml", "{key: contract,", "{key: Contract,"}},
			[]string{`entry.yaml:12: attachment slot "Contract" must be lower-case letters, digits and _ (starting with a letter)`}},
		{"attachment slot without a title", []edit{{"entry.yaml", "{key: contract, title: {zh: 任务书, en: Contract}}", "{key: contract}"}},
			[]string{`entry.yaml:12: attachment slot needs "title"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := programmeFiles()
			for _, e := range tc.edits {
				require.Contains(t, files[e.file], e.from)
				files[e.file] = strings.Replace(files[e.file], e.from, e.to, 1)
			}
			var probs Problems
			require.ErrorAs(t, check(t, files), &probs)
			named := map[string]bool{}
			for _, w := range tc.want {
				named[w[:strings.Index(w, ":")]] = true
			}
			var got []string
			for _, p := range probs {
				if named[p.File] {
					got = append(got, p.String())
				}
			}
			require.Equal(t, tc.want, got, "all problems:\n%s", probs)
		})
	}
}

// TestRelationMisuses covers what the loader refuses of relations beyond
// the table above: a parent chain that loops, same_parent in a workflow
// without a parent, and a reference no state could ever satisfy.
func TestRelationMisuses(t *testing.T) {
	loop := strings.Replace(base, "created_by: [applicant]\n", "created_by: [applicant]\nparent: u\n", 1)
	other := strings.Replace(strings.Replace(base, "key: t\n", "key: u\n", 1), "created_by: [applicant]\n", "created_by: [applicant]\nparent: t\n", 1)
	other = strings.Replace(other, "form: t.form.json", "form: t.form.json", 1)
	done := make(chan error, 1)
	go func() { done <- check(t, map[string]string{"t.yaml": loop, "u.yaml": other, "t.form.json": form}) }()
	select {
	case err := <-done:
		require.Error(t, err)
		require.Contains(t, err.Error(), "the parent chain of t loops back through t")
	case <-time.After(5 * time.Second):
		t.Fatal("the loader hangs on a parent cycle")
	}

	sameParent := strings.Replace(base, "states:\n", "aggregates:\n  mine:\n    count: {workflow: [t], same_parent: true}\nstates:\n", 1)
	err := check(t, map[string]string{"t.yaml": sameParent, "t.form.json": form})
	require.Error(t, err)
	require.Contains(t, err.Error(), "aggregate mine: same_parent, but the workflow declares no parent")

	noStates := strings.Replace(base, "states:\n", "refers_to: {workflow: t, field: lead, states: []}\nstates:\n", 1)
	noStates = strings.Replace(noStates, "form: t.form.json", "form: r.form.json", 1)
	err = check(t, map[string]string{"t.yaml": noStates, "r.form.json": `{"type": "object", "properties": {"lead": {"type": "string"}}}`})
	require.Error(t, err)
	require.Contains(t, err.Error(), "refers_to.states must name at least one state")
}
