// Package calendar counts China's working days: Monday to Friday, minus the
// statutory holidays, plus the make-up workdays (调休) on which a Saturday or
// Sunday is worked. The yearly table comes from 6tail/lunar-go's HolidayUtil;
// the county's own overrides (a local holiday, a make-up day it declares)
// are consulted before it.
package calendar

import (
	"sync"
	"time"

	"github.com/6tail/lunar-go/HolidayUtil"
)

// China is the display and calendar zone (Asia/Shanghai, which keeps no
// daylight saving), fixed so no tz database is needed on the host.
var China = time.FixedZone("CST", 8*3600)

// Calendar answers working-day questions. It is safe for concurrent use:
// deadlines are computed while overrides are refreshed.
type Calendar struct {
	mu sync.RWMutex
	// overrides is replaced whole, never changed in place, so a reader
	// that took the map under the lock may keep using it after releasing
	// it: one deadline is computed against one consistent set.
	overrides map[date]bool
}

// date is a day on the calendar, free of clock and zone.
type date struct {
	year  int
	month time.Month
	day   int
}

func dateOf(t time.Time) date {
	t = t.In(China)
	return date{t.Year(), t.Month(), t.Day()}
}

// Override is the county's own answer for one day, ahead of the national
// table.
type Override struct {
	// Day is midnight, China time, of the day concerned.
	Day time.Time
	// Working is true for a working day (a make-up day), false for a day off.
	Working bool
	Note    string
	// SetBy is the administrator who set it; empty when set at the console.
	SetBy string
	// SetAt is when it was last set.
	SetAt time.Time
}

// New returns the national calendar, without overrides until some are set.
func New() *Calendar { return &Calendar{} }

// SetOverrides replaces every override with those given.
func (c *Calendar) SetOverrides(overrides []Override) {
	m := make(map[date]bool, len(overrides))
	for _, o := range overrides {
		m[dateOf(o.Day)] = o.Working
	}
	c.mu.Lock()
	c.overrides = m
	c.mu.Unlock()
}

// put sets or, with present false, removes one day's override.
func (c *Calendar) put(day time.Time, working, present bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[date]bool, len(c.overrides)+1)
	for k, v := range c.overrides {
		m[k] = v
	}
	if present {
		m[dateOf(day)] = working
	} else {
		delete(m, dateOf(day))
	}
	c.overrides = m
}

func (c *Calendar) snapshot() map[date]bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.overrides
}

// IsWorkingDay reports whether t's date, in China, is a working day.
func (c *Calendar) IsWorkingDay(t time.Time) bool {
	return isWorkingDay(c.snapshot(), t)
}

func isWorkingDay(overrides map[date]bool, t time.Time) bool {
	d := dateOf(t)
	if working, ok := overrides[d]; ok {
		return working
	}
	if working, ok := national.Load(d); ok {
		return working.(bool)
	}
	working := nationalWorkingDay(d, t)
	national.Store(d, working)
	return working
}

// national keeps the national table's answer by day: looking a day up in
// it is costly (every deadline walks several days) and the table never
// changes while the process runs.
var national sync.Map // date → bool

func nationalWorkingDay(d date, t time.Time) bool {
	if h := HolidayUtil.GetHolidayByYmd(d.year, int(d.month), d.day); h != nil {
		// A holiday entry is either a day off or a make-up workday.
		return h.IsWork()
	}
	wd := t.In(China).Weekday()
	return wd != time.Saturday && wd != time.Sunday
}

// EndOfWorkingDays is when a span of n working days beginning at start ends:
// midnight (China) after its nth working day. The start day counts as the
// first when it is itself a working day, as a 公示 published on a Monday
// counts that Monday.
func (c *Calendar) EndOfWorkingDays(start time.Time, n int) time.Time {
	overrides := c.snapshot()
	day := startOfDay(start)
	for count := 0; ; day = day.AddDate(0, 0, 1) {
		if isWorkingDay(overrides, day) {
			count++
			if count >= n {
				return day.AddDate(0, 0, 1)
			}
		}
	}
}

func startOfDay(t time.Time) time.Time {
	t = t.In(China)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, China)
}
