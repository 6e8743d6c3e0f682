package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/bench"
	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/dbtest"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/pgcluster"
)

// Fault injection against real server processes (issue 12): a server killed
// outright under load, PostgreSQL stopped and started under a server's load,
// a request stuck on a lock, and two servers working the same timers. Each
// test ends with `sciflow audit verify` on the database and the counts
// checked. docs/RELIABILITY.md has the scenarios and their figures.

// faultsWorkflow is a programme whose submission waits in a state with a
// timer that fires a self-transition (a reminder, as 催办 is): the
// application stays where it is, so nothing but the timer's own bookkeeping
// keeps the event from being fired twice.
const faultsWorkflow = `key: faults
title: {zh: 故障注入测试, en: Fault injection test}
initial: draft
form: faults.form.json
created_by: [applicant]

states:
  draft:
    title: {zh: 填报, en: Draft}
    kind: edit
    editable_by: [applicant]
  waiting:
    title: {zh: 等待到期, en: Waiting}
    kind: active
    timer: {at: due, event: remind}
  withdrawn:
    title: {zh: 已撤回, en: Withdrawn}
    kind: terminal

events:
  submit:
    title: {zh: 提交, en: Submit}
    from: [draft]
    to: waiting
    roles: [applicant]
  remind:
    title: {zh: 到期提醒, en: Reminder}
    from: [waiting]
    to: waiting
    system: true
  withdraw:
    title: {zh: 撤回, en: Withdraw}
    from: [draft, waiting]
    to: withdrawn
    roles: [applicant]
`

const faultsForm = `{
  "type": "object",
  "properties": {
    "title": {"type": "string", "minLength": 1},
    "due": {"type": "string", "format": "date"}
  },
  "required": ["title", "due"],
  "additionalProperties": false
}`

// openFaultSystem is openBenchSystem with the faults programme beside the
// bench's, and servers that seal often (so that a fault meets the sealer at
// work) and give up on a request after requestTimeout.
func openFaultSystem(t *testing.T, ctx context.Context, dsn string, requestTimeout time.Duration) (*system, bench.ServerConfig) {
	t.Helper()
	dir := t.TempDir()
	wfDir := filepath.Join(dir, "workflows")
	require.NoError(t, bench.WriteWorkflows(wfDir))
	require.NoError(t, os.WriteFile(filepath.Join(wfDir, "faults.yaml"), []byte(faultsWorkflow), 0o640))
	require.NoError(t, os.WriteFile(filepath.Join(wfDir, "faults.form.json"), []byte(faultsForm), 0o640))
	sys, server, err := openBenchSystem(ctx, dsn, dir, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(sys.close)
	server.Env["SCIFLOW_SEAL_EVERY"] = "100ms"
	server.Env["SCIFLOW_REQUEST_TIMEOUT"] = requestTimeout.String()
	return sys, server
}

// faultClient speaks the API as a careful client does: every event carries
// an Idempotency-Key, so a request whose answer was lost can be sent again.
type faultClient struct {
	http *http.Client
}

// newFaultClient waits at most patience for an answer: a request still
// unanswered then has hung past the server's own request timeout.
func newFaultClient(patience time.Duration) *faultClient {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 32
	return &faultClient{http: &http.Client{Transport: t, Timeout: patience}}
}

type answer struct {
	status int
	body   []byte
	header http.Header
}

func (c *faultClient) do(ctx context.Context, method, url, token, key string, body any) (answer, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return answer{}, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(raw))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return answer{}, fmt.Errorf("read answer: %w", err)
	}
	return answer{status: resp.StatusCode, body: buf.Bytes(), header: resp.Header}, nil
}

// fire sends event on the application with the key the application's
// attempts share.
// fireEach submits each application once more and requires 200: the
// retries a client makes after an outage, in order.
func (c *faultClient) fireEach(t *testing.T, ctx context.Context, base string, apps []bench.Application) {
	t.Helper()
	for _, app := range apps {
		a, err := c.fire(ctx, base, app, bench.Event)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	}
}

// requireSubmitted requires every application wholly submitted, once
// (appState.submitted).
func requireSubmitted(t *testing.T, ctx context.Context, sys *system, apps []bench.Application, reviewers int) {
	t.Helper()
	states := readStates(t, ctx, sys, bench.IDs(apps), bench.Event)
	for _, app := range apps {
		require.True(t, states[app.ID].submitted(reviewers), "%+v", states[app.ID])
	}
}

