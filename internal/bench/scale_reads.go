package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sciflow/sciflow/internal/postgres"
)

// The read paths, as docs/BENCHMARKS.md names them.
const (
	PathInbox       = "inbox"
	PathApplicant   = "applicant_list"
	PathProgramme   = "applicant_programme"
	PathApplication = "application_history"
	PathRecord      = "decision_record"
	PathAuditEvent  = "audit_workflow_event"
	PathAuditActor  = "audit_actor"
	PathAuditMonth  = "audit_month"
	PathAuditApp    = "audit_application"
	PathNotices     = "notices"
	PathPlan        = "plan_stats"
)

// ReadResult is one read path timed.
type ReadResult struct {
	Path string `json:"path"`
	// Request is what one read asks, and As who.
	Request  string  `json:"request"`
	As       string  `json:"as"`
	Requests int     `json:"requests"`
	P50Ms    float64 `json:"p50_ms"`
	P95Ms    float64 `json:"p95_ms"`
	P99Ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
	// Items is how many items one answer held, at most.
	Items int `json:"items"`
	// Bytes is the largest answer's size.
	Bytes int `json:"bytes"`
}

// A read path that takes seconds (the plan indicators, counted at every
// request) is timed over fewer requests: at least minReads, then as many
// as readFor allows; its warm-up stops after warmupFor.
const (
	minReads  = 20
	readFor   = time.Minute
	warmupFor = 10 * time.Second
)

// readPath is a read to time: a request for the i-th call, as whom.
type readPath struct {
	name    string
	request string
	as      string
	token   string
	urls    func(i int) []string
}

// reader chooses who reads what, and times it over HTTP.
type reader struct {
	d        ScaleDeps
	s        ScaleSettings
	owner    *postgres.DB
	password string
	// hash is the password's: only the generated people have it.
	hash string
	say  func(string, ...any)
	// who reads: usernames, and their ids
	reviewer, applicant, auditor, leader string
	reviewerID                           string
	reviewerOpen, reviewerDone           int
	applicantApps                        int
	programme                            string
	apps                                 []string
	event                                struct{ workflow, event string }
	months                               []time.Time
	tokens                               map[string]string
	paths                                []readPath
}

// choose picks the readers from what the database holds, each the hardest
// case of its kind: the reviewer with the most open tasks, the applicant
// whose organisation has the most applications.
func (r *reader) choose(ctx context.Context) error {
	db := r.owner
	var rev struct {
		Username string `db:"username"`
		ID       string `db:"id"`
		Open     int    `db:"open"`
		Done     int    `db:"done"`
	}
	const reviewer = `
SELECT u.username, u.id, count(*) FILTER (WHERE t.status = 'open') AS open, count(*) FILTER (WHERE t.status <> 'open') AS done
FROM review_tasks t JOIN users u ON u.id = t.assignee_id
WHERE u.password_hash = $1
GROUP BY u.id ORDER BY 3 DESC, 4 DESC LIMIT 1`
	if err := db.GetContext(ctx, &rev, reviewer, r.hash); err != nil {
		return fmt.Errorf("choose the reviewer: %w", err)
	}
	r.reviewer, r.reviewerID, r.reviewerOpen, r.reviewerDone = rev.Username, rev.ID, rev.Open, rev.Done
	var app struct {
		Username string `db:"username"`
		Apps     int    `db:"apps"`
	}
	const applicant = `
SELECT (SELECT u.username FROM users u WHERE u.org_id = a.org_id AND 'applicant' = ANY (u.roles) AND NOT u.individual
        AND u.password_hash = $1 ORDER BY u.created_at LIMIT 1) AS username, count(*) AS apps
FROM applications a
WHERE EXISTS (SELECT 1 FROM users u WHERE u.org_id = a.org_id AND 'applicant' = ANY (u.roles) AND NOT u.individual
    AND u.password_hash = $1)
GROUP BY a.org_id ORDER BY 2 DESC LIMIT 1`
	if err := db.GetContext(ctx, &app, applicant, r.hash); err != nil {
		return fmt.Errorf("choose the applicant: %w", err)
	}
	r.applicant, r.applicantApps = app.Username, app.Apps
	// The programme the organisation applies to most, its list narrowed
	// to it: no challenge everyone may read fills that page.
	const programme = `
SELECT a.workflow FROM applications a JOIN users u ON u.org_id = a.org_id WHERE u.username = $1
GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1`
	if err := db.GetContext(ctx, &r.programme, programme, r.applicant); err != nil {
		return fmt.Errorf("choose the applicant's programme: %w", err)
	}
	for _, role := range []struct {
		name string
		into *string
	}{{"auditor", &r.auditor}, {"leader", &r.leader}} {
		const q = `SELECT username FROM users WHERE $1 = ANY (roles) AND password_hash = $2 ORDER BY username LIMIT 1`
		if err := db.GetContext(ctx, role.into, q, role.name, r.hash); err != nil {
			return fmt.Errorf("choose the %s: %w", role.name, err)
		}
	}
	n := r.s.Reads + r.s.Warmup
	const sample = `SELECT id FROM applications WHERE submitted_at IS NOT NULL ORDER BY random() LIMIT $1`
	if err := db.SelectContext(ctx, &r.apps, sample, n); err != nil {
		return fmt.Errorf("sample applications: %w", err)
	}
	if len(r.apps) == 0 {
		return errors.New("no submitted application to read")
	}
	// The decision most often recorded, read back by workflow and event.
	const event = `
SELECT workflow, event FROM audit_log WHERE kind = 'transition' AND event NOT IN ('create', 'submit') AND seq < 5000
GROUP BY 1, 2 ORDER BY count(*) DESC, 1, 2 LIMIT 1`
	if err := db.QueryRowxContext(ctx, event).Scan(&r.event.workflow, &r.event.event); err != nil {
		return fmt.Errorf("choose an event: %w", err)
	}
	var first, last time.Time
	if err := db.QueryRowxContext(ctx, `SELECT min(at), max(at) FROM audit_log WHERE application_id IS NOT NULL`).Scan(&first, &last); err != nil {
		return fmt.Errorf("the trail's span: %w", err)
	}
	for m := first; m.Before(last); m = m.AddDate(0, 1, 0) {
		r.months = append(r.months, m)
	}
	r.say("readers: reviewer %s (%d open tasks, %d done), applicant %s (%d applications in the organisation), auditor %s, leader %s",
		r.reviewer, r.reviewerOpen, r.reviewerDone, r.applicant, r.applicantApps, r.auditor, r.leader)
	return nil
}

