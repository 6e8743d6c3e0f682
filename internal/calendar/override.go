package calendar

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
)

// The overrides' change service lives here rather than in a package of its
// own because the overrides are the calendar's data: a second package would
// own one table and nothing else, and would have to reach into Calendar to
// put a change into effect.

// RefreshInterval is how often a server rereads the overrides, to see
// changes another process made.
const RefreshInterval = time.Minute

// Overrides outside these years are refused: the national table covers no
// further, and a typo in the year should not pass unnoticed.
const (
	FirstYear = 2000
	LastYear  = 2100
)

// MaxNote is the longest note on an override, in characters (the table's
// CHECK says the same).
const MaxNote = 200

const dayLayout = "2006-01-02"

// Service is a calendar backed by the database: it loads the overrides,
// stores each change with its audit-chain entry in one transaction, and
// puts a change into effect in this process at once.
type Service struct {
	*Calendar
	db    *postgres.DB
	chain *audit.Chain
	// loading serialises reloads and local changes, so that a reload which
	// read the table before a change committed cannot publish after the
	// change and hide it until the next reload.
	loading sync.Mutex
	// Now is the clock; tests move it.
	Now func() time.Time
}

// NewService backs cal with db; Refresh loads what is stored.
func NewService(db *postgres.DB, chain *audit.Chain, cal *Calendar) *Service {
	return &Service{Calendar: cal, db: db, chain: chain, Now: time.Now}
}

// ParseDay reads a day written YYYY-MM-DD as midnight in China.
func ParseDay(s string) (time.Time, error) {
	t, err := time.ParseInLocation(dayLayout, strings.TrimSpace(s), China)
	if err != nil {
		return time.Time{}, errs.E(errs.Invalid, "日期格式不正确："+s, "not a date: "+s).
			Field("day", "应为 YYYY-MM-DD 格式的日期", "a date written YYYY-MM-DD")
	}
	return t, nil
}

// FormatDay writes t's date, in China, as YYYY-MM-DD.
func FormatDay(t time.Time) string { return t.In(China).Format(dayLayout) }

func toOverride(o postgres.CalendarOverride) (Override, error) {
	day, err := time.ParseInLocation(dayLayout, o.Day, China)
	if err != nil {
		return Override{}, fmt.Errorf("calendar override day %q: %w", o.Day, err)
	}
	return Override{Day: day, Working: o.Working, Note: o.Note, SetBy: o.CreatedBy, SetAt: o.CreatedAt}, nil
}

