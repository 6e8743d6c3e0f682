package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
)

// seeder plays the demo's programme data through the engine as the people
// who would have done it, on a simulated clock: every story (a challenge
// with its applications, an envoy, a talent) is a list of steps at times in
// the past, and all steps run in the order of their times, so the audit
// chain reads as the months it pretends to cover. Timers (公示 ending, a
// challenge closing) fire at their own due times in between, as the server
// would have fired them. The first error stops everything after it.
type seeder struct {
	ctx context.Context
	db  *postgres.DB
	eng *engine.Engine
	// cal is the national calendar of working days, for office hours.
	cal   *calendar.Calendar
	users map[string]*identity.User
	orgs  map[string]string // id by name
	// now is the demo's present: when seeding began.
	now time.Time
	// clock is the simulated time, which the engine reads.
	clock time.Time
	steps []step
	err   error
}

// step is one moment of a story: what someone did at a time.
type step struct {
	at time.Time
	do func()
}

// story schedules one thread of events, keeping them in its order.
type story struct {
	s    *seeder
	last time.Time
}

func (s *seeder) story() *story { return &story{s: s} }

// at schedules do at t, moved to a working day, and after the story's
// previous step.
func (st *story) at(t time.Time, do func()) {
	s := st.s
	t = s.workday(t)
	if !t.After(st.last) {
		// A holiday has pushed the previous step past this one: the next
		// working day at the same hour, or minutes later near the present.
		next := onDay(st.last.AddDate(0, 0, 1), t.In(calendar.China).Format("15:04"))
		for !s.cal.IsWorkingDay(next) {
			next = next.AddDate(0, 0, 1)
		}
		if next.Before(s.now.Add(-time.Hour)) {
			t = next
		} else {
			t = st.last.Add(7 * time.Minute)
		}
	}
	st.last = t
	s.steps = append(s.steps, step{at: t, do: do})
}

// ago is hh:mm (China time) on the day days before the present.
func (s *seeder) ago(days int, hhmm string) time.Time {
	d := s.now.In(calendar.China).AddDate(0, 0, -days)
	return onDay(d, hhmm)
}

// onDay is hh:mm on the day of d, China time.
func onDay(d time.Time, hhmm string) time.Time {
	var h, m int
	fmt.Sscanf(hhmm, "%d:%d", &h, &m)
	d = d.In(calendar.China)
	return time.Date(d.Year(), d.Month(), d.Day(), h, m, 0, 0, calendar.China)
}

// workday moves office hours off a weekend or holiday: to the next working
// day, unless that is too close to the present, then to the one before.
func (s *seeder) workday(t time.Time) time.Time {
	if s.cal.IsWorkingDay(t) {
		return t
	}
	next := t
	for !s.cal.IsWorkingDay(next) {
		next = next.AddDate(0, 0, 1)
	}
	if next.Before(s.now.Add(-time.Hour)) {
		return next
	}
	for !s.cal.IsWorkingDay(t) {
		t = t.AddDate(0, 0, -1)
	}
	return t
}

// run plays every scheduled step in time order, then fires what fell due
// up to the present.
func (s *seeder) run() error {
	sort.SliceStable(s.steps, func(i, j int) bool { return s.steps[i].at.Before(s.steps[j].at) })
	for _, next := range s.steps {
		if !next.at.Before(s.now) {
			return fmt.Errorf("demo data: a step is scheduled at %s, not before the present %s", next.at, s.now)
		}
		s.advance(next.at)
		if s.err == nil {
			next.do()
		}
		if s.err != nil {
			return s.err
		}
	}
	s.advance(s.now)
	return s.err
}

// advance moves the clock to t, firing on the way every timer due by then,
// each at its due time.
func (s *seeder) advance(t time.Time) {
	for s.err == nil {
		due, err := s.db.DueTimers(s.ctx, t, 100)
		if err != nil {
			s.fail("due timers", err)
			return
		}
		if len(due) == 0 {
			break
		}
		for _, tm := range due {
			s.setClock(tm.Due)
			if _, err := s.eng.RunTimer(s.ctx, tm.ID); err != nil {
				s.fail(fmt.Sprintf("timer %d (%s)", tm.ID, tm.Event), err)
				return
			}
		}
	}
	s.setClock(t)
}

// setClock moves the clock forward to t; it never goes back, so steps that
// fall in the same minute keep their order.
func (s *seeder) setClock(t time.Time) {
	if t.After(s.clock) {
		s.clock = t
	}
}

// tick lets a few minutes pass between one person's successive actions.
func (s *seeder) tick() { s.clock = s.clock.Add(3 * time.Minute) }

// today is the simulated date, as forms write dates.
func (s *seeder) today() string { return s.clock.In(calendar.China).Format(time.DateOnly) }

func (s *seeder) fail(what string, err error) {
	if s.err == nil {
		s.err = fmt.Errorf("demo data: %s: %w", what, err)
	}
}

// user is the demo account by username.
func (s *seeder) user(username string) *identity.User {
	u, ok := s.users[username]
	if !ok {
		s.fail("user "+username, fmt.Errorf("not a demo user"))
		return &identity.User{}
	}
	return u
}

// create starts an application as who and returns its id.
func (s *seeder) create(who, workflow, parent string, data map[string]any) string {
	if s.err != nil {
		return ""
	}
	s.tick()
	app, err := s.eng.Create(s.ctx, s.user(who), engine.CreateInput{Workflow: workflow, Data: asJSON(data), ParentID: parent})
	if err != nil {
		s.fail(fmt.Sprintf("%s creates a %s", who, workflow), err)
		return ""
	}
	return app.ID
}

