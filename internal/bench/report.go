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

// Report is what a bench run found: docs/BENCHMARKS.md describes the JSON.
type Report struct {
	Machine  Machine  `json:"machine"`
	Settings Settings `json:"settings"`
	Results  []Result `json:"results"`
	Audit    Audit    `json:"audit"`
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
	ModeBaseline = "baseline" // raw SQL, no engine
	ModeEngine   = "engine"   // (*engine.Engine).Fire in this process
	ModeHTTP     = "http"     // POST .../events to one server process
	ModeScaleout = "scaleout" // the same, to several server processes
)

// Result is one (mode, clients, servers) run.
type Result struct {
	Mode        string  `json:"mode"`
	Clients     int     `json:"clients"`
	Servers     int     `json:"servers"`
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
	for _, res := range r.Results {
		if !res.ExactlyOnce {
			return false
		}
	}
	return r.Audit.Verified
}

// ratios fills in each result's ratio to the baseline at its clients.
func (r *Report) ratios() {
	base := map[int]float64{}
	for _, res := range r.Results {
		if res.Mode == ModeBaseline {
			base[res.Clients] = res.TPS
		}
	}
	for i := range r.Results {
		if b, ok := base[r.Results[i].Clients]; ok && b > 0 {
			v := round(r.Results[i].TPS/b, 2)
			r.Results[i].Ratio = &v
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
	fmt.Fprintln(tw, "mode\tclients\tservers\ttransitions\tseconds\ttps\tp50 ms\tp95 ms\tp99 ms\tratio\tallocs/op\tpeak RSS MiB\tonce\t")
	for _, res := range r.Results {
		servers := "-"
		if res.Servers > 0 {
			servers = fmt.Sprint(res.Servers)
		}
		once := "ok"
		if !res.ExactlyOnce {
			once = "FAILED"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%.2f\t%.0f\t%.2f\t%.2f\t%.2f\t%s\t%s\t%s\t%s\t\n", res.Mode, res.Clients, servers,
			res.Transitions, res.Seconds, res.TPS, res.P50Ms, res.P95Ms, res.P99Ms,
			optional(res.Ratio, "%.2f"), optional(res.AllocsPerOp, "%.0f"), optional(res.ServerPeakRSSMiB, "%.0f"), once)
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
