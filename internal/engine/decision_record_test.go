package engine_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/errs"
)

func usernames(refs []engine.UserRef) []string {
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		out = append(out, r.Username)
	}
	slices.Sort(out)
	return out
}

func (w *world) record(as, appID string) engine.DecisionRecord {
	w.t.Helper()
	rec, err := w.eng.DecisionRecord(w.ctx, w.users[as], appID)
	require.NoError(w.t, err, "%s reads the decision record", as)
	return rec
}

// sealed seals until the seal covers the application's chain as it is now
// (other tests' transactions may hold the sealer's horizon back a moment).
func (w *world) sealed(appID string) {
	w.t.Helper()
	require.Eventually(w.t, func() bool {
		_, err := w.chain.Seal(w.ctx, w.db)
		require.NoError(w.t, err)
		r, err := w.chain.VerifyChain(w.ctx, w.db, appID)
		require.NoError(w.t, err)
		return r.Seal != nil && r.Seal.Count == r.HeadCount
	}, 10*time.Second, 10*time.Millisecond)
}

// TestDecisionRecord runs an application through every kind of thing the
// record must account for: a send back with a question and its answer, a
// unit stage everyone approves, an expert draw with a recusal and its
// replacement, scores, the leader's amount, an objection to the notice
// that staff dismiss, and the notice's timer. The record lists each with
// the right people and figures; an administrator's has the process only;
// the applicant, the unit and the experts get not found; a changed entry
// shows.
func TestDecisionRecord(t *testing.T) {
	t.Parallel()
	w := reviewWorld(t)
	start := w.onMonday()
	app := w.submitProject("applicant")

	require.NoError(t, w.decide("unit_reviewer", app.ID, engine.DecisionInput{Decision: "send_back", Comment: "请补充",
		Questions: []string{"请补充近三年财务报表"}}))
	qs, err := w.eng.Questions(w.ctx, w.users["applicant"], app.ID)
	require.NoError(t, err)
	_, err = w.eng.Answer(w.ctx, w.users["applicant"], app.ID, map[string]string{qs[0].ID: "已补充 2023-2025 年报表"})
	require.NoError(t, err)
	w.mustFire("applicant", app.ID, "resubmit")
	for _, u := range []string{"unit_reviewer", "unit_reviewer2", "multi"} {
		w.mustDecide(u, app.ID, "recommend")
	}
	w.mustDecide("staff2", app.ID, "formal_pass")

	drawn := w.stage(app.ID).Tasks
	recused := drawn[0].Assignee.Username
	_, err = w.eng.Recuse(w.ctx, w.users[recused], w.taskOf(app.ID, recused).ID, "曾参与该企业项目合作")
	require.NoError(t, err)
	panel := w.assignees(w.stage(app.ID).Tasks, "open")
	require.Len(t, panel, 5)
	replacement := ""
	for _, u := range panel {
		if !slices.ContainsFunc(drawn, func(t engine.Task) bool { return t.Assignee.Username == u }) {
			replacement = u
		}
	}
	require.NotEmpty(t, replacement)
	given := [][4]float64{{95, 90, 92, 88}, {75, 70, 72, 70}, {70, 68, 71, 69}, {72, 74, 70, 73}, {40, 45, 50, 42}}
	for i, u := range panel {
		g := given[i]
		require.NoError(t, w.decide(u, app.ID, engine.DecisionInput{Decision: "score", Comment: "评审意见 " + u,
			Scores: scores(g[0], g[1], g[2], g[3])}))
	}
	require.NoError(t, w.decide("leader", app.ID, engine.DecisionInput{Decision: "approve", Comment: "同意立项",
		Data: map[string]any{"amount": 1500000}}))
	require.Equal(t, "public_notice", w.state(app.ID))

	_, err = w.eng.Object(w.ctx, app.ID, engine.ObjectionInput{Name: "张三", Phone: "13800138000", Org: "某合作社",
		Reason: "该企业的中试线尚未建成，申报材料与实际不符。"})
	require.NoError(t, err)
	require.NoError(t, w.decide("staff", app.ID, engine.DecisionInput{Decision: "dismiss", Comment: "经核实，中试线已于上月投产"}))
	require.Equal(t, "public_notice", w.state(app.ID))
	// Sealed before the timer fires: the record shows the seal and one
	// entry written since.
	w.sealed(app.ID)
	fired, err := w.eng.RunTimers(w.ctx, start.AddDate(0, 2, 0))
	require.NoError(t, err)
	require.Equal(t, 1, fired)

	rec := w.record("auditor", app.ID)
	require.False(t, rec.Redacted)
	require.Equal(t, "approved", rec.Application.State)
	require.Equal(t, "高性能复合材料研发", rec.Title)
	require.Equal(t, "alpha", rec.Application.Org.Name)

	var events []string
	step := map[string]engine.RecordStep{}
	for _, s := range rec.Steps {
		events = append(events, s.Event)
		step[s.Event] = s
	}
	require.Equal(t, []string{"create", "submit", "send_back", "resubmit", "recommend", "formal_pass", "experts_pass",
		"approve", "object", "dismiss", "notice_end"}, events)
	require.Equal(t, "applicant", step["submit"].Actor.Username)
	require.Equal(t, "applicant", step["submit"].Actor.Name)
	require.Nil(t, step["recommend"].Actor, "a stage's outcome is the system's step")
	require.Equal(t, []string{"multi", "unit_reviewer", "unit_reviewer2"}, usernames(step["recommend"].DecidedBy))
	require.Equal(t, []string{"unit_reviewer"}, usernames(step["send_back"].DecidedBy))
	require.Equal(t, []any{"请补充近三年财务报表"}, step["send_back"].Data["questions"])
	experts := slices.Clone(panel)
	slices.Sort(experts)
	require.Equal(t, experts, usernames(step["experts_pass"].DecidedBy), "the five who scored, not the one who stepped down")
	require.Equal(t, "71.25", step["experts_pass"].Data["review"].(map[string]any)["aggregate"])
	require.Equal(t, []string{"leader"}, usernames(step["approve"].DecidedBy))
	require.Equal(t, "同意立项", step["approve"].Comment)
	require.Equal(t, "1500000", fmt.Sprint(step["approve"].Data["amount"]))
	require.Equal(t, []string{"staff"}, usernames(step["dismiss"].DecidedBy))
	require.True(t, step["notice_end"].Timer)
	require.False(t, step["approve"].Timer)
	require.Len(t, rec.Timers, 1)
	require.Equal(t, "notice_end", rec.Timers[0].Event)
	require.Nil(t, rec.Timers[0].Actor)
	require.Empty(t, rec.Payments, "this programme pays nothing out")

	var stages []string
	for _, s := range rec.Stages {
		stages = append(stages, fmt.Sprintf("%s#%d:%s", s.State, s.Round, s.Outcome))
	}
	require.Equal(t, []string{"unit_review#1:send_back", "unit_review#2:recommend", "formal_review#1:formal_pass",
		"expert_review#1:experts_pass", "decision#1:approve", "objection_review#1:dismiss"}, stages)
	expert := rec.Stages[3]
	require.Len(t, expert.Tasks, 6, "five who scored and the one who stepped down")
	require.Len(t, expert.Draws, 2)
	require.True(t, expert.Draws[0].Replays && expert.Draws[1].Replays)
	require.Len(t, expert.Draws[0].Picked, 5)
	require.Len(t, expert.Draws[0].Seed, 32)
	require.Equal(t, replacement, rec.People[expert.Draws[1].Picked[0]].Username, "the people of the record name the drawn")
	for _, tk := range expert.Tasks {
		switch tk.Assignee.Username {
		case recused:
			require.Equal(t, "recused", tk.Status)
			require.Equal(t, "曾参与该企业项目合作", tk.Reason)
		case panel[0]:
			require.Equal(t, "decided", tk.Status)
			require.Equal(t, "91.60", tk.Total, "(95×30 + 90×25 + 92×25 + 88×20) / 100")
			require.EqualValues(t, 95, tk.Scores["industry"])
			require.Equal(t, "评审意见 "+panel[0], tk.Comment)
		}
	}

	require.Len(t, rec.Recusals, 1)
	r := rec.Recusals[0]
	require.Equal(t, recused, r.Reviewer.Username)
	require.Equal(t, "曾参与该企业项目合作", r.Reason)
	require.Equal(t, "expert_review", r.State)
	require.Equal(t, 1, r.Round)
	require.NotNil(t, r.ReplacedBy)
	require.Equal(t, replacement, r.ReplacedBy.Username)

	require.Len(t, rec.Questions, 1)
	q := rec.Questions[0]
	require.Equal(t, "请补充近三年财务报表", q.Question.Question)
	require.Equal(t, "已补充 2023-2025 年报表", q.Answer)
	require.Equal(t, "unit_reviewer", q.AskedBy.Username)
	require.Equal(t, "applicant", q.AnsweredBy.Username)

	require.Len(t, rec.Objections, 1)
	o := rec.Objections[0]
	require.Equal(t, "张三", o.Name)
	require.Equal(t, "dismissed", o.Status)
	require.Equal(t, "dismiss", o.Outcome)
	require.Equal(t, "经核实，中试线已于上月投产", o.Decision)
	require.Equal(t, []string{"staff"}, usernames(o.DecidedBy))
	require.NotNil(t, o.Decided)

	kinds := map[string]int{}
	for i, e := range rec.Entries {
		kinds[e.Kind]++
		require.EqualValues(t, i+1, e.ChainSeq, "the chain in order")
		require.Empty(t, e.Problem)
	}
	require.Equal(t, len(rec.Steps), kinds[audit.KindTransition])
	require.Equal(t, 1, kinds[audit.KindReviewRecuse])
	require.Equal(t, 2, kinds[audit.KindExpertDraw])
	require.Equal(t, 1, kinds[audit.KindAnswer])
	require.Equal(t, 1, kinds[engine.KindObjection])
	require.Equal(t, 1+3+1+5+1+1, kinds[audit.KindReviewDecision], "each reviewer's own decision: send back, unit, formal, experts, leader, objection")

	in := rec.Integrity
	require.True(t, in.OK, "%+v", in.Problems)
	require.Equal(t, app.ID, in.Chain)
	require.EqualValues(t, len(rec.Entries), in.Checked)
	require.EqualValues(t, len(rec.Entries), in.HeadCount)
	require.Equal(t, rec.Entries[len(rec.Entries)-1].Hash, in.HeadHash)
	require.NotNil(t, in.Seal)
	require.Equal(t, in.HeadCount-1, in.Seal.Count, "sealed before the timer's step")
	require.Equal(t, rec.Entries[in.Seal.Count-1].Hash, in.Seal.Hash)

	// The bureau reads it too; an administrator reads the process only.
	for _, who := range []string{"staff", "leader"} {
		require.Equal(t, len(rec.Entries), len(w.record(who, app.ID).Entries), who)
	}
	adm := w.record("admin", app.ID)
	require.True(t, adm.Redacted)
	require.Empty(t, adm.Title)
	require.Empty(t, adm.Application.Data)
	require.Len(t, adm.Steps, len(rec.Steps), "every step happened")
	for _, s := range adm.Steps {
		require.Empty(t, s.Comment, s.Event)
		require.Empty(t, s.Data, s.Event)
		require.Empty(t, s.DecidedBy, s.Event)
	}
	require.Equal(t, "applicant", adm.Steps[1].Actor.Username, "who took each step")
	for _, e := range adm.Entries {
		require.Empty(t, e.Comment)
		require.Empty(t, e.Data)
	}
	for _, s := range adm.Stages {
		require.Empty(t, s.Tasks, "no scores, no panel beyond what the audit log shows")
		require.Empty(t, s.Draws)
		require.Nil(t, s.Summary)
	}
	require.Empty(t, adm.Questions)
	require.Len(t, adm.Objections, 1)
	require.Equal(t, "dismissed", adm.Objections[0].Status)
	require.Empty(t, adm.Objections[0].Name)
	require.Empty(t, adm.Objections[0].Reason)
	require.Len(t, adm.Recusals, 1)
	require.Empty(t, adm.Recusals[0].Reason)
	require.Equal(t, in.HeadHash, adm.Integrity.HeadHash, "the proof is the same for everyone")

	// Whoever the record would tell about the panel, and is not the
	// bureau or oversight, does not learn it exists.
	for _, who := range []string{"applicant", "colleague", "rival", "unit_reviewer", panel[1], recused} {
		_, err := w.eng.DecisionRecord(w.ctx, w.users[who], app.ID)
		require.Equal(t, errs.NotFound, code(err), who)
	}
	_, err = w.eng.DecisionRecord(w.ctx, nil, app.ID)
	require.Equal(t, errs.NotFound, code(err))
	_, err = w.eng.DecisionRecord(w.ctx, w.users["auditor"], "not-an-id")
	require.Equal(t, errs.NotFound, code(err))

	// Changed afterwards: the approval's comment rewritten in the database.
	approve := step["approve"]
	tamper(t, w, fmt.Sprintf(`UPDATE audit_log SET content = replace(content, '同意立项', '同意立项，追加经费')
WHERE chain = '%s' AND chain_seq = %d`, app.ID, approve.ChainSeq))
	after := w.record("auditor", app.ID)
	require.False(t, after.Integrity.OK)
	require.Equal(t, []audit.Problem{{Seq: rec.Entries[approve.ChainSeq-1].Seq, Chain: app.ID, ChainSeq: approve.ChainSeq,
		Kind: audit.ProblemAltered}}, after.Integrity.Problems)
	require.Equal(t, audit.ProblemAltered, after.Entries[approve.ChainSeq-1].Problem)
	require.Equal(t, "同意立项，追加经费", after.Steps[7].Comment, "shown as stored, marked as altered")
}

