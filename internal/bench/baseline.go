package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/sciflow/sciflow/internal/postgres"
)

// The baseline is the least a transition can be in PostgreSQL, issued
// directly: lock the application, update it, insert a history row, commit.
// Its history goes to a table of its own, bench_history, not the audit log:
// it measures the database's floor, not sciflow's chain.

// createHistoryTable makes the baseline's history table, as the owner of
// the database (the engine's role may not create tables), and lets the
// engine's role use it, since the baseline runs on the engine's pool.
func createHistoryTable(ctx context.Context, ownerDSN string) error {
	db, err := postgres.Open(ctx, ownerDSN)
	if err != nil {
		return err
	}
	defer db.Close()
	// The unique key is the one the audit log has on an application's
	// steps, so the baseline pays for the same index.
	const q = `
CREATE TABLE bench_history (
    application_id uuid NOT NULL,
    seq            integer NOT NULL,
    content        jsonb NOT NULL,
    at             timestamptz NOT NULL,
    PRIMARY KEY (application_id, seq)
)`
	if _, err := db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("create bench_history: %w", err)
	}
	const grant = `
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '` + postgres.AppRole + `') THEN
        GRANT SELECT, INSERT ON bench_history TO ` + postgres.AppRole + `;
    END IF;
END
$$`
	if _, err := db.ExecContext(ctx, grant); err != nil {
		return fmt.Errorf("grant bench_history: %w", err)
	}
	return nil
}

// baselineStep is one baseline history row's content: what an audit entry
// of a transition says, about as long.
type baselineStep struct {
	AtMicros      int64  `json:"at_us"`
	Kind          string `json:"kind"`
	ActorID       string `json:"actor_id"`
	ApplicationID string `json:"application_id"`
	Seq           int    `json:"app_seq"`
	Workflow      string `json:"workflow"`
	Event         string `json:"event"`
	From          string `json:"from"`
	To            string `json:"to"`
}

// baselineTransition fires the bench's event on app in raw SQL.
//
// The row keeps its state: its history is in bench_history, and moving
// the state would leave the audit chain saying the application is where
// it is not, which the chain's verification rightly reports. The update
// still rewrites the state, data, version and time, as the engine's does.
func baselineTransition(ctx context.Context, db *postgres.DB, app Application) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	const lock = `SELECT state, version, data FROM applications WHERE id = $1 FOR UPDATE`
	var row struct {
		State   string          `db:"state"`
		Version int             `db:"version"`
		Data    json.RawMessage `db:"data"`
	}
	if err := tx.GetContext(ctx, &row, lock, app.ID); err != nil {
		return fmt.Errorf("lock application %s: %w", app.ID, err)
	}
	now := time.Now()
	const update = `
UPDATE applications SET state = $3, data = $4, version = version + 1, updated_at = $5
WHERE id = $1 AND version = $2`
	// JSON goes as text: a []byte argument may travel as binary, which
	// jsonb's binary form is not.
	res, err := tx.ExecContext(ctx, update, app.ID, row.Version, row.State, string(row.Data), now)
	if err != nil {
		return fmt.Errorf("update application %s: %w", app.ID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("update application %s: %d rows", app.ID, n)
	}
	content, err := json.Marshal(baselineStep{AtMicros: now.UnixMicro(), Kind: "transition", ActorID: app.Owner.User.ID,
		ApplicationID: app.ID, Seq: row.Version + 1, Workflow: Workflow, Event: Event, From: row.State, To: "formal_review"})
	if err != nil {
		return fmt.Errorf("encode history: %w", err)
	}
	const insert = `INSERT INTO bench_history (application_id, seq, content, at) VALUES ($1, $2, $3, $4)`
	if _, err := tx.ExecContext(ctx, insert, app.ID, row.Version+1, string(content), now); err != nil {
		return fmt.Errorf("insert history of %s: %w", app.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// baselineMisfired counts the applications the baseline did not move
// exactly once: not exactly one history row, or not exactly one version on.
func baselineMisfired(ctx context.Context, db *postgres.DB, ids []string) (int, error) {
	const q = `
SELECT count(*) FROM applications a
WHERE a.id = ANY($1::uuid[])
  AND (a.version <> 2 OR (SELECT count(*) FROM bench_history h WHERE h.application_id = a.id) <> 1)`
	var bad int
	if err := db.GetContext(ctx, &bad, q, pq.Array(ids)); err != nil {
		return 0, fmt.Errorf("check baseline history: %w", err)
	}
	return bad, nil
}
