package main

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/bench"
	"github.com/sciflow/sciflow/internal/dbtest"
)

// Two real server processes on one database, each application's
// submission sent by several clients through both at the same moment: the
// row lock makes exactly one of them the transition and every other a 409,
// never a 500 nor a second step in the history, and the chain verifies.
func TestTwoServersFireEachEventExactlyOnce(t *testing.T) {
	t.Parallel()
	bin := buildSciflow(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sys, server, err := openBenchSystem(ctx, dbtest.NewDSN(t), t.TempDir(), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(sys.close)
	server.Binary = bin

	var srvs []*bench.Server
	for range 2 {
		s, err := bench.StartServer(ctx, server)
		require.NoError(t, err)
		t.Cleanup(func() { s.Stop() })
		srvs = append(srvs, s)
	}
	roster, err := bench.NewRoster(ctx, sys.accounts, 2, 1)
	require.NoError(t, err)
	client := bench.NewClient(8)
	defer client.Close()
	require.NoError(t, roster.SignIn(ctx, client, srvs[0].URL))
	apps, err := roster.CreateApplications(ctx, sys.engine, 50, 4)
	require.NoError(t, err)

	// Two colleagues, each through both servers.
	const senders = 4
	for _, app := range apps {
		statuses := make([]int, senders)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range senders {
			wg.Go(func() {
				<-start
				status, body, err := client.Fire(ctx, srvs[i%2].URL, roster.Applicants[i/2].Token, app.ID, bench.Event)
				if err != nil {
					t.Error(err)
					return
				}
				if status != http.StatusOK && status != http.StatusConflict {
					t.Errorf("application %s: %d %s", app.ID, status, body)
				}
				statuses[i] = status
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, s := range statuses {
			if s == http.StatusOK {
				ok++
			}
		}
		require.Equal(t, 1, ok, "application %s: answers %v", app.ID, statuses)
	}

	for _, s := range srvs {
		require.NoError(t, s.Stop())
	}
	bad, err := bench.Misfired(ctx, sys.db, bench.IDs(apps), bench.Event)
	require.NoError(t, err)
	require.Zero(t, bad, "applications without exactly one submit in their history")
	report, err := sys.chain.Verify(ctx, sys.db)
	require.NoError(t, err)
	require.True(t, report.OK, "%+v", report.Problems)
}