// signIn gets the readers' tokens from a server of their own, so that the
// timed server never hashes a password.
func (r *reader) signIn(ctx context.Context, c *Client) error {
	srv, err := StartServer(ctx, r.d.Server)
	if err != nil {
		return err
	}
	r.tokens = map[string]string{}
	for _, u := range []string{r.reviewer, r.applicant, r.auditor, r.leader} {
		if _, ok := r.tokens[u]; ok {
			continue
		}
		token, err := c.SignIn(ctx, srv.URL, u, r.password)
		if err != nil {
			srv.Stop()
			return err
		}
		r.tokens[u] = token
	}
	return srv.Stop()
}

// readPaths are the reads timed, each cycling through its subjects.
func (r *reader) readPaths() []readPath {
	api := "/api/v1"
	app := func(i int) string { return r.apps[i%len(r.apps)] }
	month := func(i int) (string, string) {
		m := r.months[(i*7919)%len(r.months)]
		return m.Format(time.RFC3339), m.AddDate(0, 1, 0).Format(time.RFC3339)
	}
	return []readPath{
		{PathInbox, "GET /tasks (open, soonest due first, 200)", r.reviewer, r.tokens[r.reviewer],
			func(int) []string { return []string{api + "/tasks"} }},
		{PathApplicant, "GET /applications (newest first, 50)", r.applicant, r.tokens[r.applicant],
			func(int) []string { return []string{api + "/applications"} }},
		{PathProgramme, fmt.Sprintf("GET /applications?workflow=%s (newest first, 50)", r.programme), r.applicant, r.tokens[r.applicant],
			func(int) []string {
				return []string{api + "/applications?" + url.Values{"workflow": {r.programme}}.Encode()}
			}},
		{PathApplication, "GET /applications/{id} and /applications/{id}/history", r.reviewer, r.tokens[r.reviewer],
			func(i int) []string {
				return []string{api + "/applications/" + app(i), api + "/applications/" + app(i) + "/history"}
			}},
		{PathRecord, "GET /applications/{id}/decision-record (its chain checked against its seal)", r.auditor, r.tokens[r.auditor],
			func(i int) []string { return []string{api + "/applications/" + app(i) + "/decision-record"} }},
		{PathAuditEvent, fmt.Sprintf("GET /audit?workflow=%s&event=%s (100)", r.event.workflow, r.event.event), r.auditor, r.tokens[r.auditor],
			func(int) []string {
				return []string{api + "/audit?" + url.Values{"workflow": {r.event.workflow}, "event": {r.event.event}}.Encode()}
			}},
		{PathAuditActor, "GET /audit?actor={the reviewer} (100)", r.auditor, r.tokens[r.auditor],
			func(int) []string { return []string{api + "/audit?" + url.Values{"actor": {r.reviewerID}}.Encode()} }},
		{PathAuditMonth, fmt.Sprintf("GET /audit?workflow=%s&from=&to= (a month, 100)", r.event.workflow), r.auditor, r.tokens[r.auditor],
			func(i int) []string {
				from, to := month(i)
				return []string{api + "/audit?" + url.Values{"workflow": {r.event.workflow}, "from": {from}, "to": {to}}.Encode()}
			}},
		{PathAuditApp, "GET /audit?application_id={id} (100)", r.auditor, r.tokens[r.auditor],
			func(i int) []string {
				return []string{api + "/audit?" + url.Values{"application_id": {app(i)}}.Encode()}
			}},
		{PathNotices, "GET /notices (every open 公示, no sign-in)", "public", "",
			func(int) []string { return []string{api + "/notices"} }},
		{PathPlan, "GET /stats/plan (every indicator)", r.leader, r.tokens[r.leader],
			func(int) []string { return []string{api + "/stats/plan"} }},
	}
}

