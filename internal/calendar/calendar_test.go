package calendar

import (
	"testing"
	"time"
)

func day(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02", s, China)
	if err != nil {
		panic(err)
	}
	return t
}

func TestWorkingDays(t *testing.T) {
	c := New()
	for date, want := range map[string]bool{
		"2026-01-01": false, // 元旦, a Thursday
		"2026-01-04": true,  // Sunday, make-up workday for 元旦
		"2026-02-14": true,  // Saturday, make-up workday for 春节
		"2026-02-17": false, // 春节
		"2026-10-01": false, // 国庆节
		"2026-10-10": true,  // Saturday, make-up workday for 国庆
		"2026-11-28": false, // an ordinary Saturday
		"2026-11-30": true,  // an ordinary Monday
	} {
		if got := c.IsWorkingDay(day(date)); got != want {
			t.Errorf("%s: working day = %v, want %v", date, got, want)
		}
	}
}

func TestNoticeAcrossAWeekLongHoliday(t *testing.T) {
	c := New()
	// 公示 of 5 working days published on Monday 2026-09-28, before the
	// National Day week (10-01 to 10-07 off).
	end := c.EndOfWorkingDays(day("2026-09-28").Add(10*time.Hour), 5)
	// Working days: 09-28, 09-29, 09-30, then 10-08, 10-09: it ends after 10-09.
	if want := day("2026-10-10"); !end.Equal(want) {
		t.Fatalf("ends %s, want %s", end, want)
	}
}

func TestStartOnADayOff(t *testing.T) {
	c := New()
	// Saturday 2026-11-28: the first working day is Monday 11-30.
	if got, want := c.EndOfWorkingDays(day("2026-11-28"), 1), day("2026-12-01"); !got.Equal(want) {
		t.Fatalf("ends %s, want %s", got, want)
	}
}