func (c *faultClient) fire(ctx context.Context, base string, app bench.Application, event string) (answer, error) {
	return c.do(ctx, http.MethodPost, base+"/api/v1/applications/"+app.ID+"/events", app.Owner.Token,
		"fault-"+event+"-"+app.ID, map[string]string{"event": event})
}

func (c *faultClient) health(ctx context.Context, base string) int {
	a, err := c.do(ctx, http.MethodGet, base+"/healthz", "", "", nil)
	if err != nil {
		return 0
	}
	return a.status
}

// unavailable reports whether a is API.md's error shape with the code of a
// database that does not answer, and says what is wrong otherwise.
func unavailable(a answer) error {
	if a.status != http.StatusServiceUnavailable {
		return fmt.Errorf("status %d, want 503: %s", a.status, a.body)
	}
	var b struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(a.body, &b); err != nil || b.Error.Code != "unavailable" || b.Error.Message == "" {
		return fmt.Errorf("503 without API.md's error shape (code unavailable): %s", a.body)
	}
	if a.header.Get("Retry-After") == "" {
		return fmt.Errorf("503 without Retry-After: %s", a.body)
	}
	return nil
}

// eventually polls cond every 20 ms until it holds, failing the test when
// it has not within limit (a bound for a broken system, not a measurement).
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// appState is what the database holds of one application's submission:
// the row, the steps of its history, the review stage and tasks the
// submission opens, and the answer stored under its Idempotency-Key.
type appState struct {
	ID      string `db:"id"`
	State   string `db:"state"`
	Version int    `db:"version"`
	Steps   int    `db:"steps"`
	Events  int    `db:"events"`
	Stages  int    `db:"stages"`
	Tasks   int    `db:"tasks"`
	Keys    int    `db:"keys"`
}

func readStates(t *testing.T, ctx context.Context, sys *system, ids []string, event string) map[string]appState {
	t.Helper()
	const q = `
SELECT a.id, a.state, a.version,
    (SELECT count(*) FROM audit_log l WHERE l.application_id = a.id AND l.kind = 'transition') AS steps,
    (SELECT count(*) FROM audit_log l WHERE l.application_id = a.id AND l.kind = 'transition' AND l.event = $2) AS events,
    (SELECT count(*) FROM review_stages s WHERE s.application_id = a.id) AS stages,
    (SELECT count(*) FROM review_tasks k WHERE k.application_id = a.id) AS tasks,
    (SELECT count(*) FROM idempotency_keys i WHERE i.key = 'fault-' || $2 || '-' || a.id::text) AS keys
FROM applications a WHERE a.id = ANY($1::uuid[])`
	var rows []appState
	require.NoError(t, sys.db.SelectContext(ctx, &rows, q, pq.Array(ids), event))
	require.Len(t, rows, len(ids))
	out := make(map[string]appState, len(rows))
	for _, r := range rows {
		out[r.ID] = r
	}
	return out
}

// submitted and untouched are the only two states a bench submission may
// leave an application in: all of it (the move, its one step after the
// creation's, the review stage with a task per reviewer, the stored answer)
// or none of it.
func (s appState) submitted(reviewers int) bool {
	return s.State == "formal_review" && s.Version == 2 && s.Steps == 2 && s.Events == 1 &&
		s.Stages == 1 && s.Tasks == reviewers && s.Keys == 1
}

func (s appState) untouched() bool {
	return s.State == "draft" && s.Version == 1 && s.Steps == 1 && s.Events == 0 &&
		s.Stages == 0 && s.Tasks == 0 && s.Keys == 0
}

// auditVerify runs `sciflow audit verify` on the servers' database and
// returns how many entries it checked.
func auditVerify(t *testing.T, ctx context.Context, server bench.ServerConfig) int {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(ctx, []string{"audit", "verify"}, func(k string) string { return server.Env[k] },
		strings.NewReader(""), &out, &errOut)
	require.NoError(t, err, "%s%s", out.String(), errOut.String())
	require.Contains(t, out.String(), "ok: the audit chain is intact")
	m := regexp.MustCompile(`checked (\d+) entries`).FindStringSubmatch(out.String())
	require.NotNil(t, m, out.String())
	n, _ := strconv.Atoi(m[1])
	return n
}

// transitionsIn counts the transition entries of the applications.
func transitionsIn(t *testing.T, ctx context.Context, sys *system, ids []string) int {
	t.Helper()
	var n int
	require.NoError(t, sys.db.GetContext(ctx, &n,
		`SELECT count(*) FROM audit_log WHERE kind = 'transition' AND application_id = ANY($1::uuid[])`, pq.Array(ids)))
	return n
}

