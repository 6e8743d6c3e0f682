package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText prints the scale report for a person at a terminal: what was
// generated, the read paths' table, the server's memory, the plans'
// slowest statements and the trail's verification.
func (r *ScaleReport) WriteText(w io.Writer) error {
	m, g := r.Machine, r.Generated
	fmt.Fprintf(w, "%d cores (%s), %s, %s, PostgreSQL %s (fsync %s, synchronous_commit %s)\n",
		m.Cores, m.CPU, m.OS, m.Go, m.Database.Version, m.Database.Fsync, m.Database.SynchronousCommit)
	fmt.Fprintf(w, "generated in %.0f s: %d applications (%.0f in flight), %d audit entries (%.1f per application), "+
		"%d review tasks (%d open), %d stages, %d notices (%d open), %d attachments; %d organisations and %d users "+
		"in %d counties of %d replicas; %d transactions, each sealed\n",
		g.Seconds, g.Apps, float64(g.InFlightApps), g.Entries, g.EntriesPerApp, g.Tasks, g.OpenTasks, g.Stages, g.Notices,
		g.OpenNotices, g.Attachments, g.Orgs, g.Users, g.Counties, g.Replicas, g.Transactions)
	fmt.Fprintf(w, "database: %s\n\n", r.Database)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "read path\trequest\tas\trequests\tp50 ms\tp95 ms\tp99 ms\tmax ms\titems\tbytes")
	for _, x := range r.Reads {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%d\n", x.Path, x.Request, x.As, x.Requests,
			x.P50Ms, x.P95Ms, x.P99Ms, x.MaxMs, x.Items, x.Bytes)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if p := r.PlanRefresh; p != nil {
		fmt.Fprintf(w, "(plan indicators computed in the background for %s, every half of SCIFLOW_PLAN_MAX_AGE: %d ms)\n", PathPlan, p.TookMs)
	}
	fmt.Fprintf(w, "\nserver resident memory: %.1f MiB once started, peak %.1f MiB after every read\n", r.Server.StartMiB, r.Server.PeakMiB)
	v := r.Verify
	status := "ok"
	if !v.OK {
		status = "FAILED: " + v.Output
	}
	fmt.Fprintf(w, "sciflow audit verify: %s; %d entries in %d chains in %.1f s, peak RSS %.1f MiB\n",
		status, v.Checked, v.Chains, v.Seconds, v.PeakRSSMiB)
	if len(r.Explains) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nplans (auto_explain: ANALYZE, BUFFERS), each read path's slowest statement:")
	seen := map[string]bool{}
	for _, e := range r.Explains {
		if seen[e.Path] {
			continue
		}
		seen[e.Path] = true
		fmt.Fprintf(w, "\n-- %s: %.3f ms\n%s\n%s\n", e.Path, e.Ms, strings.TrimSpace(e.Query), e.Plan)
	}
	return nil
}
