package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/auth"
	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/config"
	"github.com/sciflow/sciflow/internal/httpapi"
	"github.com/sciflow/sciflow/internal/queue"
	"github.com/sciflow/sciflow/internal/webui"
)

func serve(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "serve")
	demoData := fs.Bool("demo", false, "seed the demo county (organisations, users and the programmes under way) on first start and print the logins")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(e.getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, e.stderr)

	// Take the address before starting anything else, so a busy port fails
	// fast without a database started for nothing.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("cannot listen on %s: the address is already in use (set SCIFLOW_ADDR)", cfg.Addr)
		}
		return fmt.Errorf("cannot listen on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()
	if err := cfg.EnsureSecret(); err != nil {
		return err
	}
	log.Info("starting sciflow", "config", cfg)

	sys, err := openSystem(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer sys.close()
	b := sys.backend
	sessions := auth.NewSessions(b.db, strings.HasPrefix(cfg.PublicURL, "https://"))
	defer sessions.Close()
	if *demoData {
		if err := seedDemo(ctx, e, sys, cfg); err != nil {
			return err
		}
	}
	srv, err := newServer(sys, cfg, sessions, log)
	if err != nil {
		return err
	}
	// Timers, notifications, e-mail and reminders are worked inside the
	// server; stopped (letting running jobs finish) before the database
	// closes.
	jobs, err := queue.Start(ctx, queue.Deps{DB: b.db, Engine: sys.engine, Notify: sys.notify, Log: log,
		RemindEvery: cfg.RemindEvery})
	if err != nil {
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := jobs.Stop(stopCtx); err != nil {
			log.Warn("job queue stopped with jobs still running", "err", err)
		}
	}()
	// The server's periodic work, stopped before the database closes so
	// that no round runs against it.
	rounds := queue.NewRounds(ctx, log)
	defer rounds.Stop()
	// Another server process, or the console, may change the overrides;
	// rereading them every minute bounds how long this one counts without.
	rounds.Every(calendar.RefreshInterval, "calendar overrides not refreshed; the last ones loaded stay in effect",
		sys.calendar.Refresh)
	// A timer whose job a server was working when it died stays claimed by
	// that server until river's rescuer frees it: fire what is due now, so
	// that a restart after a crash does not leave such timers waiting. Each
	// fires once whoever gets to it first (its row is locked and marked done
	// as it fires), and anything left is the jobs' to do.
	rounds.Go(func(ctx context.Context) {
		n, err := sys.engine.RunTimers(ctx, time.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("firing the timers due at start failed; their jobs will fire them", "err", err)
		case n > 0:
			log.Info("fired the timers due at start", "count", n)
		}
	})
	// Every server offers to seal the audit chains; one at a time does (an
	// advisory lock). Two sealers racing past the lock collide on the
	// seal's number: harmless, the next round seals.
	rounds.Every(cfg.SealEvery, "sealing the audit chains failed; retrying", func(ctx context.Context) error {
		_, err := sys.chain.Seal(ctx, b.db)
		return err
	})
	// Every server offers to count the plan indicators; one per period does.
	if cfg.PlanMaxAge > 0 {
		rounds.Every(cfg.PlanMaxAge/2, "computing the plan indicators failed; retrying", sys.engine.RefreshPlan)
	}
	if cfg.PprofAddr != "" {
		stopProfiler, err := serveProfiler(cfg.PprofAddr, log)
		if err != nil {
			return err
		}
		defer stopProfiler()
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(e.stdout, "sciflow is serving on http://%s\n", ln.Addr())

	var clusterExited <-chan struct{}
	if b.cluster != nil {
		clusterExited = b.cluster.Exited()
	}
	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-served:
		runErr = fmt.Errorf("HTTP server stopped: %w", err)
	case <-clusterExited:
		runErr = errors.New("the embedded PostgreSQL stopped unexpectedly (see postgres.log in the data dir)")
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("shutdown: requests still running were cut off", "err", err)
	}
	return runErr
}

// serveProfiler serves Go's profiler on a loopback address (the
// configuration refuses any other), for the operator measuring the server on
// its own machine; never on the public listener.
func serveProfiler(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s for the profiler (SCIFLOW_PPROF_ADDR): %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("the profiler stopped", "err", err)
		}
	}()
	log.Info("profiler listening", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}

// newServer wires the HTTP server on an open system: the API and the pages
// behind one set of middleware. serve runs it; the CSRF sweep reads its
// routes, so a route added here is swept too.
func newServer(sys *system, cfg config.Config, sessions *auth.Sessions, log *slog.Logger) (*httpapi.Server, error) {
	ui, err := webui.New(webui.Deps{DB: sys.db, Engine: sys.engine, Auth: sys.auth, Accounts: sys.accounts,
		Sessions: sessions, Notify: sys.notify, Chain: sys.chain, MaxUpload: cfg.MaxUpload})
	if err != nil {
		return nil, err
	}
	return httpapi.New(httpapi.Deps{DB: sys.db, Log: log, Engine: sys.engine, Auth: sys.auth, Chain: sys.chain,
		Accounts: sys.accounts, Sessions: sessions, Calendar: sys.calendar, Notify: sys.notify, PublicURL: cfg.PublicURL,
		MaxUpload: cfg.MaxUpload, RequestTimeout: cfg.RequestTimeout, Pages: func(ec *echo.Echo) { ui.Mount(ec) }}), nil
}
