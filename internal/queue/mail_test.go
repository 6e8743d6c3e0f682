package queue_test

import (
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/config"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/mail"
	"github.com/sciflow/sciflow/internal/notify"
)

// inbox is a real SMTP server that keeps what it receives, and refuses
// with a 451 the first refusals messages it is given (a busy server).
type inbox struct {
	mu       sync.Mutex
	to       []string
	refusals int
}

func (in *inbox) start(t *testing.T) string {
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &inboxSession{in: in}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func (in *inbox) received() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.to...)
}

type inboxSession struct {
	in *inbox
	to string
}

func (s *inboxSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *inboxSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = to
	return nil
}
func (s *inboxSession) Data(r io.Reader) error {
	if _, err := io.ReadAll(r); err != nil {
		return err
	}
	s.in.mu.Lock()
	defer s.in.mu.Unlock()
	if s.in.refusals > 0 {
		s.in.refusals--
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	}
	s.in.to = append(s.in.to, s.to)
	return nil
}
func (s *inboxSession) Reset()        {}
func (s *inboxSession) Logout() error { return nil }

// TestNotificationsAreEmailedOnce: each notification of a user with an
// address is e-mailed, retried when the server is busy, and never twice,
// even when its job runs again.
func TestNotificationsAreEmailedOnce(t *testing.T) {
	t.Parallel()
	c := newCounty(t)
	box := &inbox{refusals: 1}
	addr := box.start(t)
	sender, err := mail.New(config.SMTP{Addr: addr, From: "云阳县科技局 <noreply@kjj.example.gov.cn>", TLS: config.SMTPPlain})
	require.NoError(t, err)
	log := slog.New(slog.DiscardHandler)
	c.notify = notify.New(c.db, c.eng, calendar.New(), sender, log)
	_, err = c.db.Exec(`UPDATE users SET email = username || '@example.com' WHERE username IN ('unit1', 'unit2')`)
	require.NoError(t, err)
	c.startQueue()

	app, err := c.eng.Create(c.ctx, c.users["applicant"], engine.CreateInput{Workflow: "project",
		Data: map[string]any{"title": "新型电池材料", "field": "新材料", "budget": 100000}})
	require.NoError(t, err)
	_, err = c.eng.Fire(c.ctx, c.users["applicant"], app.ID, engine.FireInput{Event: "submit"})
	require.NoError(t, err)
	// The first attempt meets a 451; river tries again after its backoff.
	require.Eventually(t, func() bool { return len(box.received()) == 2 }, 60*time.Second, 200*time.Millisecond)
	require.ElementsMatch(t, []string{"unit1@example.com", "unit2@example.com"}, box.received())
	// A mail is marked sent once the server has taken it, by the job's own
	// commit, a moment after the inbox holds it.
	require.Eventually(t, func() bool {
		var emailed int
		require.NoError(t, c.db.Get(&emailed, `SELECT count(*) FROM notifications WHERE emailed_at IS NOT NULL`))
		return emailed == 2
	}, 10*time.Second, 50*time.Millisecond, "both marked sent")

	// The same notification's job once more (a retry after a lost answer,
	// a second server): nothing more is sent.
	var id string
	require.NoError(t, c.db.Get(&id, `SELECT id FROM notifications WHERE user_id = $1`, c.users["unit1"].ID))
	tx, err := c.db.Begin(c.ctx)
	require.NoError(t, err)
	require.NoError(t, tx.EnqueueMany(c.ctx, []river.InsertManyParams{{Args: notify.MailJob{NotificationID: id}}}))
	require.NoError(t, tx.Commit())
	require.Eventually(t, func() bool {
		var left int
		require.NoError(t, c.db.Get(&left, `SELECT count(*) FROM river_job WHERE kind = 'mail' AND state NOT IN ('completed', 'discarded')`))
		return left == 0
	}, 30*time.Second, 200*time.Millisecond)
	require.Len(t, box.received(), 2, "never twice")
}