// A server killed with SIGKILL in the middle of a load of submissions:
// every submission answered 200 is in its application's history with the
// state to match; one whose answer the kill lost is all there or not at
// all, never in part; the server starts again on the same database and
// serves, a client's retry with the same Idempotency-Key gets its 200
// without a second step, and the audit trail verifies.
func TestAServerKilledUnderLoadLosesNoAcknowledgedTransition(t *testing.T) {
	t.Parallel()
	bin := buildSciflow(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sys, server := openFaultSystem(t, ctx, dbtest.NewDSN(t), 10*time.Second)
	server.Binary = bin
	srv, err := bench.StartServer(ctx, server)
	require.NoError(t, err)
	t.Cleanup(func() { srv.Stop() })

	const reviewers, clients, total, killAfter = 1, 8, 400, 120
	roster, err := bench.NewRoster(ctx, sys.accounts, 8, reviewers)
	require.NoError(t, err)
	client := newFaultClient(time.Minute)
	signIn := bench.NewClient(1)
	defer signIn.Close()
	require.NoError(t, roster.SignIn(ctx, signIn, srv.URL))
	apps, err := roster.CreateApplications(ctx, sys.engine, total, 4)
	require.NoError(t, err)
	// Timers whose jobs the server is working when it dies.
	timed, holder := timersAtWork(t, ctx, sys, roster, client, srv.URL, 8)

	// Each client submits its share in turn until its request gets no
	// answer: the server is gone (a request in flight at the kill, or one
	// sent after it).
	const (
		unsent = iota
		acked
		unanswered
	)
	outcome := make([]atomic.Int32, total)
	var ackedCount atomic.Int32
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := c; i < total; i += clients {
				a, err := client.fire(ctx, srv.URL, apps[i], bench.Event)
				if err != nil {
					outcome[i].Store(unanswered)
					return
				}
				if a.status != http.StatusOK {
					t.Errorf("application %s: %d %s", apps[i].ID, a.status, a.body)
					return
				}
				outcome[i].Store(acked)
				ackedCount.Add(1)
			}
		})
	}
	eventually(t, time.Minute, "acknowledged submissions before the kill", func() bool { return ackedCount.Load() >= killAfter })
	require.NoError(t, syscall.Kill(srv.PID(), syscall.SIGKILL))
	wg.Wait()
	require.Error(t, srv.Stop(), "the server was killed, not stopped")
	require.NoError(t, holder.Rollback())

	// What the database holds now, before anything is retried.
	states := readStates(t, ctx, sys, bench.IDs(apps), bench.Event)
	counts := map[int32]int{}
	committed := 0
	for i, app := range apps {
		s := states[app.ID]
		o := outcome[i].Load()
		counts[o]++
		switch o {
		case acked:
			require.True(t, s.submitted(reviewers), "acknowledged but not (wholly) in the database: %+v", s)
		case unanswered:
			require.True(t, s.submitted(reviewers) || s.untouched(), "half-applied: %+v", s)
			if s.submitted(reviewers) {
				committed++
			}
		default:
			require.True(t, s.untouched(), "never sent, yet changed: %+v", s)
		}
	}
	require.Positive(t, counts[unsent], "the kill came before the load was over")

	// The server starts again on the same database; every submission not
	// acknowledged is sent again with its key, and each answers 200: the
	// stored answer for those the kill had committed, a new step for the
	// rest.
	restart := time.Now()
	srv, err = bench.StartServer(ctx, server)
	require.NoError(t, err)
	t.Cleanup(func() { srv.Stop() })
	serving := time.Since(restart)
	require.Equal(t, http.StatusOK, client.health(ctx, srv.URL))
	// The timers the dead server was firing fire once after the restart,
	// though their jobs stay claimed by it until river's rescuer frees them.
	caughtUp := eventually(t, time.Minute, "the timers of the killed server fired", func() bool {
		return timersDone(t, ctx, sys, bench.IDs(timed))
	})
	bad, err := bench.Misfired(ctx, sys.db, bench.IDs(timed), "remind")
	require.NoError(t, err)
	require.Zero(t, bad, "applications whose timer did not fire exactly once")
	var unacked []bench.Application
	for i, app := range apps {
		if outcome[i].Load() != acked {
			unacked = append(unacked, app)
		}
	}
	client.fireEach(t, ctx, srv.URL, unacked)
	require.NoError(t, srv.Stop())
	requireSubmitted(t, ctx, sys, apps, reviewers)
	require.Equal(t, 2*total, transitionsIn(t, ctx, sys, bench.IDs(apps)), "a creation and a submission per application, none twice")
	checked := auditVerify(t, ctx, server)
	require.GreaterOrEqual(t, checked, 2*total)
	t.Logf("kill -9 under load: %d submissions, %d acknowledged before the kill, %d unanswered (%d of them committed), "+
		"%d not yet sent; restarted and serving in %.2f s, the %d timers it was firing fired %.2f s later; "+
		"after the retries all %d in the history once; audit verify checked %d entries",
		total, counts[acked], counts[unanswered], committed, counts[unsent], serving.Seconds(), len(timed),
		caughtUp.Seconds(), total, checked)
}

