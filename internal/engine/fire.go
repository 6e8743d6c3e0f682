package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/looplab/fsm"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
	"github.com/sciflow/sciflow/internal/workflow"
)

// FireInput is a request to fire an event.
type FireInput struct {
	Event   string
	Comment string
	Data    map[string]any
	// ExpectedVersion, when set, must equal the application's version.
	ExpectedVersion *int
	// IdempotencyKey makes a repeated request return the first answer.
	IdempotencyKey string
	// Questions are asked of the applicant by an event that sends back.
	Questions []string
}

// FireResult is the application after the event and the step it took.
type FireResult struct {
	Application Application
	Transition  Transition
}

// Fire fires an event on an application as actor, in one transaction: an
// idempotency check, the row lock, roles, separation of duties, comment,
// payload and guards, the move, the history entry, side effects. Whatever
// fails, nothing is written.
func (e *Engine) Fire(ctx context.Context, actor *identity.User, appID string, in FireInput) (FireResult, error) {
	if err := checkIdempotencyKey(in.IdempotencyKey); err != nil {
		return FireResult{}, err
	}
	tx, err := e.db.Begin(ctx)
	if err != nil {
		return FireResult{}, err
	}
	defer tx.Rollback()

	var reqHash string
	if in.IdempotencyKey != "" && actor != nil {
		// Concurrent requests with one key queue here, so the second waits
		// for the first to commit and then finds its answer.
		if err := tx.LockKey(ctx, "idempotency:"+actor.ID+":"+in.IdempotencyKey); err != nil {
			return FireResult{}, err
		}
		reqHash = requestHash(appID, in)
		prev, found, err := tx.IdempotentAnswer(ctx, actor.ID, in.IdempotencyKey)
		if err != nil {
			return FireResult{}, err
		}
		if found {
			if prev.RequestHash != reqHash {
				return FireResult{}, errs.E(errs.Invalid, "该 Idempotency-Key 已用于另一个请求", "this Idempotency-Key was used for a different request").
					Field("Idempotency-Key", "已用于另一个请求", "already used for a different request")
			}
			var res FireResult
			if err := json.Unmarshal(prev.Response, &res); err != nil {
				return FireResult{}, fmt.Errorf("decode stored answer: %w", err)
			}
			return res, nil
		}
	}

	app, rows, err := tx.LockApplicationWithHistory(ctx, actor, appID)
	if err != nil {
		return FireResult{}, err
	}
	hist, err := decodeHistory(rows)
	if err != nil {
		return FireResult{}, err
	}
	res, err := e.fire(ctx, tx, actor, app, in, fireOpts{hist: hist})
	if err != nil {
		return FireResult{}, err
	}
	if reqHash != "" {
		raw, err := json.Marshal(res)
		if err != nil {
			return FireResult{}, fmt.Errorf("encode answer: %w", err)
		}
		if err := tx.SaveIdempotentAnswer(ctx, actor.ID, in.IdempotencyKey, reqHash, raw); err != nil {
			return FireResult{}, err
		}
	}
	if err := tx.Commit(); err != nil {
		return FireResult{}, err
	}
	return res, nil
}

// MaxIdempotencyKey is the longest Idempotency-Key kept, in bytes.
const MaxIdempotencyKey = 200

// checkIdempotencyKey refuses a key that cannot be stored as sent: one a
// client (an API header, a page's hidden field) made too long or not text.
func checkIdempotencyKey(key string) error {
	switch {
	case len(key) > MaxIdempotencyKey:
		return errs.E(errs.BadRequest, "Idempotency-Key 过长", "Idempotency-Key is too long").
			Field("Idempotency-Key", fmt.Sprintf("不能超过 %d 字节", MaxIdempotencyKey), fmt.Sprintf("at most %d bytes", MaxIdempotencyKey))
	case !utf8.ValidString(key) || strings.ContainsRune(key, 0):
		return errs.E(errs.BadRequest, "Idempotency-Key 应为 UTF-8 文本", "Idempotency-Key must be UTF-8 text").
			Field("Idempotency-Key", "应为 UTF-8 文本", "UTF-8 text")
	}
	return nil
}

// fireOpts is what the engine adds when it fires an event itself.
type fireOpts struct {
	// outcome is set when a review stage's policy fires its outcome.
	outcome *stageOutcome
	// hist is the history already read under the lock; nil reads it.
	hist []audit.Recorded
	// before are audit entries of the same change (the deciding vote) that
	// precede the transition in the chain.
	before []audit.Entry
}