// fundDefinition pays tranches that add up and records a clawback when it
// ends: the record's payments.
const fundDefinition = `key: fund
title: {zh: 资助, en: Funding}
initial: running
form: fund.form.json
created_by: [staff]
states:
  running:
    title: {zh: 执行中, en: Running}
    kind: active
  ended:
    title: {zh: 已终止, en: Ended}
    kind: terminal
events:
  disburse:
    title: {zh: 拨付资金, en: Disburse}
    from: [running]
    to: running
    roles: [staff]
    data:
      type: object
      required: [tranche, amount, paid_on]
      properties:
        tranche: {type: integer}
        amount: {type: number}
        paid_on: {type: string, format: date}
    adds: {disbursed: amount}
  terminate:
    title: {zh: 终止, en: Terminate}
    from: [running]
    to: ended
    roles: [staff]
    comment: required
    data:
      type: object
      required: [clawback]
      properties:
        clawback: {type: number}
    sets: [clawback]
`

func TestDecisionRecordPayments(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "fund.yaml"), []byte(fundDefinition), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "fund.form.json"),
		[]byte(`{"type": "object", "properties": {"title": {"type": "string"}, "disbursed": {"type": "number"}, "clawback": {"type": "number"}}}`), 0o644))
	w.sync(dir)
	app, err := w.eng.Create(w.ctx, w.users["staff"], engine.CreateInput{Workflow: "fund", Data: map[string]any{"title": "资助项目"}})
	require.NoError(t, err)
	_, err = w.fire("staff", app.ID, "disburse", "", map[string]any{"tranche": 1, "amount": 400000.5, "paid_on": "2026-12-01"})
	require.NoError(t, err)
	_, err = w.fire("staff2", app.ID, "disburse", "", map[string]any{"tranche": 2, "amount": 300000, "paid_on": "2027-06-01"})
	require.NoError(t, err)
	_, err = w.fire("staff", app.ID, "terminate", "未按期完成", map[string]any{"clawback": 120000})
	require.NoError(t, err)

	rec := w.record("auditor", app.ID)
	require.Len(t, rec.Payments, 3)
	var got []string
	for _, p := range rec.Payments {
		got = append(got, fmt.Sprintf("%s %s %s by %s", p.Event, p.Kind, p.Amount, p.Actor.Username))
	}
	require.Equal(t, []string{"disburse disbursement 400000.5 by staff", "disburse disbursement 300000 by staff2",
		"terminate clawback 120000 by staff"}, got)
	require.Equal(t, "2026-12-01", rec.Payments[0].Data["paid_on"])
	adm := w.record("admin", app.ID)
	require.Len(t, adm.Payments, 3, "administrators see that money moved")
	require.Empty(t, adm.Payments[0].Amount, "not how much")
}