// ownCluster is a PostgreSQL cluster of the test's own, which it stops
// with pg_ctl as an operator (or a crash) would and starts again on the
// same data dir and socket: the throwaway cluster of the other tests is
// shared and must stay up.
type ownCluster struct {
	dir string
	c   *pgcluster.Cluster
	dsn string
}

// clusterSettings: fsync off (no machine crash is simulated, and the page
// cache survives PostgreSQL's), but commits are synchronous, as in
// production: an acknowledged commit is in the WAL the restart replays.
var clusterSettings = map[string]string{"fsync": "off", "full_page_writes": "off", "max_connections": "100"}

func startOwnCluster(t *testing.T, ctx context.Context) *ownCluster {
	t.Helper()
	// Short, under the system temp dir: the socket lives in it.
	dir, err := os.MkdirTemp("", "sffault-")
	require.NoError(t, err)
	oc := &ownCluster{dir: dir}
	t.Cleanup(func() {
		if oc.c != nil {
			_ = oc.c.Stop(context.Background())
		}
		os.RemoveAll(dir)
	})
	oc.start(t, ctx)
	require.NoError(t, oc.c.EnsureDatabase(ctx, "sciflow"))
	oc.dsn = oc.c.DSN("sciflow")
	return oc
}

func (oc *ownCluster) start(t *testing.T, ctx context.Context) {
	t.Helper()
	c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: oc.dir, NoSync: true, Settings: clusterSettings})
	require.NoError(t, err)
	oc.c = c
}

// stop runs pg_ctl stop -m mode (fast: sessions ended, a shutdown
// checkpoint; immediate: every process quits at once, and the next start
// recovers from the WAL as after a crash) as the cluster's owner, waits
// for the postmaster to exit, and lets go of the data dir.
func (oc *ownCluster) stop(t *testing.T, mode string) {
	t.Helper()
	bin, err := pgcluster.FindBinDir()
	require.NoError(t, err)
	pgdata := filepath.Join(oc.dir, "pg")
	cmd := exec.Command(filepath.Join(bin, "pg_ctl"), "stop", "-D", pgdata, "-m", mode, "-w", "-t", "60")
	if os.Geteuid() == 0 {
		// pg_ctl, like PostgreSQL, refuses root: run it as the owner.
		fi, err := os.Stat(pgdata)
		require.NoError(t, err)
		st := fi.Sys().(*syscall.Stat_t)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: st.Uid, Gid: st.Gid}}
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "pg_ctl stop -m %s: %s", mode, out)
	<-oc.c.Exited()
	require.NoError(t, oc.c.Stop(context.Background()))
	oc.c = nil
}

// tomorrow is a date whose timers are not due yet.
func tomorrow() string {
	return time.Now().In(calendar.China).AddDate(0, 0, 1).Format(time.DateOnly)
}

// yesterday is a date whose end has passed: a timer set for it is due.
func yesterday() string {
	return time.Now().In(calendar.China).AddDate(0, 0, -1).Format(time.DateOnly)
}

// createTimed starts n applications of the faults programme, whose timer
// falls due at the end of due, spread over the applicants.
func createTimed(t *testing.T, ctx context.Context, sys *system, roster *bench.Roster, n int, due string) []bench.Application {
	t.Helper()
	apps := make([]bench.Application, n)
	for i := range apps {
		owner := roster.Applicants[i%len(roster.Applicants)]
		app, err := sys.engine.Create(ctx, &owner.User, engine.CreateInput{Workflow: "faults",
			Data: map[string]any{"title": fmt.Sprintf("到期提醒 %d", i), "due": due}})
		require.NoError(t, err)
		apps[i] = bench.Application{ID: app.ID, Owner: owner}
	}
	return apps
}

