package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Explain is one statement a read path ran, with the plan PostgreSQL
// executed for it and what it cost (auto_explain: ANALYZE, BUFFERS).
type Explain struct {
	Path  string  `json:"path"`
	Ms    float64 `json:"ms"`
	Query string  `json:"query"`
	Plan  string  `json:"plan"`
}

// explainSettings make every new session of the bench's cluster log the
// plan of every statement it runs, executed (ANALYZE, BUFFERS), as the
// server prepared and planned it: the server's own statements, not copies.
var explainSettings = map[string]string{
	"session_preload_libraries":          "auto_explain",
	"auto_explain.log_min_duration":      "0",
	"auto_explain.log_analyze":           "on",
	"auto_explain.log_buffers":           "on",
	"auto_explain.log_timing":            "on",
	"auto_explain.log_nested_statements": "off",
	"auto_explain.log_format":            "text",
}

// explain makes one read of each path against a server started with the
// plans logged, and takes each path's statements from the cluster's log.
// Only on the bench's own cluster: the settings are the server's.
func (r *reader) explain(ctx context.Context, rep *ScaleReport) error {
	if r.d.ClusterLog == "" || !r.d.Embedded {
		r.say("plans: not captured (they need the bench's own cluster)")
		return nil
	}
	// The module's settings exist once it is loaded.
	if _, err := r.owner.ExecContext(ctx, `LOAD 'auto_explain'`); err != nil {
		return fmt.Errorf("auto_explain: %w", err)
	}
	set := func(on bool) error {
		for k, v := range explainSettings {
			q := fmt.Sprintf(`ALTER SYSTEM SET %s = '%s'`, k, v)
			if !on {
				q = `ALTER SYSTEM RESET ` + k
			}
			if _, err := r.owner.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("auto_explain: %w", err)
			}
		}
		_, err := r.owner.ExecContext(ctx, `SELECT pg_reload_conf()`)
		return err
	}
	if err := set(true); err != nil {
		return err
	}
	defer set(false)
	c := NewClient(1)
	defer c.Close()
	srv, err := r.settledServer(ctx)
	if err != nil {
		return err
	}
	defer srv.Stop()
	for _, p := range r.paths {
		// A read first, so that the plans taken are of warm prepared
		// statements as the timed reads ran them.
		if _, _, err := r.get(ctx, c, srv.URL, p, 0); err != nil {
			return err
		}
		before, err := logSize(r.d.ClusterLog)
		if err != nil {
			return err
		}
		if _, _, err := r.get(ctx, c, srv.URL, p, 1); err != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond) // the backend writes its log line after answering
		plans, err := readPlans(r.d.ClusterLog, before)
		if err != nil {
			return err
		}
		for _, pl := range plans {
			pl.Path = p.name
			rep.Explains = append(rep.Explains, pl)
		}
	}
	return srv.Stop()
}

func logSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("cluster log: %w", err)
	}
	return fi.Size(), nil
}

var planStart = regexp.MustCompile(`LOG:  duration: ([0-9.]+) ms  plan:$`)

// noise are statements of the server's own background work (river's are
// named "-- name: ...", the sealer's) and of every request's sign-in check,
// which say nothing about a read path.
var noise = []string{"river_", "audit_seal", "pg_try_advisory", "api_tokens", "written_xid >=", "-- name: "}

// readPlans reads the plans logged after offset, the read path's
// statements, slowest first.
func readPlans(path string, offset int64) ([]Explain, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cluster log: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		return nil, err
	}
	var out []Explain
	var cur *Explain
	var lines []string
	flush := func() {
		if cur == nil {
			return
		}
		text := strings.Join(lines, "\n")
		q, plan, _ := strings.Cut(text, "\n")
		// The query text runs over lines; the plan starts at the first line
		// indented as a plan node is.
		all := append([]string{q}, strings.Split(plan, "\n")...)
		i := 1
		for ; i < len(all); i++ {
			if isPlanLine(all[i]) {
				break
			}
		}
		cur.Query = strings.TrimPrefix(strings.Join(all[:i], "\n"), "Query Text: ")
		cur.Plan = strings.Join(all[i:], "\n")
		keep := true
		for _, n := range noise {
			if strings.Contains(cur.Query, n) {
				keep = false
			}
		}
		if keep {
			out = append(out, *cur)
		}
		cur, lines = nil, nil
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "\t") {
			if cur != nil {
				lines = append(lines, strings.TrimPrefix(line, "\t"))
			}
			continue
		}
		flush()
		if m := planStart.FindStringSubmatch(line); m != nil {
			ms, _ := strconv.ParseFloat(m[1], 64)
			cur = &Explain{Ms: ms}
		}
	}
	flush()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Ms > out[j].Ms })
	return out, sc.Err()
}

// isPlanLine reports whether a line is the first of a plan: a node with its
// cost and actual time.
func isPlanLine(s string) bool {
	return strings.Contains(s, "(cost=") && strings.Contains(s, "actual")
}