// measure starts a server, lets it settle (its first reminder round, the
// seal), then times every read path one request at a time, and reads the
// server's peak memory after all of them.
func (r *reader) measure(ctx context.Context, rep *ScaleReport) error {
	c := NewClient(1)
	defer c.Close()
	if err := r.signIn(ctx, c); err != nil {
		return err
	}
	r.paths = r.readPaths()
	srv, err := r.settledServer(ctx)
	if err != nil {
		return err
	}
	defer srv.Stop()
	if rss, err := srv.RSS(); err == nil {
		rep.Server.StartMiB = round(float64(rss)/(1<<20), 1)
	}
	for _, p := range r.paths {
		res := ReadResult{Path: p.name, Request: p.request, As: p.as}
		began := time.Now()
		for i := 0; i < r.s.Warmup && (i < 2 || time.Since(began) < warmupFor); i++ {
			if _, _, err := r.get(ctx, c, srv.URL, p, i); err != nil {
				return err
			}
		}
		lat := make([]time.Duration, 0, r.s.Reads)
		began = time.Now()
		for i := 0; i < r.s.Reads && (i < minReads || time.Since(began) < readFor); i++ {
			t0 := time.Now()
			items, size, err := r.get(ctx, c, srv.URL, p, r.s.Warmup+i)
			if err != nil {
				return err
			}
			lat = append(lat, time.Since(t0))
			res.Items, res.Bytes = max(res.Items, items), max(res.Bytes, size)
		}
		res.Requests = len(lat)
		slices.Sort(lat)
		res.P50Ms, res.P95Ms, res.P99Ms = round(percentile(lat, 0.5), 2), round(percentile(lat, 0.95), 2), round(percentile(lat, 0.99), 2)
		res.MaxMs = round(percentile(lat, 1), 2)
		r.say("%-22s p50 %7.2f ms  p95 %7.2f ms  (%d items)", p.name, res.P50Ms, res.P95Ms, res.Items)
		rep.Reads = append(rep.Reads, res)
	}
	peak, err := srv.PeakRSS()
	if err != nil {
		return err
	}
	mib := round(float64(peak)/(1<<20), 1)
	rep.Server.PeakMiB, rep.PeakRSSMiB = mib, &mib
	// The dashboard is served from the indicators the servers compute in
	// the background: what that computation costs is part of the path.
	snap, ok, err := r.d.DB.PlanSnapshot(ctx)
	if err != nil {
		return err
	}
	if ok {
		rep.PlanRefresh = &PlanRefresh{AsOf: snap.AsOf, TookMs: snap.Took.Milliseconds()}
	}
	return srv.Stop()
}

// settledServer starts a server to read from and waits until it has
// worked off what is queued (earlier servers' jobs, tasks to announce), so
// that no read is timed against that work.
func (r *reader) settledServer(ctx context.Context) (*Server, error) {
	srv, err := StartServer(ctx, r.d.Server)
	if err != nil {
		return nil, err
	}
	if err := waitForJobs(ctx, r.d.DB, r.say); err != nil {
		srv.Stop()
		return nil, err
	}
	return srv, nil
}

// get makes the i-th read of p: its requests one after the other, each
// answer read to its end and required to be 200. It returns the most items
// an answer listed and the bytes of the largest.
func (r *reader) get(ctx context.Context, c *Client, base string, p readPath, i int) (int, int, error) {
	items, size := 0, 0
	for _, u := range p.urls(i) {
		status, body, err := c.get(ctx, base+u, p.token)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", p.name, err)
		}
		if status != http.StatusOK {
			return 0, 0, fmt.Errorf("%s: GET %s: %d %s", p.name, u, status, snippet(body))
		}
		items, size = max(items, countItems(body)), max(size, len(body))
	}
	return items, size, nil
}

// countItems is how many things an answer lists: its items, its
// indicators, or the array itself.
func countItems(body []byte) int {
	var list []json.RawMessage
	if json.Unmarshal(body, &list) == nil {
		return len(list)
	}
	var obj struct {
		Items      []json.RawMessage `json:"items"`
		Indicators []json.RawMessage `json:"indicators"`
	}
	if json.Unmarshal(body, &obj) == nil {
		return max(len(obj.Items), len(obj.Indicators), 1)
	}
	return 1
}

// RSS is the server's resident memory now (VmRSS), in bytes.
func (s *Server) RSS() (int64, error) { return procStatus(s.PID(), "VmRSS") }

// procStatus reads a memory figure (kB) of /proc/PID/status, in bytes.
func procStatus(pid int, key string) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("process status: %w", err)
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("process %s %q: %w", key, rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("process status has no %s", key)
}
