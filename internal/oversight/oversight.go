// Package oversight runs the auditors' checks over what the system
// recorded (the audit log, review tasks and stages, attachments) and lists
// what each finds, with a link to look closer. A finding is a reason to
// look, not a verdict: a bureau may have a good reason for each. The
// storage package reads the rows; the rules, thresholds and wording live
// here, and README.md ("Oversight checks") states each one.
package oversight

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
	"github.com/sciflow/sciflow/internal/workflow"
)

// The checks, by the key the API takes.
const (
	CheckTwoStages          = "two_stages"
	CheckConflictedExpert   = "conflicted_expert"
	CheckOutlierScore       = "outlier_score"
	CheckLateDecision       = "late_decision"
	CheckReturnedOften      = "returned_often"
	CheckAttachmentReplaced = "attachment_replaced"
	CheckNightActivity      = "night_activity"
)

// Severities: high is a rule of fairness broken (回避, separation of
// duties); medium deserves a look; low is a matter of diligence.
const (
	SeverityHigh   = "high"
	SeverityMedium = "medium"
	SeverityLow    = "low"
)

// DefaultReturnedMoreThan is N of "returned more than N times" when the
// caller names none: two rounds of questions are ordinary, a third is not.
const DefaultReturnedMoreThan = 2

// The night: NightStartHour to NightEndHour China time (UTC+8, as
// Asia/Shanghai), when a county bureau's accounts are normally idle.
// NightMinActions audited actions by one account in one such night are
// bulk work no person does by hand at that hour: a script, a shared or
// stolen password.
const (
	NightStartHour  = 22
	NightEndHour    = 6
	NightMinActions = 20
)

// The outlier rule: a total is an outlier when it lies more than
// max(OutlierMinPoints, OutlierMADs × MAD) from the median of the other
// totals of its panel, MAD being their median absolute deviation from that
// median. 3 MAD is about two standard deviations of a normal panel,
// estimated so that one wild score does not hide another; the floor keeps
// a panel that happens to agree closely from flagging ordinary
// disagreement. OutlierMinPanel totals are needed: fewer leave no "rest".
const (
	OutlierMinPoints = 15
	OutlierMADs      = 3
	OutlierMinPanel  = 3
)

// Finding is one thing a check found.
type Finding struct {
	Check    string
	Severity string
	// ApplicationID is the application it is about, if any; ActorID the
	// person whose acts it is about, if any.
	ApplicationID string
	Workflow      string
	ActorID       string
	ActorName     string
	ActorUsername string
	// Subject is the record it is about (a task, an attachment), if any.
	Subject string
	// At is when it became what was found: the latest act that makes it.
	At     time.Time
	Detail errs.Text
	// Link is the console page to look closer: the application, or the
	// account's entries in the audit log.
	Link string
}

// Check describes one check.
type Check struct {
	Key   string
	Title errs.Text
	// Rule is what triggers it, in words.
	Rule errs.Text
}

// CheckCount is a check with how many findings it made.
type CheckCount struct {
	Check
	Count int
}

// Report is what a run found.
type Report struct {
	Findings []Finding
	Checks   []CheckCount
}

// Options choose what a run looks at.
type Options struct {
	// Check is one check's key; empty runs every check.
	Check string
	// ReturnedMoreThan is N of returned_often; 0 means
	// DefaultReturnedMoreThan.
	ReturnedMoreThan int
	// From and To keep findings whose time (Finding.At) is in [From, To);
	// zero is no bound. The night check counts only actions in the window.
	From, To time.Time
}

// Definitions gives stored definition versions (the engine does): which
// states are review stages, and which moves hand an application back,
// depend on the version an entry was made under.
type Definitions interface {
	Definition(ctx context.Context, key string, version int) (*workflow.Definition, error)
}

// Service runs the checks.
type Service struct {
	db   *postgres.DB
	defs Definitions
}

// New makes the service.
func New(db *postgres.DB, defs Definitions) *Service { return &Service{db: db, defs: defs} }

type checkFunc func(s *Service, ctx context.Context, o Options) ([]Finding, error)

type check struct {
	Check
	run checkFunc
}

