package postgres

import (
	"context"
	"database/sql"
	"time"

	"github.com/jmoiron/sqlx"
)

// The hot path's statements run prepared: parsed and planned once per
// connection, not on every call. Unprepared, parsing and planning were
// about two thirds of a transition's time in the server (docs/BENCHMARKS.md).
// The set of such statements is small and fixed by the code (a scope's
// shape, a count of audit entries), so they are kept for the life of the
// pool.

// prepareWait bounds how long a statement's first use waits for a free
// connection to prepare it on: the caller holds one already, and when every
// connection is held by a transaction doing the same, waiting longer would
// wait for ever. It then runs unprepared this once.
const prepareWait = 50 * time.Millisecond

// stmt is q prepared, or nil to run it as is.
func (db *DB) stmt(ctx context.Context, q string) *sqlx.Stmt {
	if s, ok := db.stmts.Load(q); ok {
		return s.(*sqlx.Stmt)
	}
	prepCtx, cancel := context.WithTimeout(ctx, prepareWait)
	p, err := db.PreparexContext(prepCtx, q)
	cancel()
	if err != nil {
		return nil
	}
	if s, ok := db.stmts.LoadOrStore(q, p); ok {
		p.Close() // prepared meanwhile by another caller
		return s.(*sqlx.Stmt)
	}
	return p
}

// stmt is q prepared and bound to the transaction, or nil to run it as is.
func (tx *Tx) stmt(ctx context.Context, q string) *sqlx.Stmt {
	if s := tx.db.stmt(ctx, q); s != nil {
		return tx.StmtxContext(ctx, s)
	}
	return nil
}

// getPrepared is GetContext with q prepared, outside a transaction: for the
// reads every request makes (the caller's token).
func (db *DB) getPrepared(ctx context.Context, dest any, q string, args ...any) error {
	if s := db.stmt(ctx, q); s != nil {
		return s.GetContext(ctx, dest, args...)
	}
	return db.GetContext(ctx, dest, q, args...)
}

// getPrepared is GetContext with q prepared.
func (tx *Tx) getPrepared(ctx context.Context, dest any, q string, args ...any) error {
	if s := tx.stmt(ctx, q); s != nil {
		return s.GetContext(ctx, dest, args...)
	}
	return tx.GetContext(ctx, dest, q, args...)
}

// selectPrepared is SelectContext with q prepared.
func (tx *Tx) selectPrepared(ctx context.Context, dest any, q string, args ...any) error {
	if s := tx.stmt(ctx, q); s != nil {
		return s.SelectContext(ctx, dest, args...)
	}
	return tx.SelectContext(ctx, dest, q, args...)
}

// execPrepared is ExecContext with q prepared.
func (tx *Tx) execPrepared(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if s := tx.stmt(ctx, q); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, q, args...)
}
