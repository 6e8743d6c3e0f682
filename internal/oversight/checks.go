package oversight

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/postgres"
)

// twoStages: one person acting at two review stages of one application.
// The engine refuses it for consecutive stages when the workflow asks
// (separate_consecutive_stages), so what this finds slipped past that rule
// or was allowed: stages with another between them (formal review and the
// objection review after 公示), or a workflow that does not separate
// stages. An act is a decision on a review task (review.decision, whose
// stage is in the entry) or a transition a person fired from a review
// state by an event some role besides the applicant may fire; which
// states are review states is read from the definition version the entry
// names. Rounds of one state are one stage: deciding formal review again
// after a send back is the same stage.
func (s *Service) twoStages(ctx context.Context, o Options) ([]Finding, error) {
	acting, _, err := s.moves(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.ActorsInTwoStages(ctx, acting, window(o))
	if err != nil {
		return nil, err
	}
	name, err := s.stateNames(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Finding, 0, len(rows))
	for _, r := range rows {
		zh := make([]string, len(r.Stages))
		en := make([]string, len(r.Stages))
		for i, st := range r.Stages {
			t := name(r.Workflow, st)
			zh[i], en[i] = "“"+t.Zh+"”", t.En
		}
		out = append(out, about(CheckTwoStages, SeverityHigh, r.OversightAct, "", errs.Text{
			Zh: fmt.Sprintf("%s（%s）在此申请的 %d 个审核环节办理：%s", r.ActorName, r.ActorUsername, len(r.Stages), strings.Join(zh, "、")),
			En: fmt.Sprintf("%s (%s) acted at %d review stages of this application: %s", r.ActorName, r.ActorUsername, len(r.Stages), strings.Join(en, ", ")),
		}))
	}
	return out, nil
}

// conflictedExperts: a reviewer deciding on an organisation they must be
// recused from (回避). The engine never draws an expert who declares a
// conflict with the applicant's organisation or works for it, so what this
// finds came in another way: a conflict declared after the draw (the
// expert should then have recused), an expert named or added by staff, or
// a task handed on. expert_conflicts keeps declarations as they stand now,
// undated, so a finding may be a declaration made after the decision:
// the detail says which kind of conflict it is, and the audit log (the
// expert's account changes) says when. Working for the applicant's
// organisation counts only in stages that drew experts: unit reviewers
// decide for their own organisations by design.
func (s *Service) conflictedExperts(ctx context.Context, o Options) ([]Finding, error) {
	rows, err := s.db.ConflictedDecisions(ctx, window(o))
	if err != nil {
		return nil, err
	}
	name, err := s.stateNames(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Finding, 0, len(rows))
	for _, r := range rows {
		stage := name(r.Workflow, r.Stage)
		why := errs.Text{Zh: "声明与申请单位“" + r.OrgName + "”存在利益冲突", En: "declares a conflict with the applicant's organisation, " + r.OrgName}
		if !r.Declared {
			why = errs.Text{Zh: "属于申请单位“" + r.OrgName + "”", En: "works for the applicant's organisation, " + r.OrgName}
		}
		what := errs.Text{Zh: "作出决定（" + r.Decision + "）", En: "decided (" + r.Decision + ")"}
		if r.Total.Valid {
			what = errs.Text{Zh: "评分，总分 " + r.Total.String, En: "scored it, total " + r.Total.String}
		}
		out = append(out, about(CheckConflictedExpert, SeverityHigh, r.OversightAct, r.TaskID, errs.Text{
			Zh: fmt.Sprintf("%s（%s）%s，仍在“%s”环节%s", r.ActorName, r.ActorUsername, why.Zh, stage.Zh, what.Zh),
			En: fmt.Sprintf("%s (%s) %s, yet %s at %s", r.ActorName, r.ActorUsername, why.En, what.En, stage.En),
		}))
	}
	return out, nil
}

// outlierScores: a total far from the rest of its panel, by the rule of
// OutlierMinPoints and OutlierMADs (outlier.go), computed with exact
// decimals. Only tasks decided with scores count (recused, delegated and
// recalled ones hold none), and only panels of OutlierMinPanel or more.
func (s *Service) outlierScores(ctx context.Context, o Options) ([]Finding, error) {
	rows, err := s.db.PanelScores(ctx, OutlierMinPanel, window(o))
	if err != nil {
		return nil, err
	}
	name, err := s.stateNames(ctx)
	if err != nil {
		return nil, err
	}
	var out []Finding
	for start := 0; start < len(rows); {
		end := start
		for end < len(rows) && rows[end].StageID == rows[start].StageID {
			end++
		}
		panel := rows[start:end]
		start = end
		totals := make([]string, len(panel))
		for i, p := range panel {
			totals[i] = p.Total
		}
		judged, err := outliers(totals)
		if err != nil {
			return nil, fmt.Errorf("stage %d: %w", panel[0].StageID, err)
		}
		for i, j := range judged {
			p := panel[i]
			if !j.Outlier || !inWindow(p.At, o) {
				continue
			}
			stage := name(p.Workflow, p.Stage)
			out = append(out, about(CheckOutlierScore, SeverityMedium, p.OversightAct, p.TaskID, errs.Text{
				Zh: fmt.Sprintf("%s（%s）在“%s”第 %d 轮的总分为 %s，其他 %d 位评审人总分的中位数为 %s，相差 %s 分，超过阈值 %s 分",
					p.ActorName, p.ActorUsername, stage.Zh, p.Round, p.Total, len(panel)-1, j.Median, j.Distance, j.Threshold),
				En: fmt.Sprintf("%s (%s) gave a total of %s at %s (round %d); the median of the other %d totals is %s: %s points apart, more than the threshold of %s",
					p.ActorName, p.ActorUsername, p.Total, stage.En, p.Round, len(panel)-1, j.Median, j.Distance, j.Threshold),
			}))
		}
	}
	return out, nil
}

func inWindow(t time.Time, o Options) bool {
	return (o.From.IsZero() || !t.Before(o.From)) && (o.To.IsZero() || t.Before(o.To))
}

// lateDecisions: a review task decided after its due time (the stage's
// deadline in working days, given to each task as it opens). Tasks, not
// stages: a stage is late because someone's task was, and the task names
// who. Stages without tasks (decided by firing an event) record no due
// time and are not checked.
func (s *Service) lateDecisions(ctx context.Context, o Options) ([]Finding, error) {
	rows, err := s.db.LateDecisions(ctx, window(o))
	if err != nil {
		return nil, err
	}
	name, err := s.stateNames(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Finding, 0, len(rows))
	for _, r := range rows {
		stage := name(r.Workflow, r.Stage)
		late := lateness(r.At.Sub(r.Due))
		out = append(out, about(CheckLateDecision, SeverityLow, r.OversightAct, r.TaskID, errs.Text{
			Zh: fmt.Sprintf("%s（%s）在“%s”于 %s 作出决定（%s），到期时间为 %s，逾期%s",
				r.ActorName, r.ActorUsername, stage.Zh, chinaTime(r.At), r.Decision, chinaTime(r.Due), late.Zh),
			En: fmt.Sprintf("%s (%s) decided (%s) at %s on %s, due %s: %s late",
				r.ActorName, r.ActorUsername, r.Decision, stage.En, chinaTime(r.At), chinaTime(r.Due), late.En),
		}))
	}
	return out, nil
}

// lateness says how late, to the minute (a part of a minute is a minute).
func lateness(d time.Duration) errs.Text {
	mins := int((d + time.Minute - 1) / time.Minute)
	days, hours, m := mins/(24*60), mins/60%24, mins%60
	var zh, en []string
	if days > 0 {
		zh, en = append(zh, fmt.Sprintf(" %d 天", days)), append(en, fmt.Sprintf("%d d", days))
	}
	if hours > 0 {
		zh, en = append(zh, fmt.Sprintf(" %d 小时", hours)), append(en, fmt.Sprintf("%d h", hours))
	}
	if m > 0 || len(zh) == 0 {
		zh, en = append(zh, fmt.Sprintf(" %d 分钟", m)), append(en, fmt.Sprintf("%d min", m))
	}
	return errs.Text{Zh: strings.Join(zh, ""), En: strings.Join(en, " ")}
}

// returnedOften: an application handed back to its applicant more than N
// times. A return is a transition from a review state into an edit state
// (退回修改, 整改) that the definition version the entry names lets the
// system (for a stage's reviewers) or a reviewer's role fire; a return the
// reviewer recalled before the applicant did anything (the next step is
// review.recall) does not count. Returning to an earlier review stage is not
// a return to the applicant.
func (s *Service) returnedOften(ctx context.Context, o Options) ([]Finding, error) {
	_, returning, err := s.moves(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.ReturnedMoreThan(ctx, returning, o.ReturnedMoreThan, window(o))
	if err != nil {
		return nil, err
	}
	out := make([]Finding, 0, len(rows))
	for _, r := range rows {
		out = append(out, about(CheckReturnedOften, SeverityMedium, r.OversightAct, "", errs.Text{
			Zh: fmt.Sprintf("此申请被退回申请人修改 %d 次，超过 %d 次；最近一次在 %s", r.Returns, o.ReturnedMoreThan, chinaTime(r.At)),
			En: fmt.Sprintf("this application was handed back to its applicant %d times, more than %d; the latest at %s", r.Returns, o.ReturnedMoreThan, chinaTime(r.At)),
		}))
	}
	return out, nil
}

// replacedAttachments: a file added after the application was first
// submitted, to a slot (an attachment's label) that already held a file.
// Attachments are never deleted or overwritten, so "replaced" means a
// newer file beside the old one in its slot; what reviewers read may have
// changed after they began. A send back asking for a corrected file is a
// good reason, and the application's history shows whether there was one.
func (s *Service) replacedAttachments(ctx context.Context, o Options) ([]Finding, error) {
	rows, err := s.db.ReplacedAttachments(ctx, window(o))
	if err != nil {
		return nil, err
	}
	out := make([]Finding, 0, len(rows))
	for _, r := range rows {
		slot := errs.Text{Zh: "附件类别“" + r.Slot + "”", En: "slot " + r.Slot}
		if r.Slot == "" {
			slot = errs.Text{Zh: "同名附件", En: "the same name"}
		}
		out = append(out, about(CheckAttachmentReplaced, SeverityMedium, r.OversightAct, r.AttachmentID, errs.Text{
			Zh: fmt.Sprintf("%s（%s）在申请首次提交（%s）后的 %s 上传了“%s”，%s已有“%s”",
				r.ActorName, r.ActorUsername, chinaTime(r.Submitted), chinaTime(r.At), r.Name, slot.Zh, r.EarlierName),
			En: fmt.Sprintf("%s (%s) added %q at %s, after the application was first submitted (%s), beside %q under %s",
				r.ActorName, r.ActorUsername, r.Name, chinaTime(r.At), chinaTime(r.Submitted), r.EarlierName, slot.En),
		}))
	}
	return out, nil
}

// nightActivity: an account making NightMinActions or more audited actions
// in one night (NightStartHour to NightEndHour China time). Everything an
// account does is in the audit log with its time; failed sign-ins are
// left out, as they may be someone else trying the name. The link opens
// the account's entries of that night in the audit log.
func (s *Service) nightActivity(ctx context.Context, o Options) ([]Finding, error) {
	_, offset := time.Now().In(calendar.China).Zone()
	rows, err := s.db.NightActivities(ctx, postgres.NightQuery{OffsetSeconds: offset, StartHour: NightStartHour,
		EndHour: NightEndHour, Min: NightMinActions, Window: window(o)})
	if err != nil {
		return nil, err
	}
	out := make([]Finding, 0, len(rows))
	for _, r := range rows {
		evening, err := time.ParseInLocation("2006-01-02", r.Night, calendar.China)
		if err != nil {
			return nil, fmt.Errorf("night %q: %w", r.Night, err)
		}
		link := url.Values{"actor": {r.ActorID}, "from": {r.Night}, "to": {evening.AddDate(0, 0, 1).Format("2006-01-02")}}
		out = append(out, Finding{Check: CheckNightActivity, Severity: SeverityMedium,
			ActorID: r.ActorID, ActorName: r.ActorName, ActorUsername: r.ActorUsername, At: r.Last,
			Detail: errs.Text{
				Zh: fmt.Sprintf("%s（%s）在 %s 夜间（%d:00 至次日 %d:00）有 %d 条审计记录，从 %s 到 %s",
					r.ActorName, r.ActorUsername, r.Night, NightStartHour, NightEndHour, r.Actions, chinaTime(r.First), chinaTime(r.Last)),
				En: fmt.Sprintf("%s (%s) made %d audited actions in the night of %s (%02d:00 to %02d:00), from %s to %s",
					r.ActorName, r.ActorUsername, r.Actions, r.Night, NightStartHour, NightEndHour, chinaTime(r.First), chinaTime(r.Last)),
			},
			Link: "/audit?" + link.Encode()})
	}
	return out, nil
}

// about is a finding about what act records: the application, who acted
// and when, linked to the application's page; subject names the task or
// file concerned, if any.
func about(check, severity string, act postgres.OversightAct, subject string, detail errs.Text) Finding {
	return Finding{Check: check, Severity: severity, ApplicationID: act.ApplicationID, Workflow: act.Workflow,
		ActorID: act.ActorID, ActorName: act.ActorName, ActorUsername: act.ActorUsername, Subject: subject, At: act.At,
		Detail: detail, Link: appLink(act.ApplicationID)}
}