var checks = []check{
	{Check{CheckTwoStages, errs.Text{Zh: "同一人在同一申请的两个审核环节办理", En: "One person acting at two stages of one application"},
		errs.Text{Zh: "同一账号在同一申请的两个不同审核环节作出评审决定或执行审核操作（同一环节的多轮只算一个环节；申请人本人不计）",
			En: "the same account decided a review task or fired a reviewer's event in two different review states of one application (rounds of one state count once; the applicant never counts)"}},
		(*Service).twoStages},
	{Check{CheckConflictedExpert, errs.Text{Zh: "专家评审了应回避的单位", En: "An expert deciding on an organisation they must recuse from"},
		errs.Text{Zh: "评审任务已作出决定，而评审人声明与申请单位存在利益冲突，或在抽取专家的环节中评审人属于申请单位",
			En: "a decided review task whose reviewer declares a conflict with the applicant's organisation, or, in a stage that drew experts, works for it"}},
		(*Service).conflictedExperts},
	{Check{CheckOutlierScore, errs.Text{Zh: "评分明显偏离评审组", En: "A score far from the panel's"},
		errs.Text{Zh: fmt.Sprintf("专家总分与同组其他专家总分中位数之差超过 max(%d 分, %d × 其他总分的中位数绝对偏差)；评审组至少 %d 人打分",
			OutlierMinPoints, OutlierMADs, OutlierMinPanel),
			En: fmt.Sprintf("an expert's total differs from the median of the other totals of the panel by more than max(%d points, %d × their median absolute deviation); panels of at least %d scores",
				OutlierMinPoints, OutlierMADs, OutlierMinPanel)}},
		(*Service).outlierScores},
	{Check{CheckLateDecision, errs.Text{Zh: "逾期作出的评审决定", En: "A decision after the deadline"},
		errs.Text{Zh: "评审任务的决定时间晚于其到期时间", En: "a review task decided after its due time"}},
		(*Service).lateDecisions},
	{Check{CheckReturnedOften, errs.Text{Zh: "多次退回修改", En: "Returned many times"},
		errs.Text{Zh: "申请从审核环节退回申请人修改的次数超过 N 次（默认 2 次；被取回的退回不计）",
			En: "an application handed back from a review stage to its applicant more than N times (2 unless asked; a return its reviewer recalled does not count)"}},
		(*Service).returnedOften},
	{Check{CheckAttachmentReplaced, errs.Text{Zh: "提交后替换附件", En: "An attachment replaced after submission"},
		errs.Text{Zh: "申请首次提交之后，向已有文件的附件类别再上传文件（无类别的流程：同名文件）",
			En: "a file added after the application was first submitted to a slot that already held one (workflows without slots: a file of the same name)"}},
		(*Service).replacedAttachments},
	{Check{CheckNightActivity, errs.Text{Zh: "非工作时间批量操作", En: "Bulk actions at night"},
		errs.Text{Zh: fmt.Sprintf("同一账号在一个夜间（北京时间 %d:00 至次日 %d:00）有不少于 %d 条审计记录（登录失败不计）", NightStartHour, NightEndHour, NightMinActions),
			En: fmt.Sprintf("one account made at least %d audited actions in one night, %02d:00 to %02d:00 China time (failed sign-ins not counted)", NightMinActions, NightStartHour, NightEndHour)}},
		(*Service).nightActivity},
}

// Checks lists every check, in the order a report lists them.
func Checks() []Check {
	out := make([]Check, len(checks))
	for i, c := range checks {
		out[i] = c.Check
	}
	return out
}