// attach uploads a small PDF into each slot.
func (s *seeder) attach(who, appID string, slots ...string) {
	for _, slot := range slots {
		if s.err != nil {
			return
		}
		s.tick()
		_, err := s.eng.AddAttachment(s.ctx, s.user(who), appID, engine.AttachmentInput{Name: slot + ".pdf", Label: slot,
			Content: pdf("sciflow demo attachment", "Yunyang County (fictional demo data)", "slot: "+slot)})
		if err != nil {
			s.fail(fmt.Sprintf("%s attaches %s to %s", who, slot, appID), err)
		}
	}
}

// fire fires an event as who.
func (s *seeder) fire(who, appID, event, comment string, data map[string]any) {
	if s.err != nil {
		return
	}
	s.tick()
	in := engine.FireInput{Event: event, Comment: comment}
	if data != nil {
		in.Data = asJSON(data)
	}
	if _, err := s.eng.Fire(s.ctx, s.user(who), appID, in); err != nil {
		s.fail(fmt.Sprintf("%s fires %s on %s", who, event, appID), err)
	}
}

// decide takes who's open task in the application's current review stage.
func (s *seeder) decide(who, appID string, in engine.DecisionInput) {
	if s.err != nil {
		return
	}
	s.tick()
	u := s.user(who)
	task := ""
	for _, t := range s.openTasks(appID) {
		if t.Assignee.ID == u.ID {
			task = t.ID
		}
	}
	if task == "" {
		s.fail(fmt.Sprintf("%s decides %s on %s", who, in.Decision, appID), fmt.Errorf("no open task of theirs"))
		return
	}
	in.Data, in.Scores = asJSON(in.Data), asJSON(in.Scores)
	if _, err := s.eng.Decide(s.ctx, u, task, in); err != nil {
		s.fail(fmt.Sprintf("%s decides %s on %s", who, in.Decision, appID), err)
	}
}

// openTasks are the open tasks of the application's current stage, in
// their order, as oversight sees them.
func (s *seeder) openTasks(appID string) []engine.Task {
	if s.err != nil {
		return nil
	}
	stages, err := s.eng.ReviewRecord(s.ctx, s.user("auditor"), appID)
	if err != nil {
		s.fail("review record of "+appID, err)
		return nil
	}
	if len(stages) == 0 {
		return nil
	}
	var open []engine.Task
	for _, t := range stages[len(stages)-1].Tasks {
		if t.Status == postgres.TaskOpen {
			open = append(open, t)
		}
	}
	return open
}

// panel lists the usernames of the reviewers with an open task in the
// application's current stage (the experts drawn, say).
func (s *seeder) panel(appID string) []string {
	var out []string
	for _, t := range s.openTasks(appID) {
		out = append(out, t.Assignee.Username)
	}
	return out
}

// answer has the applicant answer every open question of the last send back.
func (s *seeder) answer(who, appID string, answers ...string) {
	if s.err != nil {
		return
	}
	s.tick()
	qs, err := s.eng.Questions(s.ctx, s.user(who), appID)
	if err != nil {
		s.fail("questions of "+appID, err)
		return
	}
	last := 0
	for _, q := range qs {
		last = max(last, q.Round)
	}
	given := map[string]string{}
	for _, q := range qs {
		if q.Round == last && len(given) < len(answers) {
			given[q.ID] = answers[len(given)]
		}
	}
	if _, err := s.eng.Answer(s.ctx, s.user(who), appID, given); err != nil {
		s.fail("answers to "+appID, err)
	}
}

// object files a real-name objection to the application's notice.
func (s *seeder) object(appID string, in engine.ObjectionInput) {
	if s.err != nil {
		return
	}
	s.tick()
	if _, err := s.eng.Object(s.ctx, appID, in); err != nil {
		s.fail("objection to "+appID, err)
	}
}

// expect checks that the story has brought the application where it meant
// to: a calendar surprise (a notice running longer) must not go unnoticed.
func (s *seeder) expect(appID, state string) {
	if s.err != nil {
		return
	}
	app, err := s.eng.Get(s.ctx, s.user("auditor"), appID)
	if err != nil {
		s.fail("read "+appID, err)
		return
	}
	if app.State != state {
		s.fail(fmt.Sprintf("%s %s", app.Workflow, appID), fmt.Errorf("in state %s at %s, expected %s", app.State, s.clock, state))
	}
}

// asJSON gives data the shape a JSON request body has (numbers as float64,
// lists as []any), which is what forms and guards are written against.
func asJSON(data map[string]any) map[string]any {
	if data == nil {
		return nil
	}
	raw, err := json.Marshal(data)
	if err != nil {
		panic(fmt.Sprintf("demo data does not encode: %v", err))
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		panic(fmt.Sprintf("demo data does not decode: %v", err))
	}
	return out
}

// pdf makes a one-page PDF with a few lines of ASCII text: a small file a
// browser opens, for the demo's attachment slots.
func pdf(lines ...string) []byte {
	var text strings.Builder
	text.WriteString("BT /F1 14 Tf 72 770 Td 18 TL\n")
	esc := strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`)
	for _, l := range lines {
		fmt.Fprintf(&text, "(%s) Tj T*\n", esc.Replace(l))
	}
	text.WriteString("ET\n")
	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", text.Len(), text.String()),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objects))
	for i, o := range objects {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objects)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objects)+1, xref)
	return b.Bytes()
}
