package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sciflow/sciflow/internal/bench"
	"github.com/sciflow/sciflow/internal/config"
)

// benchCommand measures transition throughput (docs/BENCHMARKS.md,
// "Transitions: sciflow bench"), or with --scale the read paths at a
// province's size ("Read paths at scale"). It never reads DATABASE_URL: it
// fills the database it is given with its own people and applications, so
// that database must be named on purpose.
func benchCommand(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "bench")
	asJSON := fs.Bool("json", false, "print the report as one JSON object instead of a table")
	dbURL := fs.String("database-url", "", "an existing empty database to use (default: a temporary PostgreSQL cluster, fsync on)")
	apps := fs.Int("apps", 2000, "transitions timed per mode and number of clients, each on an application of its own")
	clients := intList{1, 8, 32}
	fs.Var(&clients, "clients", "numbers of concurrent clients, comma-separated")
	servers := intList{1, 2, 3}
	fs.Var(&servers, "servers", "numbers of server processes for the scale-out, comma-separated")
	scaleoutClients := fs.Int("scaleout-clients", 32, "concurrent clients of every scale-out run")
	applicants := fs.Int("applicants", 8, "applicants the applications are spread over")
	binary := fs.String("server-binary", "", "the sciflow executable to start as servers (default: this one)")
	scale := fs.Int("scale", 0, "instead: generate N applications with their histories and time the read paths (docs/BENCHMARKS.md)")
	reads := fs.Int("reads", 200, "with --scale: requests timed per read path")
	explain := fs.Bool("explain", true, "with --scale: capture each read path's plans (EXPLAIN ANALYZE, BUFFERS)")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *scale < 0:
		return usageError{"bench: --scale is a number of applications (0: no scale run)"}
	case *reads < 1:
		return usageError{"bench: --reads must be at least 1"}
	case *apps < 1:
		return usageError{"bench: --apps must be at least 1"}
	case len(clients) == 0:
		return usageError{"bench: --clients needs at least one number"}
	case *scaleoutClients < 1:
		return usageError{"bench: --scaleout-clients must be at least 1"}
	case *applicants < 1:
		return usageError{"bench: --applicants must be at least 1"}
	}
	if *binary == "" {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("bench: find this executable to start as servers: %w", err)
		}
		*binary = self
	}
	// A short path: the temporary cluster's socket lives under it.
	dir, err := os.MkdirTemp("", "sfbench-")
	if err != nil {
		return fmt.Errorf("bench: temporary dir: %w", err)
	}
	defer os.RemoveAll(dir)
	log := newLogger(config.Config{LogLevel: slog.LevelWarn, LogFormat: "text"}, e.stderr)
	if *dbURL != "" {
		if err := bench.RequireEmpty(ctx, *dbURL); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	sys, server, err := openBenchSystem(ctx, *dbURL, dir, log)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer sys.close()
	server.Binary = *binary
	if *scale > 0 {
		return benchScale(ctx, e, sys, server, dir, *asJSON, bench.ScaleSettings{
			GenerateSettings: bench.GenerateSettings{Apps: *scale, InFlight: 0.05, Years: 4, BatchEntries: 20000, Seed: 1},
			Reads:            *reads, Warmup: max(5, *reads/10), Explain: *explain})
	}
	rep, err := bench.Run(ctx, bench.Deps{DB: sys.db, Engine: sys.engine, Accounts: sys.accounts, Chain: sys.chain,
		OwnerDSN: server.Env["DATABASE_URL"], Embedded: sys.cluster != nil, Server: server, Progress: e.stderr},
		bench.Settings{Apps: *apps, Clients: clients, Servers: servers, ScaleoutClients: *scaleoutClients, Applicants: *applicants})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return printReport(e, rep, *asJSON, "the correctness checks failed")
}

// benchReport is what both benches print: a table, or JSON, and whether
// their own checks passed.
type benchReport interface {
	WriteText(io.Writer) error
	Correct() bool
}

func printReport(e *env, rep benchReport, asJSON bool, failure string) error {
	var err error
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = rep.WriteText(e.stdout)
	}
	if err != nil {
		return err
	}
	if !rep.Correct() {
		return fmt.Errorf("bench: %s (see the report)", failure)
	}
	return nil
}

// benchScale runs `sciflow bench --scale N` (docs/BENCHMARKS.md, "Read
// paths at scale") on the system openBenchSystem assembled.
func benchScale(ctx context.Context, e *env, sys *system, server bench.ServerConfig, dir string, asJSON bool, s bench.ScaleSettings) error {
	d := bench.ScaleDeps{Deps: bench.Deps{DB: sys.db, Engine: sys.engine, Accounts: sys.accounts, Chain: sys.chain,
		OwnerDSN: server.Env["DATABASE_URL"], Embedded: sys.cluster != nil, Server: server, Progress: e.stderr}}
	if sys.cluster != nil {
		d.ClusterLog = filepath.Join(dir, "postgres.log")
	}
	rep, err := bench.RunScale(ctx, d, s)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return printReport(e, rep, asJSON, "the generated audit trail does not verify")
}

// openBenchSystem assembles the system as serve does, on the database at
// dbURL or, when it is empty, on a new cluster in dir (PostgreSQL's own
// settings: fsync on, as in production). It runs the shipped definitions
// and the bench's, and returns the configuration for servers sharing its
// database and secret; the caller names their binary.
func openBenchSystem(ctx context.Context, dbURL, dir string, log *slog.Logger) (*system, bench.ServerConfig, error) {
	wfDir := filepath.Join(dir, "workflows")
	if err := bench.WriteWorkflows(wfDir); err != nil {
		return nil, bench.ServerConfig{}, err
	}
	env := map[string]string{
		"DATABASE_URL":          dbURL,
		"SCIFLOW_DATA_DIR":      dir,
		"SCIFLOW_SECRET":        rand.Text() + rand.Text(),
		"SCIFLOW_WORKFLOWS_DIR": wfDir,
		"SCIFLOW_LOG_LEVEL":     "warn",
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return nil, bench.ServerConfig{}, err
	}
	sys, err := openSystem(ctx, cfg, log)
	if err != nil {
		return nil, bench.ServerConfig{}, err
	}
	if sys.cluster != nil {
		env["DATABASE_URL"] = sys.cluster.DSN(embeddedDBName)
	}
	// The servers' own data dir: the cluster's belongs to this process.
	env["SCIFLOW_DATA_DIR"] = filepath.Join(dir, "server")
	return sys, bench.ServerConfig{Env: env}, nil
}

// intList is a comma-separated list of positive numbers.
type intList []int

func (l *intList) String() string {
	parts := make([]string, len(*l))
	for i, n := range *l {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

func (l *intList) Set(v string) error {
	*l = nil // a given list replaces the default
	for part := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive number", part)
		}
		*l = append(*l, n)
	}
	return nil
}
