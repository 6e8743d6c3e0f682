package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/bench"
	"github.com/sciflow/sciflow/internal/dbtest"
)

// buildSciflow builds the sciflow command for tests that start servers as
// processes of their own through internal/bench: this test binary is not
// one.
func buildSciflow(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sciflow")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// The bench at a tiny size: every mode at every number of clients, the
// scale-out, and its own checks passing. The figures themselves are not
// judged (docs/BENCHMARKS.md has them, from a real run).
func TestBenchMeasuresEveryModeAndChecksItself(t *testing.T) {
	t.Parallel()
	bin := buildSciflow(t)
	dsn := dbtest.NewDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bench1 := func() (string, string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, []string{"bench", "--json", "--apps", "40", "--clients", "1,4", "--servers", "1,2",
			"--scaleout-clients", "4", "--applicants", "2", "--database-url", dsn, "--server-binary", bin},
			func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
		return out.String(), errOut.String(), err
	}
	out, progress, err := bench1()
	require.NoError(t, err, progress)

	var rep bench.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	require.Equal(t, 2, rep.Settings.Applicants)
	require.NotEmpty(t, rep.Machine.Database.Version)
	type row struct {
		mode, series       string
		clients, processes int
	}
	c, s := bench.SeriesClients, bench.SeriesScaleout
	want := []row{
		{bench.ModeRaw, c, 1, 0}, {bench.ModeFloor, c, 1, 0}, {bench.ModeEngine, c, 1, 0}, {bench.ModeHTTP, c, 1, 1},
		{bench.ModeRaw, c, 4, 0}, {bench.ModeFloor, c, 4, 0}, {bench.ModeEngine, c, 4, 0}, {bench.ModeHTTP, c, 4, 1},
		{bench.ModeHTTP, s, 4, 1}, {bench.ModeHTTP, s, 4, 2},
	}
	var got []row
	for _, r := range rep.Runs {
		got = append(got, row{r.Mode, r.Series, r.Clients, r.Processes})
		require.Equal(t, 40, r.Transitions, "%+v", r)
		require.Positive(t, r.TPS, "%+v", r)
		require.True(t, r.ExactlyOnce, "%+v", r)
		require.NotNil(t, r.Ratio, "%+v", r)
		require.LessOrEqual(t, r.P50Ms, r.P99Ms, "%+v", r)
		require.Equal(t, r.Mode == bench.ModeEngine, r.AllocsPerOp != nil, "%+v", r)
		require.Equal(t, r.Processes > 0, r.ServerPeakRSSMiB != nil, "%+v", r)
		require.Equal(t, r.Mode == bench.ModeEngine || r.Mode == bench.ModeHTTP, r.OfFloor != nil, "%+v", r)
	}
	require.Equal(t, want, got)
	// The summary API.md names.
	require.NotNil(t, rep.AllocsPerTransition)
	require.Positive(t, *rep.AllocsPerTransition)
	require.NotNil(t, rep.PeakRSSMiB)
	require.True(t, rep.Audit.Verified, "%v", rep.Audit.Problems)
	require.Positive(t, rep.Audit.Checked)

	// The database now has people: a second run refuses it rather than
	// mixing its figures with the first's.
	_, _, err = bench1()
	require.ErrorContains(t, err, "empty database")
}
