package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// The bulk tables' indexes are built once after the copies are written
// instead of being kept up entry by entry: ten million random insertions
// into a dozen B-trees cost the load most of its time. The indexes backing
// a constraint (primary keys, which foreign keys and the load itself rely
// on) stay; every other is dropped first and made again, by its own
// definition, afterwards, so the schema is exactly what it was. A freshly
// built index is denser than one grown over years (docs/BENCHMARKS.md
// says what that means for the figures).

// bulkTables are the tables the generator fills by the million.
var bulkTables = []string{"audit_log", "applications", "review_tasks", "review_stages", "attachments", "notices",
	"expert_draws", "objections", "review_questions", "audit_chains"}

// droppedIndex is an index taken away for the load, to be made again.
type droppedIndex struct {
	Name string `db:"name"`
	Def  string `db:"def"`
}

// dropIndexes drops the bulk tables' indexes that back no constraint and
// returns their definitions.
func dropIndexes(ctx context.Context, db *sqlx.DB) ([]droppedIndex, error) {
	const q = `
SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = current_schema() AND t.relname = ANY ($1)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
ORDER BY t.relname, c.relname`
	var idx []droppedIndex
	if err := db.SelectContext(ctx, &idx, q, pq.StringArray(bulkTables)); err != nil {
		return nil, fmt.Errorf("list indexes: %w", err)
	}
	for i, x := range idx {
		if _, err := db.ExecContext(ctx, `DROP INDEX `+pq.QuoteIdentifier(x.Name)); err != nil {
			return idx[:i], fmt.Errorf("drop index %s: %w", x.Name, err)
		}
	}
	return idx, nil
}

// rebuildIndexes makes the dropped indexes again, with the memory a
// maintenance job would be given.
func (g *generator) rebuildIndexes(ctx context.Context, db *sqlx.DB, idx []droppedIndex) error {
	conn, err := db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("rebuild indexes: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SET maintenance_work_mem = '512MB'`); err != nil {
		return fmt.Errorf("rebuild indexes: %w", err)
	}
	var errs []error
	for _, x := range idx {
		start := time.Now()
		if _, err := conn.ExecContext(ctx, x.Def); err != nil {
			errs = append(errs, fmt.Errorf("rebuild index %s: %w", x.Name, err))
			continue
		}
		g.say("index %s built in %.0f s", x.Name, time.Since(start).Seconds())
	}
	return errors.Join(errs...)
}
