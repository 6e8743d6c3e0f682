// Package notify turns what happens to applications into notifications:
// in-app for everyone concerned, and by e-mail when SMTP is configured. It
// consumes the side effects transitions queue, reminds reviewers of overdue
// tasks (催办) and escalates them to the leaders.
package notify

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/mail"
	"github.com/sciflow/sciflow/internal/postgres"
	"github.com/sciflow/sciflow/internal/workflow"
)

// Service makes and delivers notifications.
type Service struct {
	db     *postgres.DB
	engine *engine.Engine
	cal    *calendar.Calendar
	mail   *mail.Sender // nil: e-mail is off
	log    *slog.Logger
	// Now is the clock; tests move it.
	Now func() time.Time
	// PublicURL starts the links in e-mails; empty leaves them out.
	PublicURL string
}

// New makes the service; sender may be nil (no e-mail).
func New(db *postgres.DB, eng *engine.Engine, cal *calendar.Calendar, sender *mail.Sender, log *slog.Logger) *Service {
	return &Service{db: db, engine: eng, cal: cal, mail: sender, log: log, Now: time.Now}
}

// MailJob e-mails one notification; the notification row, locked while
// sending and stamped when sent, keeps it from going out twice.
type MailJob struct {
	NotificationID string `json:"notification_id"`
}

// Kind names the job for river.
func (MailJob) Kind() string { return "mail" }

// RemindJob is the periodic round of reminders and escalations.
type RemindJob struct{}

// Kind names the job for river.
func (RemindJob) Kind() string { return "remind" }

// HandleEffect turns one side effect into notifications, in tx.
func (s *Service) HandleEffect(ctx context.Context, tx *postgres.Tx, ef postgres.EffectJob) error {
	now := s.Now()
	var made []postgres.Notified
	var err error
	switch ef.Topic {
	case "tasks.open":
		// queued before tasks were announced in batches (AnnounceTasks)
		made, err = tx.NotifyTasks(ctx, stringList(ef.Payload["task_ids"]), now)
	case "transition":
		made, err = s.transition(ctx, tx, ef, now)
	default:
		return nil // a topic that concerns nobody
	}
	if err != nil {
		return err
	}
	return s.queueMail(ctx, tx, made)
}

// announceBatch is how many opened tasks one transaction announces: a
// deadline's burst is worked off in a few short transactions.
const announceBatch = 500

// AnnounceTasks tells the reviewers of the tasks opened since the last
// round (the engine queues them as it opens them), in batches, each in its
// own transaction with its e-mails queued; it returns how many
// notifications it made. Any number of servers may run it at once: each
// batch takes tasks no other is taking.
func (s *Service) AnnounceTasks(ctx context.Context) (int, error) {
	total := 0
	for {
		tx, err := s.db.Begin(ctx)
		if err != nil {
			return total, err
		}
		made, taken, err := tx.AnnounceTasks(ctx, s.Now(), announceBatch)
		if err == nil {
			err = s.queueMail(ctx, tx, made)
		}
		if err == nil {
			err = tx.Commit()
		}
		tx.Rollback()
		if err != nil {
			return total, err
		}
		total += len(made)
		if taken < announceBatch {
			return total, nil
		}
	}
}

// transition tells the applicant when their application is sent back or a
// review stage decides on it, but not what they did themselves.
func (s *Service) transition(ctx context.Context, tx *postgres.Tx, ef postgres.EffectJob, now time.Time) ([]postgres.Notified, error) {
	p := ef.Payload
	wf, _ := p["workflow"].(string)
	event, _ := p["event"].(string)
	from, _ := p["from"].(string)
	to, _ := p["to"].(string)
	seq := fmt.Sprint(p["seq"])
	def, ok := s.engine.Current(wf)
	if !ok {
		return nil, nil
	}
	fromSt, ok1 := def.State(from)
	toSt, ok2 := def.State(to)
	ev, ok3 := def.Event(event)
	if !ok1 || !ok2 || !ok3 {
		return nil, nil // a recall, a migration, or a version that renamed things
	}
	key := "transition:" + ef.ApplicationID + ":" + seq
	switch workflow.ApplicantNews(fromSt, toSt) {
	case workflow.NewsReturned:
		return tx.NotifyApplicant(ctx, ef.ApplicationID, workflow.NewsReturned, "您的申请「%s」已退回修改，请查看并回答问题",
			"Your application \"%s\" was returned for changes: see the questions", key, now)
	case workflow.NewsDecision:
		return tx.NotifyApplicant(ctx, ef.ApplicationID, workflow.NewsDecision,
			"您的申请「%s」："+fromSt.Title.Zh+"环节结论为“"+ev.Title.Zh+"”",
			"Your application \"%s\": "+fromSt.Title.En+" decided \""+ev.Title.En+"\"", key, now)
	}
	return nil, nil
}

