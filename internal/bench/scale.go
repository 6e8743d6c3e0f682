package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sciflow/sciflow/internal/auth"
	"github.com/sciflow/sciflow/internal/demo"
	"github.com/sciflow/sciflow/internal/postgres"
)

// ScaleSettings say what `sciflow bench --scale` generates and measures
// (docs/BENCHMARKS.md, "Read paths at scale").
type ScaleSettings struct {
	GenerateSettings
	// Reads is how many requests each read path is timed over, after
	// Warmup untimed ones.
	Reads  int `json:"reads"`
	Warmup int `json:"warmup"`
	// Explain captures each read path's queries with EXPLAIN (ANALYZE,
	// BUFFERS), through auto_explain, on the bench's own cluster.
	Explain bool `json:"explain"`
}

// ScaleDeps is the system the scale bench fills and reads: Deps, with the
// log of the bench's own cluster (empty with --database-url), where
// auto_explain writes the plans.
type ScaleDeps struct {
	Deps
	ClusterLog string
}

// ScaleReport is what `sciflow bench --scale` found: the JSON of API.md's
// "sciflow bench --json" (no throughput runs; "reads" added), with the
// generator's counts, the database's size, the server's memory, the
// plans, and the whole trail's verification.
type ScaleReport struct {
	Machine             Machine       `json:"machine"`
	Settings            ScaleSettings `json:"settings"`
	Runs                []Result      `json:"runs"`
	AllocsPerTransition *float64      `json:"allocs_per_transition"`
	// PeakRSSMiB is the server's peak resident memory while it served the
	// reads (from its start).
	PeakRSSMiB *float64     `json:"peak_rss_mib"`
	Generated  Generated    `json:"generated"`
	Database   DatabaseSize `json:"database"`
	Reads      []ReadResult `json:"reads"`
	Server     ServerMemory `json:"server"`
	Explains   []Explain    `json:"explains"`
	Verify     VerifyRun    `json:"audit_verify"`
	// PlanRefresh is the last computation of the plan indicators the
	// dashboard was served from, which the server runs in the background.
	PlanRefresh *PlanRefresh `json:"plan_refresh"`
}

// PlanRefresh is one computation of every plan indicator.
type PlanRefresh struct {
	AsOf   time.Time `json:"as_of"`
	TookMs int64     `json:"took_ms"`
}

// ServerMemory is the read server's resident memory.
type ServerMemory struct {
	// StartMiB is its resident memory once started and idle.
	StartMiB float64 `json:"start_mib"`
	// PeakMiB is its peak (VmHWM) after every read.
	PeakMiB float64 `json:"peak_mib"`
}

// Correct reports whether the generated trail verified.
func (r *ScaleReport) Correct() bool { return r.Verify.OK }

// RunScale fills the database with the demo county and N applications
// copied from it, then times the read paths against a server, captures
// their plans, and verifies the whole trail with `sciflow audit verify`.
func RunScale(ctx context.Context, d ScaleDeps, s ScaleSettings) (*ScaleReport, error) {
	start := time.Now()
	say := func(format string, args ...any) {
		fmt.Fprintf(d.Progress, "scale %7.1fs: "+format+"\n", append([]any{time.Since(start).Seconds()}, args...)...)
	}
	m, err := machineWithDatabase(ctx, d.DB, d.Embedded)
	if err != nil {
		return nil, err
	}
	rep := &ScaleReport{Machine: m, Settings: s, Runs: []Result{}}
	owner, err := postgres.Open(ctx, d.OwnerDSN)
	if err != nil {
		return nil, err
	}
	defer owner.Close()

	// Everyone generated shares one password, random per run, hashed once.
	password := "Scale-" + rand.Text()
	hash, err := auth.HashPassword(password)
	if err != nil {
		return nil, err
	}
	say("seeding the demo county (the templates)")
	if _, err := demo.Seed(ctx, d.DB, d.Accounts, d.Engine); err != nil && !errors.Is(err, demo.ErrSeeded) {
		return nil, fmt.Errorf("seed the demo county: %w", err)
	}
	if rep.Generated, err = Generate(ctx, owner, d.Engine, d.Chain, hash, s.GenerateSettings, d.Progress); err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	say("generated in %.0f s; vacuuming and analysing", rep.Generated.Seconds)
	// What autovacuum would have done over the years: statistics for the
	// planner and the visibility map for index-only scans.
	if _, err := owner.ExecContext(ctx, `VACUUM (ANALYZE)`); err != nil {
		return nil, fmt.Errorf("vacuum: %w", err)
	}
	if rep.Database, err = databaseSize(ctx, owner); err != nil {
		return nil, err
	}
	say("database: %s", rep.Database)

	r := &reader{d: d, s: s, owner: owner, password: password, hash: hash, say: say}
	if err := r.choose(ctx); err != nil {
		return nil, err
	}
	if err := r.measure(ctx, rep); err != nil {
		return nil, err
	}
	if s.Explain {
		if err := r.explain(ctx, rep); err != nil {
			return nil, err
		}
	}
	say("verifying the whole trail with sciflow audit verify")
	if rep.Verify, err = verifyTrail(ctx, d.Server, d.Progress); err != nil {
		return nil, err
	}
	say("audit verify: ok=%v, %d entries in %d chains, %.1f s, peak RSS %.0f MiB",
		rep.Verify.OK, rep.Verify.Checked, rep.Verify.Chains, rep.Verify.Seconds, rep.Verify.PeakRSSMiB)
	return rep, nil
}

// DatabaseSize is how big the generated database is.
type DatabaseSize struct {
	Bytes  int64       `json:"bytes"`
	Tables []TableSize `json:"tables"`
}

// TableSize is one table's rows and size with its indexes.
type TableSize struct {
	Name  string `json:"name" db:"name"`
	Rows  int64  `json:"rows" db:"rows"`
	Bytes int64  `json:"bytes" db:"bytes"`
}

func (s DatabaseSize) String() string {
	out := fmt.Sprintf("%.1f GiB", float64(s.Bytes)/(1<<30))
	for i, t := range s.Tables {
		if i == 4 {
			break
		}
		out += fmt.Sprintf("; %s %d rows %.1f GiB", t.Name, t.Rows, float64(t.Bytes)/(1<<30))
	}
	return out
}

func databaseSize(ctx context.Context, db *postgres.DB) (DatabaseSize, error) {
	var s DatabaseSize
	if err := db.GetContext(ctx, &s.Bytes, `SELECT pg_database_size(current_database())`); err != nil {
		return s, fmt.Errorf("database size: %w", err)
	}
	const q = `
SELECT c.relname AS name, c.reltuples::bigint AS rows, pg_total_relation_size(c.oid) AS bytes
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname = current_schema()
ORDER BY 3 DESC LIMIT 12`
	if err := db.SelectContext(ctx, &s.Tables, q); err != nil {
		return s, fmt.Errorf("table sizes: %w", err)
	}
	return s, nil
}

// writeProgressTo prefixes another process's lines for the progress.
type prefixWriter struct {
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := indexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.buf = p.buf[i+1:]
	}
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
