// Package queue runs sciflow's background work inside the server with
// riverqueue/river: timers falling due, the side effects transitions queue
// (notifications), e-mails, and the periodic round of reminders; and,
// beside river, the rounds that announce newly opened review tasks. Jobs live
// in PostgreSQL beside the data, inserted in the transactions that cause
// them, so they survive restarts and each is worked by one server process
// however many run.
package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/notify"
	"github.com/sciflow/sciflow/internal/postgres"
)

// Deps is what the workers call.
type Deps struct {
	DB     *postgres.DB
	Engine *engine.Engine
	Notify *notify.Service
	Log    *slog.Logger
	// RemindEvery is how often reminders and escalations are looked for;
	// each task is reminded at most once a day whatever the interval.
	RemindEvery time.Duration
}

// announceEvery is how often opened review tasks are announced to their
// reviewers: about as soon as river's polling would have told them.
const announceEvery = 500 * time.Millisecond

// Queue is the working river client of a server process.
type Queue struct {
	client *river.Client[*sql.Tx]
	// rounds announce opened review tasks.
	rounds *Rounds
}

// Start begins working jobs until Stop.
func Start(ctx context.Context, d Deps) (*Queue, error) {
	workers := river.NewWorkers()
	river.AddWorker(workers, &timerWorker{deps: d})
	river.AddWorker(workers, &effectWorker{deps: d})
	river.AddWorker(workers, &mailWorker{deps: d})
	river.AddWorker(workers, &remindWorker{deps: d})
	every := d.RemindEvery
	if every <= 0 {
		every = time.Hour
	}
	client, err := river.NewClient(d.DB.RiverDriver(), &river.Config{
		Logger: slog.New(warnings{d.Log.Handler()}),
		// Notifications of a deadline's burst of submissions keep up: each
		// job is one short transaction, and a fetch every 25 ms of up to 16
		// jobs works off several hundred a second.
		Queues:        map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 16}},
		FetchCooldown: 25 * time.Millisecond,
		Workers:       workers,
		// A job a dead server was working is handed out again after this,
		// not river's default hour: every job is safe to run twice (a
		// timer's row, a side effect's completion in its transaction, a
		// mail's stamp), and the longest, e-mail, times out in two minutes.
		RescueStuckJobsAfter: 5 * time.Minute,
		// database/sql offers no LISTEN: poll, and often enough that a
		// notification shows within a second or two.
		PollOnly:          true,
		FetchPollInterval: time.Second,
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(every),
			func() (river.JobArgs, *river.InsertOpts) { return notify.RemindJob{}, nil },
			&river.PeriodicJobOpts{ID: "remind", RunOnStart: true})},
	})
	if err != nil {
		return nil, fmt.Errorf("job queue: %w", err)
	}
	if err := client.Start(ctx); err != nil {
		return nil, fmt.Errorf("start job queue: %w", err)
	}
	q := &Queue{client: client, rounds: NewRounds(ctx, d.Log)}
	q.rounds.Every(announceEvery, "announcing opened review tasks failed; retrying", func(ctx context.Context) error {
		_, err := d.Notify.AnnounceTasks(ctx)
		return err
	})
	return q, nil
}

// Stop lets running jobs finish (up to ctx's deadline), then stops.
func (q *Queue) Stop(ctx context.Context) error {
	q.rounds.Stop()
	if err := q.client.Stop(ctx); err != nil {
		return fmt.Errorf("stop job queue: %w", err)
	}
	return nil
}

type timerWorker struct {
	river.WorkerDefaults[postgres.TimerJob]
	deps Deps
}

// Work fires the timer; its row makes a repeat a no-op.
func (w *timerWorker) Work(ctx context.Context, job *river.Job[postgres.TimerJob]) error {
	_, err := w.deps.Engine.RunTimer(ctx, job.Args.TimerID)
	return err
}

type effectWorker struct {
	river.WorkerDefaults[postgres.EffectJob]
	deps Deps
}

// Work makes the effect's notifications and completes the job in the same
// transaction, so an effect is handled exactly once.
func (w *effectWorker) Work(ctx context.Context, job *river.Job[postgres.EffectJob]) error {
	return inTx(ctx, w.deps.DB, job, func(tx *postgres.Tx) error {
		return w.deps.Notify.HandleEffect(ctx, tx, job.Args)
	})
}

type mailWorker struct {
	river.WorkerDefaults[notify.MailJob]
	deps Deps
}

// Work sends one e-mail. A failure worth retrying returns an error, and
// river tries again later with backoff; one that is not is logged and the
// job ends.
func (w *mailWorker) Work(ctx context.Context, job *river.Job[notify.MailJob]) error {
	return inTx(ctx, w.deps.DB, job, func(tx *postgres.Tx) error {
		err := w.deps.Notify.Deliver(ctx, tx, job.Args.NotificationID)
		if errors.Is(err, notify.ErrPermanent) {
			w.deps.Log.Warn("e-mail refused for good", "notification_id", job.Args.NotificationID, "err", err)
			return nil
		}
		return err
	})
}

// Timeout leaves room for the SMTP exchange's own limit.
func (w *mailWorker) Timeout(*river.Job[notify.MailJob]) time.Duration { return 2 * time.Minute }

type remindWorker struct {
	river.WorkerDefaults[notify.RemindJob]
	deps Deps
}

// Work makes the reminders and escalations due now.
func (w *remindWorker) Work(ctx context.Context, _ *river.Job[notify.RemindJob]) error {
	n, err := w.deps.Notify.Remind(ctx, w.deps.Notify.Now())
	if err == nil && n > 0 {
		w.deps.Log.Info("reminders sent", "count", n)
	}
	return err
}

// warnings passes on river's warnings and errors but not its routine
// information (job counts every few seconds), which would drown the log.
type warnings struct{ slog.Handler }

func (w warnings) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && w.Handler.Enabled(ctx, l)
}

func (w warnings) WithAttrs(as []slog.Attr) slog.Handler { return warnings{w.Handler.WithAttrs(as)} }
func (w warnings) WithGroup(g string) slog.Handler       { return warnings{w.Handler.WithGroup(g)} }

// inTx runs fn in a transaction that also completes the job, so that the
// work and the job's end commit together or not at all.
func inTx[T river.JobArgs](ctx context.Context, db *postgres.DB, job *river.Job[T], fn func(*postgres.Tx) error) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if _, err := river.JobCompleteTx[*riverdatabasesql.Driver](ctx, tx.Tx.Tx, job); err != nil {
		return fmt.Errorf("complete job %d: %w", job.ID, err)
	}
	return tx.Commit()
}
