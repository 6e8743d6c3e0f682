package main

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/sciflow/sciflow/internal/account"
	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/auth"
	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/config"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/mail"
	"github.com/sciflow/sciflow/internal/notify"
	"github.com/sciflow/sciflow/internal/workflow"
	"github.com/sciflow/sciflow/workflows"
)

// system is everything a command that runs workflows needs, assembled once.
type system struct {
	*backend
	chain    *audit.Chain
	engine   *engine.Engine
	auth     *auth.Service
	accounts *account.Service
	// calendar is the working-day calendar the engine counts on, loaded
	// with the county's overrides.
	calendar *calendar.Service
	// notify makes notifications and e-mails them when SMTP is configured.
	notify *notify.Service
}

// openSystem checks the workflow definitions, opens the database and stores
// the definitions' versions.
func openSystem(ctx context.Context, cfg config.Config, log *slog.Logger) (*system, error) {
	if err := cfg.EnsureSecret(); err != nil {
		return nil, err
	}
	defs, err := loadWorkflows(cfg)
	if err != nil {
		return nil, err
	}
	b, err := openBackend(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	s := &system{backend: b, chain: audit.New(cfg.Secret)}
	// Every command that computes deadlines (serve, timers run) must count
	// the county's overrides, so they are loaded before anything runs.
	s.calendar = calendar.NewService(b.db, s.chain, calendar.New())
	if err := s.calendar.Refresh(ctx); err != nil {
		b.close()
		return nil, err
	}
	s.engine = engine.New(b.db, s.chain, s.calendar.Calendar, log)
	s.engine.RetentionYears = cfg.RetentionYears
	s.engine.PlanMaxAge = cfg.PlanMaxAge
	if err := s.engine.Sync(ctx, defs); err != nil {
		b.close()
		return nil, err
	}
	if s.auth, err = auth.NewService(b.db, s.chain, cfg.Secret); err != nil {
		b.close()
		return nil, err
	}
	s.accounts = account.New(b.db, s.chain, s.engine, cfg.Secret)
	sender, err := mail.New(cfg.SMTP)
	if err != nil {
		b.close()
		return nil, err
	}
	s.notify = notify.New(b.db, s.engine, s.calendar.Calendar, sender, log)
	s.notify.PublicURL = cfg.PublicURL
	// Self-registered accounts submit nothing until verified.
	s.engine.SubmitGate = s.accounts.SubmitGate
	return s, nil
}

// withSystem runs a one-shot command's work on an open system, closing it
// (and any cluster this command started) afterwards.
func withSystem(ctx context.Context, e *env, fn func(*system, config.Config) error) error {
	cfg, log, err := commandSetup(e)
	if err != nil {
		return err
	}
	sys, err := openSystem(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer sys.close()
	return fn(sys, cfg)
}

// workflowFS is the configured definitions directory, or the built-in set.
func workflowFS(cfg config.Config) fs.FS {
	if cfg.WorkflowsDir != "" {
		return os.DirFS(cfg.WorkflowsDir)
	}
	return workflows.FS
}

func loadWorkflows(cfg config.Config) ([]*workflow.Definition, error) {
	defs, err := workflow.LoadDir(workflowFS(cfg))
	if err != nil {
		return nil, fmt.Errorf("the workflow definitions have problems (details: sciflow workflows check):\n%w", err)
	}
	return defs, nil
}
