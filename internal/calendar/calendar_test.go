package calendar

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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

func TestOverridesComeBeforeTheNationalTable(t *testing.T) {
	c := New()
	notice := func() time.Time { return c.EndOfWorkingDays(day("2026-09-28").Add(10*time.Hour), 5) }

	// The county gives 09-30 off, the eve of National Day: the notice
	// loses a working day and so ends a day later, after the make-up
	// Saturday 10-10.
	c.SetOverrides([]Override{{Day: day("2026-09-30"), Working: false}})
	require.False(t, c.IsWorkingDay(day("2026-09-30").Add(15*time.Hour)))
	require.Equal(t, day("2026-10-11"), notice())

	// An ordinary Saturday made a working day counts, and a span starting
	// on it ends the next midnight.
	c.SetOverrides([]Override{{Day: day("2026-11-28"), Working: true}})
	require.True(t, c.IsWorkingDay(day("2026-09-30")), "SetOverrides replaces the whole set")
	require.True(t, c.IsWorkingDay(day("2026-11-28")))
	require.Equal(t, day("2026-11-29"), c.EndOfWorkingDays(day("2026-11-28"), 1))

	// An official make-up Saturday and a statutory holiday can be turned
	// round too.
	c.SetOverrides([]Override{{Day: day("2026-10-10"), Working: false}, {Day: day("2026-01-01"), Working: true}})
	require.False(t, c.IsWorkingDay(day("2026-10-10")))
	require.True(t, c.IsWorkingDay(day("2026-01-01")))

	// Days are dates in China: 16:00 UTC on 11-27 is midnight of the 28th
	// there, and 23:30 UTC on the 27th is already the 28th.
	c.SetOverrides([]Override{{Day: time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC), Working: true}})
	require.True(t, c.IsWorkingDay(time.Date(2026, 11, 27, 23, 30, 0, 0, time.UTC)))

	c.SetOverrides(nil)
	require.True(t, c.IsWorkingDay(day("2026-10-10")), "the national table again")
	require.Equal(t, day("2026-10-10"), notice())
}

// TestOverridesChangeWhileDeadlinesAreComputed is for the race detector:
// a server refreshes overrides while requests compute deadlines.
func TestOverridesChangeWhileDeadlinesAreComputed(t *testing.T) {
	c := New()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			c.SetOverrides([]Override{{Day: day("2026-09-30"), Working: i%2 == 0}})
			c.put(day("2026-11-28"), true, i%3 == 0)
		}
	}()
	for range 200 {
		end := c.EndOfWorkingDays(day("2026-09-28"), 5)
		if !end.Equal(day("2026-10-10")) && !end.Equal(day("2026-10-11")) {
			t.Fatalf("notice ends %s, neither with nor without the override", end)
		}
	}
	<-done
}
