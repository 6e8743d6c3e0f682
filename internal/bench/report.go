package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
)

// Report is what a bench run found: the JSON of ../shared/API.md ("sciflow
// bench --json"), with more beside it; docs/BENCHMARKS.md describes it.
type Report struct {
	Machine  Machine  `json:"machine"`
	Settings Settings `json:"settings"`
	Runs     []Result `json:"runs"`
	// AllocsPerTransition is the engine's in process at the middle number
	// of clients (each run's is in its row).
	AllocsPerTransition *float64 `json:"allocs_per_transition"`
	// PeakRSSMiB is the largest peak RSS of any server process.
	PeakRSSMiB *float64 `json:"peak_rss_mib"`
	Audit      Audit    `json:"audit"`
}

// Machine is where the figures were measured.
type Machine struct {
	Cores    int      `json:"cores"`
	CPU      string   `json:"cpu"`
	OS       string   `json:"os"`
	Go       string   `json:"go"`
	Database Database `json:"postgresql"`
}

// Database is the PostgreSQL server and the settings that decide what a
// commit costs.
type Database struct {
	Version           string `json:"version"`
	Fsync             string `json:"fsync"`
	SynchronousCommit string `json:"synchronous_commit"`
	FullPageWrites    string `json:"full_page_writes"`
	// Embedded says the bench started its own cluster (else --database-url).
	Embedded bool `json:"embedded"`
	// PoolMaxOpen is the most connections each sciflow process opens.
	PoolMaxOpen int `json:"pool_max_open"`
}

// The modes measured.
const (
	ModeRaw    = "raw"    // the baseline: raw SQL, no engine
	ModeFloor  = "floor"  // the engine's statements without the engine (floor.go)
	ModeEngine = "engine" // (*engine.Engine).Fire in this process
	ModeHTTP   = "http"   // POST .../events to server processes
)

// The series of runs: every mode at each number of clients, then HTTP at one
// number of clients against each number of server processes.
const (
	SeriesClients  = "clients"
	SeriesScaleout = "scaleout"
)

// Result is one (mode, clients, processes) run.
type Result struct {
	Mode    string `json:"mode"`
	Series  string `json:"series"`
	Clients int    `json:"clients"`
	// Processes is how many server processes served it; 0 in the bench's
	// own process (raw, engine).
	Processes   int     `json:"processes"`
	Warmup      int     `json:"warmup"`
	Transitions int     `json:"transitions"`
	Seconds     float64 `json:"seconds"`
	TPS         float64 `json:"tps"`
	P50Ms       float64 `json:"p50_ms"`
	P95Ms       float64 `json:"p95_ms"`
	P99Ms       float64 `json:"p99_ms"`
	// Ratio is TPS over the baseline's at the same number of clients; null
	// when the baseline was not run at that number.
	Ratio *float64 `json:"ratio"`
	// OfFloor is TPS over the floor's at the same number of clients, for
	// the engine's runs (engine, http); null for the others.
	OfFloor *float64 `json:"of_floor"`
	// AllocsPerOp is heap allocations per transition, in-process only.
	AllocsPerOp *float64 `json:"allocs_per_op"`
	// ServerPeakRSSMiB is the largest peak resident memory of the run's
	// server processes, over HTTP only.
	ServerPeakRSSMiB *float64 `json:"server_peak_rss_mib"`
	// ExactlyOnce says every application of the run, warm-up included,
	// took the event exactly once.
	ExactlyOnce bool `json:"exactly_once"`
}

// Audit is the audit chain's verification after every run.
type Audit struct {
	Verified bool     `json:"verified"`
	Checked  int64    `json:"checked"`
	Problems []string `json:"problems"`
}

// Correct reports whether every check passed.
func (r *Report) Correct() bool {
	for _, res := range r.Runs {
		if !res.ExactlyOnce {
			return false
		}
	}
	return r.Audit.Verified
}

// summarise fills in each run's ratio to the baseline at its clients, the
// engine's runs' ratio to the floor, and the report's allocations and peak
// RSS.
func (r *Report) summarise() {
	base, floor := map[int]float64{}, map[int]float64{}
	var engine []Result
	for _, res := range r.Runs {
		switch {
		case res.Mode == ModeRaw:
			base[res.Clients] = res.TPS
		case res.Mode == ModeFloor:
			floor[res.Clients] = res.TPS
		case res.Mode == ModeEngine:
			engine = append(engine, res)
		case res.ServerPeakRSSMiB != nil && (r.PeakRSSMiB == nil || *res.ServerPeakRSSMiB > *r.PeakRSSMiB):
			r.PeakRSSMiB = res.ServerPeakRSSMiB
		}
	}
	if len(engine) > 0 {
		r.AllocsPerTransition = engine[len(engine)/2].AllocsPerOp
	}
	for i := range r.Runs {
		if b, ok := base[r.Runs[i].Clients]; ok && b > 0 {
			v := round(r.Runs[i].TPS/b, 2)
			r.Runs[i].Ratio = &v
		}
		if f, ok := floor[r.Runs[i].Clients]; ok && f > 0 && (r.Runs[i].Mode == ModeEngine || r.Runs[i].Mode == ModeHTTP) {
			v := round(r.Runs[i].TPS/f, 2)
			r.Runs[i].OfFloor = &v
		}
	}
}

// WriteText prints the report as a table for a person at a terminal.
func (r *Report) WriteText(w io.Writer) error {
	m := r.Machine
	fmt.Fprintf(w, "%d cores (%s), %s, %s, PostgreSQL %s (fsync %s, synchronous_commit %s)\n",
		m.Cores, m.CPU, m.OS, m.Go, m.Database.Version, m.Database.Fsync, m.Database.SynchronousCommit)
	fmt.Fprintf(w, "%d applications timed per run, one %q each\n\n", r.Settings.Apps, Event)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tseries\tclients\tprocesses\ttransitions\tseconds\ttps\tp50 ms\tp95 ms\tp99 ms\tratio\tof floor\tallocs/op\tpeak RSS MiB\tonce\t")
	for _, res := range r.Runs {
		servers := "-"
		if res.Processes > 0 {
			servers = fmt.Sprint(res.Processes)
		}
		once := "ok"
		if !res.ExactlyOnce {
			once = "FAILED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%.2f\t%.0f\t%.2f\t%.2f\t%.2f\t%s\t%s\t%s\t%s\t%s\t\n", res.Mode, res.Series, res.Clients, servers,
			res.Transitions, res.Seconds, res.TPS, res.P50Ms, res.P95Ms, res.P99Ms,
			optional(res.Ratio, "%.2f"), optional(res.OfFloor, "%.2f"), optional(res.AllocsPerOp, "%.0f"), optional(res.ServerPeakRSSMiB, "%.0f"), once)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Audit.Verified {
		_, err := fmt.Fprintf(w, "\naudit chain verified: %d entries\n", r.Audit.Checked)
		return err
	}
	_, err := fmt.Fprintf(w, "\naudit chain DOES NOT verify: %s\n", strings.Join(r.Audit.Problems, "; "))
	return err
}

func optional(v *float64, format string) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf(format, *v)
}

// machine describes this computer.
func machine() Machine {
	return Machine{Cores: runtime.NumCPU(), CPU: cpuModel(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version()}
}

// cpuModel is the processor's name as Linux reports it, or "" elsewhere.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if name, value, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return ""
}