// stageOutcome is a review stage's decision, recorded with the transition
// it fires so that the history says who decided and on what tally.
type stageOutcome struct {
	summary   map[string]any
	decidedBy []string
	// askedBy asks the questions of a send back chosen by a reviewer.
	askedBy string
}

// fire does the checks and the move on an application locked in tx.
func (e *Engine) fire(ctx context.Context, tx *postgres.Tx, actor *identity.User, app postgres.Application, in FireInput, opts fireOpts) (FireResult, error) {
	def, err := e.Definition(ctx, app.Workflow, app.WorkflowVersion)
	if err != nil {
		return FireResult{}, err
	}
	ev, ok := def.Event(in.Event)
	if !ok {
		return FireResult{}, errs.E(errs.Invalid, "此流程没有该操作："+in.Event, "this workflow has no event "+in.Event).
			Field("event", "未知的操作", "unknown event")
	}
	if in.ExpectedVersion != nil && *in.ExpectedVersion != app.Version {
		return FireResult{}, staleVersion(app.Version)
	}
	machine := def.Machine(app.State)
	if !machine.Can(ev.Key) {
		return FireResult{}, errs.E(errs.Conflict, fmt.Sprintf("当前状态（%s）下不能执行“%s”", stateTitle(def, app.State).Zh, ev.Title.Zh),
			fmt.Sprintf("%q is not possible in the current state (%s)", ev.Title.En, stateTitle(def, app.State).En))
	}
	from, _ := def.State(app.State)
	switch {
	case actor == nil && !ev.System && opts.outcome == nil:
		return FireResult{}, fmt.Errorf("system may not fire %s: it is not a system event", ev.Key)
	case actor != nil && !ev.MayFire(app.ScopeRoles):
		return FireResult{}, errs.E(errs.Forbidden, "您无权执行“"+ev.Title.Zh+"”", "you may not "+strings.ToLower(ev.Title.En))
	case actor != nil && from.Review != nil && from.Review.DecidesBy(ev.Key):
		return FireResult{}, errs.E(errs.Forbidden, "“"+from.Title.Zh+"”环节由评审任务决定，请在待办任务中作出决定",
			from.Title.En+" is decided through its review tasks: decide in your task list")
	}
	if actor != nil && e.SubmitGate != nil && submits(def, app, ev) {
		if err := e.SubmitGate(ctx, tx, actor); err != nil {
			return FireResult{}, err
		}
	}
	hist := opts.hist
	if hist == nil {
		rows, err := tx.History(ctx, app.ID)
		if err != nil {
			return FireResult{}, err
		}
		if hist, err = decodeHistory(rows); err != nil {
			return FireResult{}, err
		}
	}
	if actor != nil {
		if err := separationOfDuties(def, app, ev, actor, hist); err != nil {
			return FireResult{}, err
		}
	}
	comment := strings.TrimSpace(in.Comment)
	// A stage's outcome carries the deciding reviewer's comment, if any;
	// the comment rule applied to their decision.
	if ev.Comment == workflow.CommentRequired && comment == "" && opts.outcome == nil {
		return FireResult{}, errs.E(errs.Invalid, "请填写意见", "a comment is required").Field("comment", "必填", "required")
	}
	if len(comment) > 10000 {
		return FireResult{}, errs.E(errs.Invalid, "意见过长", "the comment is too long").Field("comment", "不能超过 10000 字节", "at most 10000 bytes")
	}
	questions, err := checkQuestions(ev, in.Questions)
	if err != nil {
		return FireResult{}, err
	}
	if ev.Data == nil && len(in.Data) > 0 {
		return FireResult{}, errs.E(errs.Invalid, "此操作不接受数据", "this event takes no data").Field("data", "不应填写", "not allowed")
	}
	if ev.Data != nil {
		if in.Data == nil {
			in.Data = map[string]any{}
		}
		if err := workflow.Validate(ev.Data, in.Data, "data", workflow.Complete); err != nil {
			return FireResult{}, err
		}
	}
	data := app.Data
	if len(ev.Sets) > 0 {
		set := map[string]any{}
		for _, k := range ev.Sets {
			if v, ok := in.Data[k]; ok {
				set[k] = v
			}
		}
		data = mergePatch(app.Data, set)
	}
	data = applyAdds(ev, data, in.Data)
	if ev.ValidateForm {
		if err := workflow.Validate(def.Form, data, "data", workflow.Complete); err != nil {
			return FireResult{}, err
		}
		if err := requireSlots(ctx, tx, def, app.ID); err != nil {
			return FireResult{}, err
		}
	}
	to, _ := def.State(ev.To)
	// Guards judge meaning, so they run on a well-formed form. What they
	// read beyond the application (the application referred to, the
	// aggregates) is read only for the events that need it.
	env := e.guardEnv(ctx, tx, actor, app, in.Data)
	env.Data = data
	if def.RefersTo != nil && (handsOver(from, to) || usesRef(ev)) {
		ref, err := e.reference(ctx, tx, nil, def, data)
		if err != nil {
			return FireResult{}, err
		}
		if handsOver(from, to) {
			if err := referenceOpen(def, ref); err != nil {
				return FireResult{}, err
			}
		}
		env.Ref = refEnv(ref)
	}
	if env.Agg, err = e.aggregates(ctx, tx, def, app, data, guardAggregates(ev.Guards, ev.Compute)); err != nil {
		return FireResult{}, err
	}
	if data, err = applyCompute(ev, env); err != nil {
		return FireResult{}, err
	}
	env.Data = data
	if err := checkGuards(ev, env); err != nil {
		return FireResult{}, err
	}
	if handsOver(from, to) && wasSentBack(hist) {
		if err := requireAnswers(ctx, tx, app.ID); err != nil {
			return FireResult{}, err
		}
	}
	party := app.PartyOrgID
	if ev.Sets != nil || ev.Compute != nil {
		if party, err = e.party(ctx, tx, def, data, app.PartyOrgID); err != nil {
			return FireResult{}, err
		}
	}
	// The machine is the transition table; it moves only after every check
	// above has passed. A self-transition is intended, not an error.
	if err := machine.Event(ctx, ev.Key); err != nil && !errors.As(err, new(fsm.NoTransitionError)) {
		return FireResult{}, fmt.Errorf("move %s by %s: %w", app.ID, ev.Key, err)
	}
	// Stored to the microsecond, so the answer built from it equals what
	// is read later.
	now := e.Now().Truncate(time.Microsecond)
	changed := to.Key != app.State
	change := postgres.ApplicationChange{ID: app.ID, Version: app.Version, State: to.Key, StateChanged: changed, Data: data,
		Submitted: app.SubmittedAt != nil || to.Key != def.Initial, WorkflowVersion: app.WorkflowVersion, PartyOrgID: party, At: now}
	if changed {
		change.Deadline = e.deadlineFor(to, now)
	}
	if err := tx.UpdateApplication(ctx, change); err != nil {
		return FireResult{}, err
	}
	entryData := in.Data
	if opts.outcome != nil || len(questions) > 0 {
		entryData = mergePatch(in.Data, nil)
	}
	if opts.outcome != nil {
		entryData["review"] = opts.outcome.summary
		entryData["decided_by"] = opts.outcome.decidedBy
	}
	if len(questions) > 0 {
		entryData["questions"] = questions
	}
	entry := audit.Entry{Kind: audit.KindTransition, AtMicros: now.UnixMicro(), ApplicationID: app.ID,
		AppSeq: len(hist) + 1, Workflow: app.Workflow, WorkflowVersion: app.WorkflowVersion, Event: ev.Key,
		From: app.State, To: to.Key, Comment: comment, Data: entryData}
	if actor != nil {
		entry.ActorID = actor.ID
	}
	var after []audit.Entry
	if changed {
		if from.Review != nil {
			sc := postgres.StageClose{Outcome: ev.Key, At: now}
			if opts.outcome != nil {
				sc.Decided, sc.ResultVersion, sc.Summary = true, app.Version+1, opts.outcome.summary
			}
			if err := tx.CloseStage(ctx, app.ID, sc); err != nil {
				return FireResult{}, err
			}
		}
		moved := app
		moved.State, moved.Data, moved.PartyOrgID = to.Key, data, party
		if err := e.enterState(ctx, tx, def, moved, to, now); err != nil {
			return FireResult{}, err
		}
		if to.Review != nil {
			if after, err = e.openStage(ctx, tx, def, moved, to, append(hist, audit.Recorded{Entry: entry}), change.Deadline, actor, now); err != nil {
				return FireResult{}, err
			}
		}
	}
	if ev.ResolvesObjections != "" {
		if _, err := tx.ResolveObjections(ctx, app.ID, ev.ResolvesObjections, comment, now); err != nil {
			return FireResult{}, err
		}
	}
	if len(questions) > 0 {
		askedBy := ""
		switch {
		case actor != nil:
			askedBy = actor.ID
		case opts.outcome != nil:
			askedBy = opts.outcome.askedBy
		}
		if _, err := tx.AskQuestions(ctx, app.ID, app.State, askedBy, questions, now); err != nil {
			return FireResult{}, err
		}
	}
	// A transition's side effect is the applicant's notification; a move
	// that tells them nothing (their own submission, say) queues no job.
	if workflow.ApplicantNews(from, to) != workflow.NewsNone {
		effect := map[string]any{"workflow": app.Workflow, "event": ev.Key, "from": app.State, "to": to.Key, "seq": entry.AppSeq}
		if actor != nil {
			effect["actor_id"] = actor.ID
		}
		if err := tx.QueueEffect(ctx, "transition", app.ID, effect); err != nil {
			return FireResult{}, err
		}
	}
	// The entries join the application's chain, whose head was locked with
	// the application; they are written by the statement that reads the
	// application back.
	for _, b := range opts.before {
		if _, err := e.chain.Append(ctx, tx, b); err != nil {
			return FireResult{}, err
		}
	}
	rec, err := e.chain.Append(ctx, tx, entry)
	if err != nil {
		return FireResult{}, err
	}
	for _, a := range after {
		if _, err := e.chain.Append(ctx, tx, a); err != nil {
			return FireResult{}, err
		}
	}
	// The application as it is now is what was read under the lock and
	// what this step changed; only the caller's roles on it are read again
	// (a reviewer may no longer see it), with the entries' write.
	updated := app
	updated.State, updated.Data, updated.PartyOrgID, updated.Version, updated.Updated = to.Key, data, party, app.Version+1, now
	if change.Submitted && updated.SubmittedAt == nil {
		updated.SubmittedAt = &now
	}
	if changed {
		updated.StateEnteredAt, updated.Deadline = now, change.Deadline
	}
	if updated.ScopeRoles, err = tx.ScopeWritten(ctx, actor, app.ID); err != nil {
		return FireResult{}, err
	}
	// The history the next actions are judged on is the one read under the
	// lock plus this step; no second read.
	view, err := e.view(ctx, tx, actor, updated, def, knownHistory(append(hist, rec)))
	if err != nil {
		return FireResult{}, err
	}
	if ev.ParentEvent != "" || ev.ChildrenEvent != "" {
		if err := e.cascade(ctx, tx, app, ev, comment); err != nil {
			return FireResult{}, err
		}
	}
	t := Transition{Seq: rec.AppSeq, Event: ev.Key, From: app.State, To: to.Key, Comment: comment, Data: entryData,
		At: rec.At(), Hash: hex.EncodeToString(rec.Hash)}
	if actor != nil {
		t.Actor = &UserRef{ID: actor.ID, Username: actor.Username, Name: actor.Name}
	}
	return FireResult{Application: view, Transition: t}, nil
}

