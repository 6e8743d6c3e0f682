package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// PlanSnapshot is the plan indicators as last computed (migration 012).
type PlanSnapshot struct {
	// Fingerprint names the indicators, as declared, the values answer.
	Fingerprint string
	AsOf        time.Time
	Took        time.Duration
	// Indicators holds each indicator's values by breakdown key.
	Indicators map[string]map[string]float64
}

const selectPlanSnapshot = `SELECT fingerprint, as_of, took_ms, indicators FROM plan_snapshot`

// PlanSnapshot reads the stored snapshot; ok is false when none was stored.
func (db *DB) PlanSnapshot(ctx context.Context) (s PlanSnapshot, ok bool, err error) {
	return scanPlanSnapshot(db.QueryRowxContext(ctx, selectPlanSnapshot))
}

// BeginPlanRefresh starts the transaction that computes the indicators
// again. It first waits for any other transaction computing them, so that a
// province's servers and leaders do not all read every application at
// once, then reads the snapshot as it stands: the caller that waited may
// find it fresh and serve it.
func (db *DB) BeginPlanRefresh(ctx context.Context) (tx *Tx, s PlanSnapshot, ok bool, err error) {
	tx, err = db.Begin(ctx)
	if err != nil {
		return nil, s, false, err
	}
	if err := tx.LockKey(ctx, "plan snapshot"); err != nil {
		tx.Rollback()
		return nil, s, false, err
	}
	s, ok, err = scanPlanSnapshot(tx.QueryRowxContext(ctx, selectPlanSnapshot))
	if err != nil {
		tx.Rollback()
		return nil, s, false, err
	}
	return tx, s, ok, nil
}

func scanPlanSnapshot(row interface{ Scan(...any) error }) (s PlanSnapshot, ok bool, err error) {
	var tookMS int64
	var raw []byte
	switch err := row.Scan(&s.Fingerprint, &s.AsOf, &tookMS, &raw); {
	case errors.Is(err, sql.ErrNoRows):
		return PlanSnapshot{}, false, nil
	case err != nil:
		return PlanSnapshot{}, false, mapError("read plan snapshot", err)
	}
	s.Took = time.Duration(tookMS) * time.Millisecond
	if err := json.Unmarshal(raw, &s.Indicators); err != nil {
		return PlanSnapshot{}, false, fmt.Errorf("decode plan snapshot: %w", err)
	}
	return s, true, nil
}

// StorePlanSnapshot replaces the stored snapshot with s.
func (tx *Tx) StorePlanSnapshot(ctx context.Context, s PlanSnapshot) error {
	raw, err := json.Marshal(s.Indicators)
	if err != nil {
		return fmt.Errorf("encode plan snapshot: %w", err)
	}
	const q = `
INSERT INTO plan_snapshot (fingerprint, as_of, took_ms, indicators) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint, as_of = excluded.as_of,
    took_ms = excluded.took_ms, indicators = excluded.indicators`
	if _, err := tx.ExecContext(ctx, q, s.Fingerprint, s.AsOf, s.Took.Milliseconds(), string(raw)); err != nil {
		return mapError("store plan snapshot", err)
	}
	return nil
}
