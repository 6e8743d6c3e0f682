package engine_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/postgres"
)

// planIndicators are the test grant's indicators: applications waiting for
// their unit by state, and the budget they ask for.
const planIndicators = `
indicators:
  grants_waiting:
    title: {zh: 待推荐, en: Waiting for their unit}
    unit: {zh: 项, en: applications}
    target: 10
    count: {workflow: [grant], states: [%s]}
    by: state
  grants_budget:
    title: {zh: 申请经费, en: Budget asked}
    unit: {zh: 元, en: yuan}
    sum: {workflow: [grant], states: [unit_review], field: budget}
`

// withIndicators syncs the test definitions with the grant declaring
// planIndicators over states.
func (w *world) withIndicators(states string) {
	w.t.Helper()
	dir := w.t.TempDir()
	for _, f := range []string{"grant.yaml", "grant.form.json", "instalment.yaml", "instalment.form.json", "project.yaml", "project.form.json"} {
		raw, err := os.ReadFile(filepath.Join(w.defDir, f))
		require.NoError(w.t, err)
		if f == "grant.yaml" {
			raw = append(raw, []byte(fmt.Sprintf(planIndicators, states))...)
		}
		require.NoError(w.t, os.WriteFile(filepath.Join(dir, f), raw, 0o644))
	}
	w.sync(dir)
}

// plan reads the indicators as the leader, keyed by indicator.
func (w *world) plan() (time.Time, map[string]engine.IndicatorValue) {
	w.t.Helper()
	asOf, list, err := w.eng.PlanStats(w.ctx, w.users["leader"])
	require.NoError(w.t, err)
	out := map[string]engine.IndicatorValue{}
	for _, v := range list {
		out[v.Key] = v
	}
	return asOf, out
}

func (w *world) submitted() {
	w.t.Helper()
	w.mustFire("applicant", w.create("applicant", validData).ID, "submit")
}

func TestPlanStatsLive(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.withIndicators("unit_review")
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	w.eng.Now = func() time.Time { return now }

	w.submitted()
	asOf, plan := w.plan()
	require.Equal(t, now, asOf)
	require.Equal(t, 1.0, plan["grants_waiting"].Actual)
	require.Equal(t, map[string]float64{"unit_review": 1}, plan["grants_waiting"].By)
	require.Equal(t, 800000.0, plan["grants_budget"].Actual)
	require.Empty(t, plan["grants_budget"].By, "an indicator without a breakdown has none")

	// Without a maximum age every read counts again.
	w.submitted()
	_, plan = w.plan()
	require.Equal(t, 2.0, plan["grants_waiting"].Actual)
	require.Equal(t, 1600000.0, plan["grants_budget"].Actual)

	_, _, err := w.eng.PlanStats(w.ctx, w.users["applicant"])
	require.Error(t, err, "applicants do not read the dashboard")
}

// snapshotWorld is a world with plan indicators served from their stored
// computation for a minute, on a clock the test moves: it starts at start
// and reads *now.
func snapshotWorld(t *testing.T) (w *world, start time.Time, now *time.Time) {
	w = newWorld(t)
	w.withIndicators("unit_review")
	start = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	clock := start
	w.eng.Now = func() time.Time { return clock }
	w.eng.PlanMaxAge = time.Minute
	return w, start, &clock
}

func TestPlanStatsSnapshot(t *testing.T) {
	t.Parallel()
	w, start, now := snapshotWorld(t)

	w.submitted()
	asOf, plan := w.plan()
	require.Equal(t, start, asOf, "nothing stored yet: computed now")
	require.Equal(t, 1.0, plan["grants_waiting"].Actual)

	// Within the maximum age the dashboard serves what was computed, and
	// says when.
	w.submitted()
	*now = start.Add(59 * time.Second)
	asOf, plan = w.plan()
	require.Equal(t, start, asOf)
	require.Equal(t, 1.0, plan["grants_waiting"].Actual)

	// Past it, it counts again.
	*now = start.Add(61 * time.Second)
	asOf, plan = w.plan()
	require.Equal(t, *now, asOf)
	require.Equal(t, 2.0, plan["grants_waiting"].Actual)

	// A definition that changes an indicator makes the snapshot stale at
	// once: it answered other questions.
	w.submitted()
	w.withIndicators("unit_review, formal_review")
	asOf, plan = w.plan()
	require.Equal(t, *now, asOf)
	require.Equal(t, 3.0, plan["grants_waiting"].Actual)
	require.Equal(t, map[string]float64{"unit_review": 3}, plan["grants_waiting"].By)
}

// Leaders who open the dashboard together when it is stale wait for one
// computation rather than each reading every application.
func TestPlanStatsComputedOnceForThoseWaiting(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.withIndicators("unit_review")
	w.eng.PlanMaxAge = time.Minute
	w.submitted()

	var wg sync.WaitGroup
	asOf := make([]time.Time, 8)
	errs := make([]error, len(asOf))
	for i := range asOf {
		wg.Add(1)
		go func() {
			defer wg.Done()
			asOf[i], _, errs[i] = w.eng.PlanStats(w.ctx, w.users["leader"])
		}()
	}
	wg.Wait()
	for i, t2 := range asOf {
		require.NoError(t, errs[i])
		require.True(t, asOf[0].Equal(t2), "each computation is stamped with its own time: %v, %v", asOf[0], t2)
	}
}

// Each server's round (RefreshPlan) counts again once the stored
// indicators are half their maximum age old, so that readers find them
// fresh without counting.
func TestRefreshPlan(t *testing.T) {
	t.Parallel()
	w, start, now := snapshotWorld(t)
	stored := func() postgres.PlanSnapshot {
		snap, ok, err := w.db.PlanSnapshot(w.ctx)
		require.NoError(t, err)
		require.True(t, ok)
		return snap
	}

	require.NoError(t, w.eng.RefreshPlan(w.ctx))
	require.Equal(t, start, stored().AsOf.UTC(), "nothing stored: counted")
	w.submitted()
	*now = start.Add(29 * time.Second)
	require.NoError(t, w.eng.RefreshPlan(w.ctx))
	require.Equal(t, start, stored().AsOf.UTC(), "younger than half the maximum age: kept")
	require.Zero(t, stored().Indicators["grants_waiting"]["unit_review"])
	*now = start.Add(31 * time.Second)
	require.NoError(t, w.eng.RefreshPlan(w.ctx))
	require.Equal(t, *now, stored().AsOf.UTC())
	require.Equal(t, 1.0, stored().Indicators["grants_waiting"]["unit_review"])
}