// handsOver reports whether a move takes an application from the
// applicant's hands to someone else's: from an edit state to one that is
// neither edited nor final.
func handsOver(from, to *workflow.State) bool {
	return from != nil && to != nil && from.Kind == workflow.KindEdit && to.Kind != workflow.KindEdit && to.Kind != workflow.KindTerminal
}

// submits reports whether firing ev is the applicant handing the
// application over: acting as applicant, from an edit state to a state that
// is neither edited nor final (withdrawing is not submitting).
func submits(def *workflow.Definition, app postgres.Application, ev *workflow.Event) bool {
	if !slices.Contains(ev.Roles, identity.Applicant) || !slices.Contains(app.ScopeRoles, identity.Applicant) {
		return false
	}
	from, _ := def.State(app.State)
	to, _ := def.State(ev.To)
	return handsOver(from, to)
}

func stateTitle(def *workflow.Definition, key string) workflow.Text {
	if s, ok := def.State(key); ok {
		return s.Title
	}
	return workflow.Text{Zh: key, En: key}
}

// separationOfDuties refuses a review decision by someone who should not
// make it: whoever submitted the application, and (when the workflow asks
// for it) whoever decided the previous review stage.
func separationOfDuties(def *workflow.Definition, app postgres.Application, ev *workflow.Event, actor *identity.User, hist []audit.Recorded) error {
	cur, ok := def.State(app.State)
	if !ok || cur.Kind != workflow.KindReview {
		return nil
	}
	// Acting as the applicant (withdrawing while under review) decides nothing.
	reviewing := false
	for _, r := range app.ScopeRoles {
		if r != identity.Applicant && slices.Contains(ev.Roles, r) {
			reviewing = true
		}
	}
	if !reviewing {
		return nil
	}
	if actor.ID == app.ApplicantID {
		return errs.E(errs.Forbidden, "申请人不能审核自己的申请", "you cannot review your own application")
	}
	for _, h := range hist {
		if from, ok := def.State(h.From); ok && from.Kind == workflow.KindEdit && h.ActorID == actor.ID {
			return errs.E(errs.Forbidden, "提交人不能审核同一申请", "whoever submitted an application cannot review it")
		}
	}
	if !def.SeparateStages {
		return nil
	}
	if slices.Contains(previousDeciders(def, hist, app.State), actor.ID) {
		return errs.E(errs.Forbidden, "同一人不能连续审核两个环节", "the same person cannot decide two consecutive stages")
	}
	return nil
}