// timersSettled reports whether every timer of the applications is done
// and no river job of a timer is left to run, so nothing more will fire.
func timersSettled(t *testing.T, ctx context.Context, sys *system, ids []string) bool {
	t.Helper()
	const q = `
SELECT (SELECT count(*) FROM timers WHERE application_id = ANY($1::uuid[]) AND done_at IS NULL)
     + (SELECT count(*) FROM river_job WHERE kind = 'timer' AND state NOT IN ('completed', 'discarded', 'cancelled'))`
	var pending int
	require.NoError(t, sys.db.GetContext(ctx, &pending, q, pq.Array(ids)))
	return pending == 0
}

// timersDone reports whether every timer of the applications is done.
func timersDone(t *testing.T, ctx context.Context, sys *system, ids []string) bool {
	t.Helper()
	var pending int
	require.NoError(t, sys.db.GetContext(ctx, &pending,
		`SELECT count(*) FROM timers WHERE application_id = ANY($1::uuid[]) AND done_at IS NULL`, pq.Array(ids)))
	return pending == 0
}

// timersAtWork submits n applications of the faults programme through the
// server at base, their timers due tomorrow, then brings the timers forward
// to now while a transaction of the test holds the applications' locks:
// their jobs start and each waits for its lock, so that a fault finds them
// at work. Rolling the returned transaction back lets them go on.
func timersAtWork(t *testing.T, ctx context.Context, sys *system, roster *bench.Roster, client *faultClient,
	base string, n int) ([]bench.Application, *sqlx.Tx) {
	t.Helper()
	apps := createTimed(t, ctx, sys, roster, n, tomorrow())
	for _, app := range apps {
		a, err := client.fire(ctx, base, app, "submit")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	}
	ids := pq.Array(bench.IDs(apps))
	holder, err := sys.db.BeginTxx(ctx, nil)
	require.NoError(t, err)
	t.Cleanup(func() { holder.Rollback() })
	_, err = holder.ExecContext(ctx, `SELECT id FROM applications WHERE id = ANY($1::uuid[]) FOR UPDATE`, ids)
	require.NoError(t, err)
	_, err = sys.db.ExecContext(ctx, `UPDATE timers SET due_at = now() WHERE application_id = ANY($1::uuid[])`, ids)
	require.NoError(t, err)
	_, err = sys.db.ExecContext(ctx, `UPDATE river_job SET scheduled_at = now() WHERE kind = 'timer'
		AND (args->>'timer_id')::bigint IN (SELECT id FROM timers WHERE application_id = ANY($1::uuid[]))`, ids)
	require.NoError(t, err)
	eventually(t, time.Minute, "the timers' jobs running, waiting for their locks", func() bool {
		var running int
		require.NoError(t, sys.db.GetContext(ctx, &running, `SELECT count(*) FROM river_job WHERE kind = 'timer' AND state = 'running'
			AND (args->>'timer_id')::bigint IN (SELECT id FROM timers WHERE application_id = ANY($1::uuid[]))`, ids))
		return running == n
	})
	return apps, holder
}

// unsealed counts the chains written since the last seal.
func unsealed(t *testing.T, ctx context.Context, sys *system) (chains, seals int) {
	t.Helper()
	const q = `
SELECT (SELECT count(*) FROM audit_chains WHERE count > 0
        AND written_xid >= coalesce((SELECT upto_xid FROM audit_seal_head), '0'::xid8)) AS chains,
    coalesce((SELECT count FROM audit_seal_head), 0) AS seals`
	var r struct {
		Chains int `db:"chains"`
		Seals  int `db:"seals"`
	}
	require.NoError(t, sys.db.GetContext(ctx, &r, q))
	return r.Chains, r.Seals
}

