// Package bench measures sciflow's transition throughput side by side with
// the least a transition is in raw SQL and with the engine's own statements
// run without the engine (floor.go): `sciflow bench` (docs/BENCHMARKS.md,
// "Transitions: sciflow bench"). It makes its own people and applications
// in an empty database, fires one submission on each application, in
// process and through real server processes over HTTP, and checks
// afterwards that every application took it exactly once and that the
// audit chain still verifies.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"time"

	"github.com/sciflow/sciflow/internal/account"
	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/postgres"
)

// Settings say what to measure.
type Settings struct {
	// Apps is how many transitions each (mode, clients) run times, each on
	// an application of its own created for that run.
	Apps int `json:"apps"`
	// Clients are the numbers of concurrent clients to run each mode with.
	Clients []int `json:"clients"`
	// Servers are the numbers of server processes the scale-out runs use.
	Servers []int `json:"servers"`
	// ScaleoutClients is the clients of every scale-out run, spread over
	// the servers in turn.
	ScaleoutClients int `json:"scaleout_clients"`
	// Applicants is how many applicants the applications are spread over.
	Applicants int `json:"applicants"`
	// Reviewers is how many staff each submission opens a task for; Run
	// fills it in.
	Reviewers int `json:"reviewers"`
}

// reviewers is the staff of the bench's bureau: the tasks one submission
// opens, a panel the size of a county bureau's 或签 stage.
const reviewers = 3

// creators is how many applications are created at once before a run.
const creators = 8

// Deps is the system under test, assembled the way the server assembles
// it, and how to start its servers.
type Deps struct {
	// DB is the engine's pool; the baseline runs on it too, so that both
	// have the same pool settings.
	DB       *postgres.DB
	Engine   *engine.Engine
	Accounts *account.Service
	Chain    *audit.Chain
	// OwnerDSN reaches the database as its owner, who may create the
	// baseline's table.
	OwnerDSN string
	// Embedded says the database is a cluster the bench started.
	Embedded bool
	// Server starts `sciflow serve` on the same database and secret.
	Server ServerConfig
	// Progress receives a line per step, for the person waiting.
	Progress io.Writer
}

// bench is one run of Run: what it was given and the people it made.
type bench struct {
	d      Deps
	s      Settings
	roster *Roster
	start  time.Time
	// owner reaches the database as its owner; floor is the floor's pool
	// (floor.go).
	owner, floor *postgres.DB
}

// Run creates the people, then measures every mode at every number of
// clients, then the scale-out, then verifies the audit chain. A failed
// check is in the report (Report.Correct), not an error: the figures are
// still worth reading.
func Run(ctx context.Context, d Deps, s Settings) (*Report, error) {
	s.Reviewers = reviewers
	b := &bench{d: d, s: s, start: time.Now()}
	m, err := machineWithDatabase(ctx, d.DB, d.Embedded)
	if err != nil {
		return nil, err
	}
	rep := &Report{Machine: m, Settings: s}
	facts := m.Database
	if facts.Fsync != "on" || facts.SynchronousCommit != "on" {
		b.say("warning: fsync=%s synchronous_commit=%s: commits cost less than they do in production", facts.Fsync, facts.SynchronousCommit)
	}
	if err := createHistoryTable(ctx, d.OwnerDSN); err != nil {
		return nil, err
	}
	if b.owner, err = postgres.Open(ctx, d.OwnerDSN); err != nil {
		return nil, err
	}
	defer b.owner.Close()
	if err := createFloorSchema(ctx, b.owner); err != nil {
		return nil, err
	}
	if b.floor, err = openFloor(ctx, d.OwnerDSN, d.DB); err != nil {
		return nil, err
	}
	defer b.floor.Close()
	b.say("creating %d applicants and %d reviewers", s.Applicants, reviewers)
	if b.roster, err = NewRoster(ctx, d.Accounts, s.Applicants, reviewers); err != nil {
		return nil, err
	}
	if err := b.signIn(ctx); err != nil {
		return nil, err
	}
	for _, c := range s.Clients {
		for _, mode := range []func(context.Context, int) (Result, error){b.baseline, b.floorRun, b.inProcess, b.overHTTP} {
			res, err := mode(ctx, c)
			if err != nil {
				return nil, err
			}
			rep.Runs = append(rep.Runs, res)
		}
	}
	for _, n := range s.Servers {
		res, err := b.scaleout(ctx, s.ScaleoutClients, n)
		if err != nil {
			return nil, err
		}
		rep.Runs = append(rep.Runs, res)
	}
	rep.summarise()
	b.say("verifying the audit chain")
	v, err := d.Chain.Verify(ctx, d.DB)
	if err != nil {
		return nil, fmt.Errorf("verify the audit chain: %w", err)
	}
	rep.Audit = Audit{Verified: v.OK, Checked: v.Checked, Problems: []string{}}
	for i, p := range v.Problems {
		if i == 10 {
			rep.Audit.Problems = append(rep.Audit.Problems, fmt.Sprintf("and %d more", len(v.Problems)-i))
			break
		}
		rep.Audit.Problems = append(rep.Audit.Problems, fmt.Sprintf("%+v", p))
	}
	return rep, nil
}

