package main

import (
	"context"
	"errors"
	"fmt"
	"net"
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
	ui, err := webui.New(webui.Deps{DB: b.db, Engine: sys.engine, Auth: sys.auth, Accounts: sys.accounts,
		Sessions: sessions, Notify: sys.notify, Chain: sys.chain, MaxUpload: cfg.MaxUpload})
	if err != nil {
		return err
	}
	if *demoData {
		if err := seedDemo(ctx, e, sys, cfg); err != nil {
			return err
		}
	}

	srv := httpapi.New(httpapi.Deps{DB: b.db, Log: log, Engine: sys.engine, Auth: sys.auth, Chain: sys.chain,
		Accounts: sys.accounts, Sessions: sessions, Calendar: sys.calendar, Notify: sys.notify, PublicURL: cfg.PublicURL,
		MaxUpload: cfg.MaxUpload, Pages: func(ec *echo.Echo) { ui.Mount(ec) }})
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
	// Another server process, or the console, may change the overrides;
	// rereading them every minute bounds how long this one counts without.
	watchCtx, stopWatching := context.WithCancel(ctx)
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		sys.calendar.Watch(watchCtx, calendar.RefreshInterval, log)
	}()
	// Stopped before the database closes, so no refresh runs against it.
	defer func() {
		stopWatching()
		<-watching
	}()
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