// previousDeciders are the people who decided the review stage just before
// state: whoever fired its last move, or, when its policy moved it, the
// reviewers whose decisions did. A recall decides nothing, and a round trip
// through the applicant's hands keeps two stages consecutive; a notice or a
// running phase between them does not (the mid-term check is not the
// decision's successor).
func previousDeciders(def *workflow.Definition, hist []audit.Recorded, state string) []string {
	for i := len(hist) - 1; i >= 0; i-- {
		h := hist[i]
		from, ok := def.State(h.From)
		if ok && (from.Kind == workflow.KindNotice || from.Kind == workflow.KindActive) && h.From != state {
			return nil
		}
		if !ok || from.Kind != workflow.KindReview || h.From == state || h.Event == recallEvent {
			continue
		}
		if h.ActorID != "" {
			return []string{h.ActorID}
		}
		if out := decidedBy(h.Data); len(out) > 0 {
			return out
		}
	}
	return nil
}

// guardEnv is what guards see; payload is the event's data (nil when
// listing actions).
func (e *Engine) guardEnv(ctx context.Context, r appReader, actor *identity.User, app postgres.Application, payload map[string]any) workflow.Env {
	env := workflow.Env{Data: app.Data, Event: payload, Now: e.Now(),
		App: workflow.AppEnv{ID: app.ID, State: app.State, OrgID: app.OrgID, OrgParentID: app.OrgParentID,
			ApplicantID: app.ApplicantID, Version: app.Version, CreatedAt: app.Created}}
	if actor != nil {
		env.Actor = workflow.ActorEnv{ID: actor.ID, Username: actor.Username, OrgID: actor.OrgID, Roles: identity.RoleStrings(actor.Roles)}
	}
	if app.ParentID != "" {
		if parent, err := r.Application(ctx, nil, app.ParentID); err == nil {
			env.Parent = &workflow.ParentEnv{State: parent.State, Data: parent.Data}
		}
	}
	return env
}