// TestDecisionRecordLegacyEntries: an application older than per-chain
// hashing has entries in the legacy chain; the record lists them first and
// checks each against its own hash.
func TestDecisionRecordLegacyEntries(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	app := w.create("applicant", validData)
	w.mustFire("applicant", app.ID, "submit")
	content := fmt.Sprintf(`{"seq":900001,"at_us":1600000000000000,"kind":"data.patch","actor_id":%q,"application_id":%q,"comment":"旧系统中的修改"}`,
		w.users["applicant"].ID, app.ID)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(content))
	_, err := w.db.Exec(`INSERT INTO audit_log (seq, content, prev_hash, hash) VALUES (900001, $1, '', $2)`, content, m.Sum(nil))
	require.NoError(t, err)

	rec := w.record("staff", app.ID)
	require.True(t, rec.Integrity.OK, "%+v", rec.Integrity.Problems)
	require.EqualValues(t, 1, rec.Integrity.Legacy)
	require.EqualValues(t, 2, rec.Integrity.Checked)
	require.True(t, rec.Entries[0].Legacy)
	require.Equal(t, "旧系统中的修改", rec.Entries[0].Comment)
	require.Equal(t, "applicant", rec.Entries[0].Actor.Username)
	require.Len(t, rec.Steps, 2)

	tamper(t, w, `UPDATE audit_log SET content = replace(content, '旧系统中的修改', '别的修改') WHERE seq = 900001`)
	rec = w.record("staff", app.ID)
	require.Equal(t, []audit.Problem{{Seq: 900001, Kind: audit.ProblemAltered}}, rec.Integrity.Problems)
	require.Equal(t, audit.ProblemAltered, rec.Entries[0].Problem)
}

// tamper changes the audit log as someone with full database access would:
// the append-only trigger off, the change, the trigger on.
func tamper(t *testing.T, w *world, q string) {
	t.Helper()
	for _, s := range []string{`ALTER TABLE audit_log DISABLE TRIGGER USER`, q, `ALTER TABLE audit_log ENABLE TRIGGER USER`} {
		_, err := w.db.Exec(s)
		require.NoError(t, err)
	}
}