// Remind makes the reminders due at now: one a day for each overdue open
// task to its reviewer, and, where the stage escalates, one to each leader
// once the task is that many working days overdue. It returns how many
// notifications it made.
func (s *Service) Remind(ctx context.Context, now time.Time) (int, error) {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	made, err := tx.RemindOverdue(ctx, now, now.In(calendar.China).Format(time.DateOnly))
	if err != nil {
		return 0, err
	}
	overdue, err := tx.OverdueTasks(ctx, now)
	if err != nil {
		return 0, err
	}
	var escalate []string
	for _, t := range overdue {
		def, err := s.engine.Definition(ctx, t.Workflow, t.WorkflowVersion)
		if err != nil {
			return 0, err
		}
		st, ok := def.State(t.State)
		if !ok || st.Review == nil || st.Review.Escalate == nil {
			continue
		}
		// Escalated after the deadline plus N more working days.
		if !now.Before(s.cal.EndOfWorkingDays(t.Due, st.Review.Escalate.WorkingDays)) {
			escalate = append(escalate, t.ID)
		}
	}
	if len(escalate) > 0 {
		more, err := tx.Escalate(ctx, escalate, now)
		if err != nil {
			return 0, err
		}
		made = append(made, more...)
	}
	if err := s.queueMail(ctx, tx, made); err != nil {
		return 0, err
	}
	return len(made), tx.Commit()
}

// queueMail queues the e-mail of each new notification whose user has an
// address, when e-mail is on, in the transaction that made them.
func (s *Service) queueMail(ctx context.Context, tx *postgres.Tx, made []postgres.Notified) error {
	if s.mail == nil {
		return nil
	}
	var jobs []river.InsertManyParams
	for _, n := range made {
		if n.Email.Valid {
			jobs = append(jobs, river.InsertManyParams{Args: MailJob{NotificationID: n.ID},
				InsertOpts: &river.InsertOpts{MaxAttempts: 12}})
		}
	}
	return tx.EnqueueMany(ctx, jobs)
}

// ErrPermanent marks a mail failure that retrying cannot help.
var ErrPermanent = fmt.Errorf("permanent mail failure")

// Deliver e-mails one notification in tx, which holds its lock: once, and
// not at all if it was sent already, its user has no address, or it is a
// reminder whose task was done meanwhile.
func (s *Service) Deliver(ctx context.Context, tx *postgres.Tx, id string) error {
	m, err := tx.LockMailing(ctx, id)
	if err != nil {
		return err
	}
	if m.Emailed.Valid || !m.Email.Valid || s.mail == nil {
		return nil
	}
	if (m.Kind == "reminder" || m.Kind == "escalation") && m.TaskOpen.Valid && !m.TaskOpen.Bool {
		return nil
	}
	text := m.TitleZh + "\n" + m.TitleEn + "\n"
	if s.PublicURL != "" && m.ApplicationID.Valid {
		text += "\n" + s.PublicURL + "/applications/" + m.ApplicationID.String + "\n"
	}
	text += "\n—— 云阳县科技项目管理系统 sciflow（自动发送，请勿回复）\n"
	err = s.mail.Send(ctx, mail.Message{ID: "notification-" + m.ID, To: m.Email.String, ToName: m.Name,
		Subject: m.TitleZh, Text: text})
	if err != nil {
		if mail.Permanent(err) {
			return fmt.Errorf("%w: %w", ErrPermanent, err)
		}
		return err
	}
	return tx.MarkEmailed(ctx, m.ID, s.Now())
}

// Notification is an in-app notification as its user sees it.
type Notification struct {
	ID            string
	Kind          string
	ApplicationID string
	TaskID        string
	Title         workflow.Text
	Created       time.Time
	Read          *time.Time
}

// List returns the user's notifications, newest first.
func (s *Service) List(ctx context.Context, user *identity.User, unreadOnly bool, limit int) ([]Notification, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	rows, err := s.db.Notifications(ctx, user.ID, unreadOnly, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Notification, 0, len(rows))
	for _, r := range rows {
		n := Notification{ID: r.ID, Kind: r.Kind, ApplicationID: r.ApplicationID.String, TaskID: r.TaskID.String,
			Title: workflow.Text{Zh: r.TitleZh, En: r.TitleEn}, Created: r.Created}
		if r.Read.Valid {
			n.Read = &r.Read.Time
		}
		out = append(out, n)
	}
	return out, nil
}

// MarkRead marks one of the user's notifications read.
func (s *Service) MarkRead(ctx context.Context, user *identity.User, id string) error {
	err := s.db.MarkNotificationRead(ctx, user.ID, id, s.Now())
	if errs.CodeOf(err) == errs.NotFound {
		return errs.E(errs.NotFound, "没有这条通知", "no such notification")
	}
	return err
}

// stringList reads a JSON list of strings.
func stringList(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