// List is every stored override, by day. It reads the database, not this
// process's copy, so it also shows what another process just changed.
func (s *Service) List(ctx context.Context) ([]Override, error) {
	stored, err := s.db.CalendarOverrides(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Override, len(stored))
	for i, o := range stored {
		if out[i], err = toOverride(o); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Refresh reloads the overrides from the database into the calendar.
func (s *Service) Refresh(ctx context.Context) error {
	s.loading.Lock()
	defer s.loading.Unlock()
	all, err := s.List(ctx)
	if err != nil {
		return fmt.Errorf("load calendar overrides: %w", err)
	}
	s.SetOverrides(all)
	return nil
}

// An actor of nil is the operator at the console (the CLI), who holds the
// machine and so every right an administrator has.
func requireAdmin(actor *identity.User) error {
	if actor == nil || actor.Has(identity.Admin) {
		return nil
	}
	return errs.E(errs.Forbidden, "仅系统管理员可调整工作日", "only administrators change working-day overrides")
}

func checkDay(day time.Time) error {
	if y := day.In(China).Year(); y < FirstYear || y > LastYear {
		return errs.E(errs.Invalid, fmt.Sprintf("只能调整 %d 至 %d 年的日期", FirstYear, LastYear),
			fmt.Sprintf("only days from %d to %d can be overridden", FirstYear, LastYear)).
			Field("day", fmt.Sprintf("应在 %d 至 %d 年之间", FirstYear, LastYear), fmt.Sprintf("must be in %d to %d", FirstYear, LastYear))
	}
	return nil
}

// Set makes day a working day or a day off for every deadline computed from
// now on, whatever the national table says; a day set before is replaced.
// Deadlines already computed keep their time.
func (s *Service) Set(ctx context.Context, actor *identity.User, day time.Time, working bool, note string) (Override, error) {
	if err := requireAdmin(actor); err != nil {
		return Override{}, err
	}
	if err := checkDay(day); err != nil {
		return Override{}, err
	}
	note = strings.TrimSpace(note)
	if !utf8.ValidString(note) || utf8.RuneCountInString(note) > MaxNote {
		return Override{}, errs.E(errs.Invalid, "备注过长或含无效字符", "the note is too long or not valid text").
			Field("note", fmt.Sprintf("不超过 %d 个字", MaxNote), fmt.Sprintf("at most %d characters", MaxNote))
	}
	key := FormatDay(day)
	now := s.Now()
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return Override{}, err
	}
	defer tx.Rollback()
	// The lock makes "what it was before" in the entry true even when two
	// administrators set the same day at once.
	if err := tx.LockKey(ctx, "calendar override "+key); err != nil {
		return Override{}, err
	}
	data := map[string]any{"action": "set", "day": key, "working": working, "note": note, "via": audit.Via(actor)}
	before, err := tx.CalendarOverride(ctx, key)
	switch {
	case err == nil:
		data["before"] = map[string]any{"working": before.Working, "note": before.Note}
	case errs.CodeOf(err) != errs.NotFound:
		return Override{}, err
	}
	stored, err := tx.UpsertCalendarOverride(ctx, postgres.CalendarOverride{Day: key, Working: working, Note: note,
		CreatedBy: audit.ActorID(actor), CreatedAt: now})
	if err != nil {
		return Override{}, err
	}
	_, err = s.chain.Append(ctx, tx, audit.Entry{Kind: audit.KindCalendarOverride, AtMicros: now.UnixMicro(),
		ActorID: audit.ActorID(actor), Subject: key, Data: data})
	if err != nil {
		return Override{}, err
	}
	o, err := toOverride(stored)
	if err != nil {
		return Override{}, err
	}
	if err := tx.Commit(); err != nil {
		return Override{}, err
	}
	s.putCommitted(o.Day, working, true)
	return o, nil
}

// Unset removes day's override, so the national table decides it again, and
// returns what it was; not found when there is none.
func (s *Service) Unset(ctx context.Context, actor *identity.User, day time.Time) (Override, error) {
	if err := requireAdmin(actor); err != nil {
		return Override{}, err
	}
	key := FormatDay(day)
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return Override{}, err
	}
	defer tx.Rollback()
	removed, err := tx.DeleteCalendarOverride(ctx, key)
	if errs.CodeOf(err) == errs.NotFound {
		return Override{}, fmt.Errorf("unset %s: %w", key, errs.E(errs.NotFound, key+" 没有本地调整", "there is no override on "+key))
	}
	if err != nil {
		return Override{}, err
	}
	now := s.Now()
	_, err = s.chain.Append(ctx, tx, audit.Entry{Kind: audit.KindCalendarOverride, AtMicros: now.UnixMicro(),
		ActorID: audit.ActorID(actor), Subject: key, Data: map[string]any{"action": "unset", "day": key,
			"working": removed.Working, "note": removed.Note, "via": audit.Via(actor)}})
	if err != nil {
		return Override{}, err
	}
	o, err := toOverride(removed)
	if err != nil {
		return Override{}, err
	}
	if err := tx.Commit(); err != nil {
		return Override{}, err
	}
	s.putCommitted(o.Day, false, false)
	return o, nil
}

// putCommitted puts a committed change into effect in this process at once
// rather than rereading the table, which could fail after the change is
// already stored; other processes see it at their next Refresh.
func (s *Service) putCommitted(day time.Time, working, present bool) {
	s.loading.Lock()
	defer s.loading.Unlock()
	s.put(day, working, present)
}