// say reports a step, with the time since the start.
func (b *bench) say(format string, args ...any) {
	fmt.Fprintf(b.d.Progress, "bench %6.1fs: "+format+"\n", append([]any{time.Since(b.start).Seconds()}, args...)...)
}

// signIn gets the applicants their tokens from a server of its own, so that
// no timed server pays for the password hashing (argon2id, 64 MiB each) in
// its time or its peak memory.
func (b *bench) signIn(ctx context.Context) error {
	b.say("signing %d applicants in over HTTP", len(b.roster.Applicants))
	srv, err := StartServer(ctx, b.d.Server)
	if err != nil {
		return err
	}
	c := NewClient(1)
	defer c.Close()
	err = b.roster.SignIn(ctx, c, srv.URL)
	return errors.Join(err, srv.Stop())
}

// warmup is how many transitions each run makes untimed first: enough for
// every client to have its connection and the caches to be filled.
func (b *bench) warmup(clients int) int { return max(2*clients, b.s.Apps/20) }

// applications creates a run's own applications: the warm-up's, then the
// timed ones.
func (b *bench) applications(ctx context.Context, label string, clients int) ([]Application, int, error) {
	warm := b.warmup(clients)
	b.say("%s: creating %d applications", label, warm+b.s.Apps)
	apps, err := b.roster.CreateApplications(ctx, b.d.Engine, warm+b.s.Apps, creators)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", label, err)
	}
	return apps, warm, nil
}

// fireFunc fires the event on app as client number client.
type fireFunc func(ctx context.Context, client int, app Application) error

// measure warms up on the first warm applications, then times the rest.
func (b *bench) measure(ctx context.Context, label string, apps []Application, warm, clients int, fire fireFunc) (run, error) {
	if _, err := drive(ctx, warm, clients, func(ctx context.Context, c, i int) error { return fire(ctx, c, apps[i]) }); err != nil {
		return run{}, fmt.Errorf("%s: warm-up: %w", label, err)
	}
	timed := apps[warm:]
	// Start from a collected heap, so a collection owed to the set-up does
	// not land in the timed run.
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r, err := drive(ctx, len(timed), clients, func(ctx context.Context, c, i int) error { return fire(ctx, c, timed[i]) })
	runtime.ReadMemStats(&after)
	if err != nil {
		return run{}, fmt.Errorf("%s: %w", label, err)
	}
	r.mallocs = after.Mallocs - before.Mallocs
	b.say("%s: %d transitions in %.1f s, %.0f/s", label, len(timed), r.elapsed.Seconds(), r.tps())
	return r, nil
}

// baseline times the raw-SQL transition.
func (b *bench) baseline(ctx context.Context, clients int) (Result, error) {
	return b.inThisProcess(ctx, ModeRaw, clients, func(ctx context.Context, _ int, app Application) error {
		return baselineTransition(ctx, b.d.DB, app)
	})
}

// floorRun times the engine's statements without the engine (floor.go).
func (b *bench) floorRun(ctx context.Context, clients int) (Result, error) {
	return b.inThisProcess(ctx, ModeFloor, clients, func(ctx context.Context, _ int, app Application) error {
		return floorTransition(ctx, b.floor, b.d.Chain, app)
	})
}

// inProcess times (*engine.Engine).Fire called in this process.
func (b *bench) inProcess(ctx context.Context, clients int) (Result, error) {
	return b.inThisProcess(ctx, ModeEngine, clients, func(ctx context.Context, _ int, app Application) error {
		if _, err := b.d.Engine.Fire(ctx, &app.Owner.User, app.ID, engine.FireInput{Event: Event}); err != nil {
			return fmt.Errorf("fire %s on %s: %w", Event, app.ID, err)
		}
		return nil
	})
}