// PostgreSQL stopped twice under a server's load, once in fast mode and
// once immediately (a crash as far as the server can tell), and started
// again on the same data dir. Meanwhile /healthz answers 503 and the API
// 503 in API.md's error shape, never a 500 and never later than the
// request timeout; afterwards the same server recovers by itself: healthz
// 200, the clients' retries (same Idempotency-Key) answer 200, timers fire,
// the sealer seals again, no acknowledged submission is lost and none is
// made twice, and the audit trail verifies.
func TestAServerRidesOutPostgresRestarts(t *testing.T) {
	t.Parallel()
	bin := buildSciflow(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pg := startOwnCluster(t, ctx)
	const requestTimeout = 2 * time.Second
	sys, server := openFaultSystem(t, ctx, pg.dsn, requestTimeout)
	server.Binary = bin
	srv, err := bench.StartServer(ctx, server)
	require.NoError(t, err)
	t.Cleanup(func() { srv.Stop() })

	const reviewers, clients, total = 1, 6, 600
	roster, err := bench.NewRoster(ctx, sys.accounts, 6, reviewers)
	require.NoError(t, err)
	signIn := bench.NewClient(1)
	defer signIn.Close()
	require.NoError(t, roster.SignIn(ctx, signIn, srv.URL))
	apps, err := roster.CreateApplications(ctx, sys.engine, total, 4)
	require.NoError(t, err)
	// Whatever the outage, an answer comes within the request timeout (and
	// the time to send it): a client still waiting after that has hung.
	client := newFaultClient(requestTimeout + 10*time.Second)

	// Timers at work when PostgreSQL goes away: the outage ends their
	// sessions, and with them the locks they wait for.
	before, _ := timersAtWork(t, ctx, sys, roster, client, srv.URL, 8)

	// Clients take the next application and submit it until it answers
	// 200, sending it again with its key after each 503, as a client that
	// follows Retry-After does; any other answer, or none, fails the test.
	// Each pauses between applications (a person's pace, and so that the
	// few hundred submissions span both outages).
	var next, acked, refused atomic.Int32
	// stop ends the load between applications; abort, on a failure, at once.
	var stop, abort atomic.Bool
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for !stop.Load() {
				i := int(next.Add(1) - 1)
				if i >= total {
					return
				}
				for !abort.Load() {
					a, err := client.fire(ctx, srv.URL, apps[i], bench.Event)
					if err != nil {
						if ctx.Err() == nil {
							t.Errorf("application %s: no answer: %v", apps[i].ID, err)
						}
						return
					}
					if a.status == http.StatusOK {
						acked.Add(1)
						break
					}
					if err := unavailable(a); err != nil {
						t.Errorf("application %s: %v", apps[i].ID, err)
						return
					}
					refused.Add(1)
					time.Sleep(50 * time.Millisecond)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	// A failure below stops the clients before the cluster goes.
	defer func() {
		abort.Store(true)
		wg.Wait()
	}()

	me := roster.Applicants[0]
	outage := func(mode string, after int32, hold time.Duration) {
		eventually(t, time.Minute, "submissions before the outage", func() bool { return acked.Load() >= after })
		refusedBefore := refused.Load()
		pg.stop(t, mode)
		down := time.Now()
		require.Equal(t, http.StatusServiceUnavailable, client.health(ctx, srv.URL))
		// Reading, writing and signing in: each a 503 of API.md's shape.
		a, err := client.do(ctx, http.MethodGet, srv.URL+"/api/v1/me", me.Token, "", nil)
		require.NoError(t, err)
		require.NoError(t, unavailable(a))
		a, err = client.do(ctx, http.MethodPost, srv.URL+"/api/v1/applications", me.Token, "",
			map[string]any{"workflow": bench.Workflow, "data": map[string]any{"title": "停机期间的申报"}})
		require.NoError(t, err)
		require.NoError(t, unavailable(a))
		a, err = client.do(ctx, http.MethodPost, srv.URL+"/api/v1/session", "", "",
			map[string]string{"username": me.User.Username, "password": me.Password})
		require.NoError(t, err)
		require.NoError(t, unavailable(a))
		// The load meets the outage too; it lasts hold, every health check
		// meanwhile a 503.
		eventually(t, time.Minute, "the load refused while PostgreSQL is down", func() bool {
			require.Equal(t, http.StatusServiceUnavailable, client.health(ctx, srv.URL))
			return refused.Load() >= refusedBefore+clients && time.Since(down) >= hold
		})
		ackedAtStart := acked.Load()
		up := time.Now()
		pg.start(t, ctx)
		ready := time.Since(up)
		healthy := eventually(t, time.Minute, "healthz 200 after the restart", func() bool {
			return client.health(ctx, srv.URL) == http.StatusOK
		})
		firing := eventually(t, time.Minute, "a submission answered 200 after the restart", func() bool {
			return acked.Load() > ackedAtStart
		})
		t.Logf("pg_ctl stop -m %s: down %.1f s, %d answers 503 meanwhile; PostgreSQL ready %.2f s after its start, "+
			"then healthz 200 within %.2f s and the first submission 200 within %.2f s", mode, up.Sub(down).Seconds(),
			refused.Load()-refusedBefore, ready.Seconds(), healthy.Seconds(), firing.Seconds())
	}
	// The first outage outlasts a whole round of river's attempts to record
	// how the jobs it was running ended (1, 2 and 4 s apart), after which
	// it keeps them to try again later.
	outage("fast", 150, 9*time.Second)
	outage("immediate", 300, time.Second)
	_, sealsAtRecovery := unsealed(t, ctx, sys)
	eventually(t, time.Minute, "the load after both outages", func() bool { return acked.Load() >= 400 })
	stop.Store(true)
	wg.Wait()

	// Timers set after the recovery fire.
	after := createTimed(t, ctx, sys, roster, 20, yesterday())
	for _, app := range after {
		a, err := client.fire(ctx, srv.URL, app, "submit")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	}
	timed := bench.IDs(append(before, after...))
	eventually(t, time.Minute, "every timer fired and its job done", func() bool { return timersSettled(t, ctx, sys, timed) })
	bad, err := bench.Misfired(ctx, sys.db, timed, "remind")
	require.NoError(t, err)
	require.Zero(t, bad, "applications whose timer did not fire exactly once")

	// The sealer seals again: everything written is under a seal newer
	// than the recovery.
	eventually(t, time.Minute, "the sealer catching up", func() bool {
		chains, seals := unsealed(t, ctx, sys)
		return chains == 0 && seals > sealsAtRecovery
	})
	require.NoError(t, srv.Stop(), "the server ends cleanly after the outages")

	sent := int(min(next.Load(), total))
	require.Equal(t, int32(sent), acked.Load(), "every application taken was acknowledged once")
	states := readStates(t, ctx, sys, bench.IDs(apps), bench.Event)
	for i, app := range apps {
		s := states[app.ID]
		if i < sent {
			require.True(t, s.submitted(reviewers), "acknowledged but not (wholly) in the database: %+v", s)
		} else {
			require.True(t, s.untouched(), "never sent, yet changed: %+v", s)
		}
	}
	checked := auditVerify(t, ctx, server)
	require.GreaterOrEqual(t, checked, total+sent)
	t.Logf("PostgreSQL restarted twice under load: %d submissions acknowledged (each once), %d answers 503 and retried, "+
		"%d timers fired once each; audit verify checked %d entries", acked.Load(), refused.Load(), len(timed), checked)
}

// Two servers on one database, each working the job queue, while
// submissions come through both and an operator runs `sciflow timers run`
// at the same time: every timer, due at once, fires exactly once (its
// event is a self-transition, so a second firing would be possible and
// would show as a second step), and the trail verifies.
func TestTwoServersFireEachTimerOnce(t *testing.T) {
	t.Parallel()
	bin := buildSciflow(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sys, server := openFaultSystem(t, ctx, dbtest.NewDSN(t), 10*time.Second)
	server.Binary = bin
	roster, err := bench.NewRoster(ctx, sys.accounts, 4, 1)
	require.NoError(t, err)

	// Half the timers are due before any server runs, so that both start
	// on a queue already full; the other half fall due as their
	// submissions arrive through the servers.
	const total = 300
	apps := createTimed(t, ctx, sys, roster, total, yesterday())
	queued, live := apps[:total/2], apps[total/2:]
	for _, app := range queued {
		_, err := sys.engine.Fire(ctx, &app.Owner.User, app.ID, engine.FireInput{Event: "submit"})
		require.NoError(t, err)
	}
	srvs := make([]*bench.Server, 2)
	var starting sync.WaitGroup
	for i := range srvs {
		starting.Go(func() {
			s, err := bench.StartServer(ctx, server)
			if err != nil {
				t.Error(err)
				return
			}
			srvs[i] = s
		})
	}
	starting.Wait()
	for _, s := range srvs {
		require.NotNil(t, s)
		t.Cleanup(func() { s.Stop() })
	}
	signIn := bench.NewClient(1)
	defer signIn.Close()
	require.NoError(t, roster.SignIn(ctx, signIn, srvs[0].URL))

	client := newFaultClient(time.Minute)
	var wg sync.WaitGroup
	const clients = 4
	for c := range clients {
		wg.Go(func() {
			for i := c; i < len(live); i += clients {
				a, err := client.fire(ctx, srvs[i%2].URL, live[i], "submit")
				if err != nil || a.status != http.StatusOK {
					t.Errorf("submit %s: %v %d %s", live[i].ID, err, a.status, a.body)
					return
				}
			}
		})
	}
	// Once the servers are at it, the operator's command races them for
	// the same timers.
	eventually(t, time.Minute, "the servers firing timers", func() bool {
		var n int
		require.NoError(t, sys.db.GetContext(ctx, &n,
			`SELECT count(*) FROM audit_log WHERE kind = 'transition' AND event = 'remind' AND application_id = ANY($1::uuid[])`,
			pq.Array(bench.IDs(apps))))
		return n > 0
	})
	var out, errOut bytes.Buffer
	wg.Go(func() {
		if err := run(ctx, []string{"timers", "run"}, func(k string) string { return server.Env[k] },
			strings.NewReader(""), &out, &errOut); err != nil {
			t.Errorf("timers run: %v: %s", err, errOut.String())
		}
	})
	wg.Wait()
	ids := bench.IDs(apps)
	eventually(t, time.Minute, "every timer fired and its job done", func() bool { return timersSettled(t, ctx, sys, ids) })
	for _, s := range srvs {
		require.NoError(t, s.Stop())
	}

	for _, event := range []string{"submit", "remind"} {
		bad, err := bench.Misfired(ctx, sys.db, ids, event)
		require.NoError(t, err)
		require.Zero(t, bad, "applications without exactly one %s in their history", event)
	}
	// Who fired them: the command prints its count; the rest were the
	// servers' jobs.
	m := regexp.MustCompile(`fired (\d+) timer`).FindStringSubmatch(out.String())
	require.NotNil(t, m, out.String())
	byCommand, _ := strconv.Atoi(m[1])
	// And which servers worked the timers' jobs (a job the command had
	// already fired is worked too, and fires nothing).
	var workers int
	require.NoError(t, sys.db.GetContext(ctx, &workers,
		`SELECT count(DISTINCT w) FROM river_job, unnest(attempted_by) AS w WHERE kind = 'timer'`))
	checked := auditVerify(t, ctx, server)
	require.GreaterOrEqual(t, checked, 3*total)
	t.Logf("two servers and timers run: %d timers due, %d fired by the queues of %d servers and %d by the command, "+
		"each once; audit verify checked %d entries", total, total-byCommand, workers, byCommand, checked)
}

// A request stuck behind a lock that a transaction holds (a stuck
// session, a long migration) answers 503 at the server's request timeout
// instead of hanging, and changes nothing; once the lock is gone the same
// request, with the same key, goes through once.
func TestARequestWaitingOnTheDatabaseEndsAtTheRequestTimeout(t *testing.T) {
	t.Parallel()
	bin := buildSciflow(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const requestTimeout = time.Second
	sys, server := openFaultSystem(t, ctx, dbtest.NewDSN(t), requestTimeout)
	server.Binary = bin
	srv, err := bench.StartServer(ctx, server)
	require.NoError(t, err)
	t.Cleanup(func() { srv.Stop() })
	roster, err := bench.NewRoster(ctx, sys.accounts, 2, 1)
	require.NoError(t, err)
	signIn := bench.NewClient(1)
	defer signIn.Close()
	require.NoError(t, roster.SignIn(ctx, signIn, srv.URL))
	apps, err := roster.CreateApplications(ctx, sys.engine, 3, 1)
	require.NoError(t, err)

	holder, err := sys.db.BeginTxx(ctx, nil)
	require.NoError(t, err)
	defer holder.Rollback()
	_, err = holder.ExecContext(ctx, `SELECT id FROM applications WHERE id = ANY($1::uuid[]) FOR UPDATE`, pq.Array(bench.IDs(apps)))
	require.NoError(t, err)
	// The client would wait a minute; the server answers at its timeout.
	client := newFaultClient(requestTimeout + 10*time.Second)
	for _, app := range apps {
		a, err := client.fire(ctx, srv.URL, app, bench.Event)
		require.NoError(t, err, "no answer within the request timeout and 10 s")
		require.NoError(t, unavailable(a))
	}
	// Meanwhile nothing else waits: the server answers other requests.
	require.Equal(t, http.StatusOK, client.health(ctx, srv.URL))
	states := readStates(t, ctx, sys, bench.IDs(apps), bench.Event)
	for _, app := range apps {
		require.True(t, states[app.ID].untouched(), "%+v", states[app.ID])
	}

	require.NoError(t, holder.Rollback())
	client.fireEach(t, ctx, srv.URL, apps)
	require.NoError(t, srv.Stop())
	requireSubmitted(t, ctx, sys, apps, 1)
	require.GreaterOrEqual(t, auditVerify(t, ctx, server), 2*len(apps))
}
