package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
)

// Tx is one database transaction; the service method that begins it commits
// it, and defers Rollback so that every early return undoes its work.
type Tx struct {
	*sqlx.Tx
	db     *DB
	jobs   *river.Client[*sql.Tx]
	public *atomic.Pointer[[]string]
	// audit holds the chain heads this transaction has read under lock and
	// the entries it has appended but not yet written (see StageAudit).
	audit auditBatch
	// timersEnded is the application whose timers the last move in this
	// transaction ended (UpdateApplication), so that entering a state
	// without a timer need not end them again.
	timersEnded string
	// registration is what the lock statement read of the locking
	// applicant's registration (UnverifiedRegistration), when it did.
	registration *registrationRead
}

// Begin starts a transaction.
func (db *DB) Begin(ctx context.Context) (*Tx, error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	return &Tx{Tx: tx, db: db, jobs: db.jobs, public: db.public}, nil
}

// Snapshot starts a read-only transaction that sees one consistent state of
// the database throughout, for checks that read several tables.
func (db *DB) Snapshot(ctx context.Context) (*Tx, error) {
	tx, err := db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("begin snapshot: %w", err)
	}
	return &Tx{Tx: tx, db: db, jobs: db.jobs, public: db.public}, nil
}

// Commit writes the audit entries the transaction appended, then ends it,
// keeping its work.
func (tx *Tx) Commit() error {
	if err := tx.flushAudit(); err != nil {
		return err
	}
	if err := tx.Tx.Commit(); err != nil {
		return mapError("commit", err)
	}
	return nil
}

// Rollback undoes the transaction; after Commit it does nothing.
func (tx *Tx) Rollback() { _ = tx.Tx.Rollback() }

// LockKey serialises transactions that share key until they end, for work
// that has no row to lock yet (an idempotency key being used for the first
// time, say).
func (tx *Tx) LockKey(ctx context.Context, key string) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, key); err != nil {
		return mapError("advisory lock", err)
	}
	return nil
}