func (b *bench) inThisProcess(ctx context.Context, mode string, clients int, fire fireFunc) (Result, error) {
	label := fmt.Sprintf("%s, clients=%d", mode, clients)
	apps, warm, err := b.applications(ctx, label, clients)
	if err != nil {
		return Result{}, err
	}
	if mode == ModeFloor {
		if err := copyToFloor(ctx, b.owner, IDs(apps)); err != nil {
			return Result{}, fmt.Errorf("%s: %w", label, err)
		}
	}
	r, err := b.measure(ctx, label, apps, warm, clients, fire)
	if err != nil {
		return Result{}, err
	}
	res := r.result(mode, SeriesClients, clients, 0, warm)
	if mode == ModeEngine {
		allocs := round(float64(r.mallocs)/float64(len(r.latencies)), 0)
		res.AllocsPerOp = &allocs
	}
	return b.checkFired(ctx, label, res, apps)
}

// overHTTP times the event posted to one server process.
func (b *bench) overHTTP(ctx context.Context, clients int) (Result, error) {
	return b.servers(ctx, SeriesClients, clients, 1)
}

// scaleout times the event posted to several server processes on the one
// database, the clients spread over them in turn.
func (b *bench) scaleout(ctx context.Context, clients, servers int) (Result, error) {
	return b.servers(ctx, SeriesScaleout, clients, servers)
}

func (b *bench) servers(ctx context.Context, series string, clients, servers int) (Result, error) {
	label := fmt.Sprintf("http (%s), clients=%d, servers=%d", series, clients, servers)
	apps, warm, err := b.applications(ctx, label, clients)
	if err != nil {
		return Result{}, err
	}
	var srvs []*Server
	// On the way out after a failure; the normal way checks how they ended.
	defer func() {
		for _, s := range srvs {
			s.Stop()
		}
	}()
	for range servers {
		s, err := StartServer(ctx, b.d.Server)
		if err != nil {
			return Result{}, fmt.Errorf("%s: %w", label, err)
		}
		srvs = append(srvs, s)
	}
	if err := waitForJobs(ctx, b.d.DB, func(format string, args ...any) { b.say(label+": "+format, args...) }); err != nil {
		return Result{}, fmt.Errorf("%s: %w", label, err)
	}
	c := NewClient(clients)
	defer c.Close()
	r, err := b.measure(ctx, label, apps, warm, clients, func(ctx context.Context, client int, app Application) error {
		status, body, err := c.Fire(ctx, srvs[client%len(srvs)].URL, app.Owner.Token, app.ID, Event)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("fire %s on %s: %d %s", Event, app.ID, status, snippet(body))
		}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	var peak int64
	var stopped error
	for _, s := range srvs {
		rss, err := s.PeakRSS()
		if err != nil {
			return Result{}, err
		}
		peak = max(peak, rss)
		stopped = errors.Join(stopped, s.Stop())
	}
	if stopped != nil {
		return Result{}, fmt.Errorf("%s: %w", label, stopped)
	}
	res := r.result(ModeHTTP, series, clients, servers, warm)
	mib := round(float64(peak)/(1<<20), 1)
	res.ServerPeakRSSMiB = &mib
	return b.checkFired(ctx, label, res, apps)
}

// checkFired records whether every application of the run took the event
// exactly once: one step in its history, for the baseline one row of its
// own history and one version more, for the floor one step in its copy.
func (b *bench) checkFired(ctx context.Context, label string, res Result, apps []Application) (Result, error) {
	var bad int
	var err error
	switch res.Mode {
	case ModeRaw:
		bad, err = baselineMisfired(ctx, b.d.DB, IDs(apps))
	case ModeFloor:
		bad, err = floorMisfired(ctx, b.owner, IDs(apps))
	default:
		bad, err = Misfired(ctx, b.d.DB, IDs(apps), Event)
	}
	if err != nil {
		return Result{}, err
	}
	res.ExactlyOnce = b.once(label, bad)
	return res, nil
}

func (b *bench) once(label string, bad int) bool {
	if bad > 0 {
		b.say("%s: FAILED: %d applications did not take %q exactly once", label, bad, Event)
	}
	return bad == 0
}
