package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/sciflow/sciflow/internal/config"
	"github.com/sciflow/sciflow/internal/pgcluster"
	"github.com/sciflow/sciflow/internal/postgres"
)

// embeddedDBName is the database sciflow keeps in its own cluster.
const embeddedDBName = "sciflow"

// backend is an open, migrated database and, in embedded mode, the cluster
// under it.
type backend struct {
	db      *postgres.DB
	cluster *pgcluster.Cluster // nil with DATABASE_URL
}

// openBackend finds the database the way every command does: DATABASE_URL,
// else the data dir's own cluster (started now, or shared with the sciflow
// already running on it); brings the schema up to date as the connecting
// user; then reconnects as the unprivileged application role.
func openBackend(ctx context.Context, cfg config.Config, log *slog.Logger) (*backend, error) {
	b := &backend{}
	dsn := cfg.DatabaseURL
	if cfg.Embedded() {
		c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: cfg.DataDir, Logger: log})
		if err != nil {
			return nil, err
		}
		b.cluster = c
		if err := c.EnsureDatabase(ctx, embeddedDBName); err != nil {
			b.close()
			return nil, err
		}
		dsn = c.DSN(embeddedDBName)
	}
	appDSN, err := migrateAndPickRole(ctx, cfg, dsn, b.cluster, log)
	if err != nil {
		b.close()
		return nil, err
	}
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	db, err := postgres.Open(openCtx, appDSN)
	if err != nil {
		b.close()
		return nil, err
	}
	b.db = db
	return b, nil
}

// migrateAndPickRole migrates with the configured credentials and returns
// the connection string the rest of the run uses: as sciflow_app, which
// cannot drop or rewrite the audit trail, whenever that role is available.
func migrateAndPickRole(ctx context.Context, cfg config.Config, dsn string, cluster *pgcluster.Cluster, log *slog.Logger) (string, error) {
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	owner, err := postgres.Open(openCtx, dsn)
	if err != nil {
		return "", err
	}
	defer owner.Close()
	if err := postgres.Migrate(ctx, owner, log); err != nil {
		return "", err
	}
	usable, err := owner.AppRoleUsable(ctx)
	if err != nil {
		return "", err
	}
	switch {
	case cluster != nil:
		// Our own cluster: log in as the role itself, so there is no
		// stronger role to switch back to.
		if err := owner.EnableAppLogin(ctx); err != nil {
			return "", err
		}
		return cluster.DSNAs(postgres.AppRole, embeddedDBName), nil
	case usable:
		return postgres.WithParam(dsn, "role", postgres.AppRole)
	default:
		log.Warn("role sciflow_app is not available: running as the DATABASE_URL user; only triggers protect the audit log")
		return dsn, nil
	}
}

// close releases the database, then stops the cluster if this process owns it.
func (b *backend) close() {
	if b.db != nil {
		b.db.Close()
	}
	if b.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = b.cluster.Stop(ctx)
	}
}

// newLogger builds the process's logger from the configuration.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// commandSetup loads the configuration for a one-shot command, whose own
// output matters more than routine log lines.
func commandSetup(e *env) (config.Config, *slog.Logger, error) {
	cfg, err := config.Load(e.getenv)
	if err != nil {
		return cfg, nil, err
	}
	quiet := cfg
	quiet.LogLevel = max(cfg.LogLevel, slog.LevelWarn)
	return cfg, newLogger(quiet, e.stderr), nil
}

func migrate(ctx context.Context, e *env, args []string) error {
	if err := parse(flags(e, "migrate"), args); err != nil {
		return err
	}
	cfg, log, err := commandSetup(e)
	if err != nil {
		return err
	}
	b, err := openBackend(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer b.close()
	v, err := b.db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "schema at version %d\n", v)
	return nil
}
