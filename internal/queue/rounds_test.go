package queue_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/queue"
)

// A round runs at once, then every interval, a failure being retried at
// the next; Stop ends every round and waits for the one running.
func TestRoundsRunAtOnceRepeatAndStop(t *testing.T) {
	t.Parallel()
	r := queue.NewRounds(context.Background(), slog.New(slog.DiscardHandler))
	var runs, after atomic.Int64
	started := make(chan struct{}, 1)
	r.Every(time.Hour, "never fails", func(context.Context) error {
		started <- struct{}{}
		return nil
	})
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the first round waited for the interval")
	}
	r.Every(10*time.Millisecond, "fails on odd rounds", func(ctx context.Context) error {
		if runs.Add(1)%2 == 1 {
			return errors.New("odd")
		}
		return nil
	})
	r.Go(func(ctx context.Context) {
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // still working when Stop is called
		after.Store(1)
	})
	require.Eventually(t, func() bool { return runs.Load() >= 4 }, 5*time.Second, 5*time.Millisecond, "a failed round does not end them")
	r.Stop()
	require.EqualValues(t, 1, after.Load(), "Stop waited for the work running")
	n := runs.Load()
	time.Sleep(50 * time.Millisecond)
	require.Equal(t, n, runs.Load(), "no round after Stop")
}
