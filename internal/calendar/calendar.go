// Package calendar counts China's working days: Monday to Friday, minus the
// statutory holidays, plus the make-up workdays (调休) on which a Saturday or
// Sunday is worked. The yearly table comes from 6tail/lunar-go's HolidayUtil.
package calendar

import (
	"time"

	"github.com/6tail/lunar-go/HolidayUtil"
)

// China is the display and calendar zone (Asia/Shanghai, which keeps no
// daylight saving), fixed so no tz database is needed on the host.
var China = time.FixedZone("CST", 8*3600)

// Calendar answers working-day questions.
type Calendar struct{}

// New returns the national calendar.
func New() *Calendar { return &Calendar{} }

// IsWorkingDay reports whether t's date, in China, is a working day.
func (c *Calendar) IsWorkingDay(t time.Time) bool {
	t = t.In(China)
	if h := HolidayUtil.GetHolidayByYmd(t.Year(), int(t.Month()), t.Day()); h != nil {
		// A holiday entry is either a day off or a make-up workday.
		return h.IsWork()
	}
	wd := t.Weekday()
	return wd != time.Saturday && wd != time.Sunday
}

// EndOfWorkingDays is when a span of n working days beginning at start ends:
// midnight (China) after its nth working day. The start day counts as the
// first when it is itself a working day, as a 公示 published on a Monday
// counts that Monday.
func (c *Calendar) EndOfWorkingDays(start time.Time, n int) time.Time {
	day := startOfDay(start)
	for count := 0; ; day = day.AddDate(0, 0, 1) {
		if c.IsWorkingDay(day) {
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