// checkGuards runs every guard of an event, reporting each that fails.
func checkGuards(ev *workflow.Event, env workflow.Env) error { return checkGuardList(ev.Guards, env) }

// checkGuardList runs guards, reporting each that fails under its field. A
// failed guard marked conflict makes the answer a 409: the state of
// something else forbids it, not the input.
func checkGuardList(guards []*workflow.Guard, env workflow.Env) error {
	var failed *errs.Error
	for _, g := range guards {
		ok, _ := g.Check(env)
		if ok {
			continue
		}
		if failed == nil {
			failed = errs.E(errs.Invalid, g.Message.Zh, g.Message.En)
		}
		if g.Conflict && failed.Code != errs.Conflict {
			failed.Code, failed.Msg = errs.Conflict, g.Message
		}
		field := g.Field
		if field == "" {
			field = "event"
		}
		failed.Field(field, g.Message.Zh, g.Message.En)
	}
	if failed != nil {
		return failed
	}
	return nil
}

// passesGuards is checkGuards for the actions list: guards that can only
// be judged when the event is fired (its payload, aggregates, the
// application referred to) pass here.
func passesGuards(ev *workflow.Event, env workflow.Env) bool {
	for _, g := range ev.Guards {
		if g.Deferred() {
			continue
		}
		if ok, _ := g.Check(env); !ok {
			return false
		}
	}
	return true
}

// usesRef reports whether an event's guards or computed fields read the
// application referred to.
func usesRef(ev *workflow.Event) bool {
	return slices.ContainsFunc(ev.Guards, func(g *workflow.Guard) bool { return g.UsesRef }) ||
		slices.ContainsFunc(ev.Compute, func(c *workflow.Computed) bool { return c.UsesRef })
}

// refEnv is the referenced application as guards see it.
func refEnv(ref *postgres.Application) *workflow.ParentEnv {
	if ref == nil {
		return nil
	}
	return &workflow.ParentEnv{State: ref.State, Data: ref.Data}
}

func requestHash(appID string, in FireInput) string {
	raw, _ := json.Marshal(struct {
		App     string
		Event   string
		Comment string
		Data    map[string]any
		Version *int
	}{appID, in.Event, in.Comment, in.Data, in.ExpectedVersion})
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

func dataHash(data map[string]any) string {
	raw, _ := json.Marshal(data)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}