// Run runs the checks o asks for. Only auditors may: findings carry
// experts' scores and names, which administrators never read.
func (s *Service) Run(ctx context.Context, viewer *identity.User, o Options) (Report, error) {
	if viewer == nil || !viewer.Has(identity.Auditor) {
		return Report{}, errs.E(errs.Forbidden, "仅审计人员可运行监督检查", "only auditors may run the oversight checks")
	}
	if o.ReturnedMoreThan < 0 {
		return Report{}, errs.E(errs.Invalid, "退回次数不能为负数", "the number of returns cannot be negative").
			Field("returned_more_than", "不能为负数", "cannot be negative")
	}
	if o.ReturnedMoreThan == 0 {
		o.ReturnedMoreThan = DefaultReturnedMoreThan
	}
	if !o.From.IsZero() && !o.To.IsZero() && !o.To.After(o.From) {
		return Report{}, errs.E(errs.Invalid, "结束时间应晚于开始时间", "the end must be after the start").Field("to", "应晚于开始时间", "must be after the start")
	}
	run := checks
	if o.Check != "" {
		i := slices.IndexFunc(checks, func(c check) bool { return c.Key == o.Check })
		if i < 0 {
			keys := make([]string, len(checks))
			for j, c := range checks {
				keys[j] = c.Key
			}
			return Report{}, errs.E(errs.Invalid, "未知的检查："+o.Check, "unknown check: "+o.Check).
				Field("check", "应为 "+strings.Join(keys, "、"), "one of "+strings.Join(keys, ", "))
		}
		run = checks[i : i+1]
	}
	r := Report{Findings: []Finding{}}
	for _, c := range run {
		found, err := c.run(s, ctx, o)
		if err != nil {
			return Report{}, fmt.Errorf("oversight check %s: %w", c.Key, err)
		}
		// Newest first within a check: the recent is what can still be put right.
		sort.SliceStable(found, func(i, j int) bool { return found[i].At.After(found[j].At) })
		r.Findings = append(r.Findings, found...)
		r.Checks = append(r.Checks, CheckCount{Check: c.Check, Count: len(found)})
	}
	return r, nil
}

func window(o Options) postgres.OversightWindow {
	return postgres.OversightWindow{From: o.From, To: o.To}
}

// appLink is the application's page in the console.
func appLink(id string) string { return "/apps/" + id }

// moves reads every stored definition version and lists, as
// postgres.MoveKey, the moves that are a person acting at a review stage
// (an event from a review state that some role besides the applicant may
// fire) and the moves that hand an application back to its applicant
// (an event from a review state into an edit state, fired by the system
// for a stage's reviewers or by a reviewer's role).
func (s *Service) moves(ctx context.Context) (acting, returning []string, err error) {
	refs, err := s.db.WorkflowVersionRefs(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, ref := range refs {
		def, err := s.defs.Definition(ctx, ref.Key, ref.Version)
		if err != nil {
			return nil, nil, fmt.Errorf("definition %s v%d: %w", ref.Key, ref.Version, err)
		}
		for _, st := range def.States {
			if st.Kind != workflow.KindReview {
				continue
			}
			for _, ev := range def.EventsFrom(st.Key) {
				reviewer := ev.System || slices.ContainsFunc(ev.Roles, func(r identity.Role) bool { return r != identity.Applicant })
				if !reviewer {
					continue
				}
				key := postgres.MoveKey(def.Key, ref.Version, st.Key, ev.Key)
				if !ev.System {
					acting = append(acting, key)
				}
				if to, ok := def.State(ev.To); ok && to.Kind == workflow.KindEdit {
					returning = append(returning, key)
				}
			}
		}
	}
	return acting, returning, nil
}

// stateNames names workflows' states as their newest stored version
// does (as people know them now), reading each definition once; a key it
// does not know stays a key.
func (s *Service) stateNames(ctx context.Context) (func(wf, state string) errs.Text, error) {
	refs, err := s.db.WorkflowVersionRefs(ctx)
	if err != nil {
		return nil, err
	}
	newest := map[string]int{}
	for _, r := range refs {
		newest[r.Key] = max(newest[r.Key], r.Version)
	}
	defs := map[string]*workflow.Definition{}
	return func(wf, state string) errs.Text {
		def, ok := defs[wf]
		if !ok {
			if v, known := newest[wf]; known {
				def, _ = s.defs.Definition(ctx, wf, v)
			}
			defs[wf] = def
		}
		if def != nil {
			if st, ok := def.State(state); ok {
				return st.Title
			}
		}
		return errs.Text{Zh: state, En: state}
	}, nil
}

func chinaTime(t time.Time) string { return t.In(calendar.China).Format("2006-01-02 15:04") }
