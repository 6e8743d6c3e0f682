package auth

import (
	"testing"
	"time"

	"github.com/sciflow/sciflow/internal/postgres"
)

func TestThrottled(t *testing.T) {
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	for _, tc := range []struct {
		name string
		f    postgres.LoginFailures
		want time.Duration
	}{
		{"a few failures", postgres.LoginFailures{ByUserAddr: 19, ByUser: 19, ByAddress: 19, OldestUserAddr: ago(time.Minute)}, 0},
		{"name and address", postgres.LoginFailures{ByUserAddr: 20, OldestUserAddr: ago(5 * time.Minute)}, 10 * time.Minute},
		{"one address, many names", postgres.LoginFailures{ByAddress: 100, OldestAddr: ago(14 * time.Minute)}, time.Minute},
		{"one name, many addresses", postgres.LoginFailures{ByUser: 300, OldestUser: ago(15*time.Minute - time.Millisecond)}, time.Second},
		{"the longest wait wins", postgres.LoginFailures{ByUserAddr: 20, OldestUserAddr: ago(14 * time.Minute), ByAddress: 100, OldestAddr: ago(time.Minute)}, 14 * time.Minute},
	} {
		if got := throttled(tc.f, now); got != tc.want {
			t.Errorf("%s: wait %s, want %s", tc.name, got, tc.want)
		}
	}
}
