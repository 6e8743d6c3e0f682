package postgres

import (
	"context"
	"database/sql"
	"time"

	"github.com/lib/pq"
)

// ExpertDraw is one stored draw: enough to replay it.
type ExpertDraw struct {
	ID           int64          `db:"id"`
	StageID      int64          `db:"stage_id"`
	Seed         string         `db:"seed"`
	Specialty    sql.NullString `db:"specialty"`
	Wanted       int            `db:"wanted"`
	Pool         pq.StringArray `db:"pool"`
	Picked       pq.StringArray `db:"picked"`
	ReplacesTask sql.NullString `db:"replaces_task"`
	DrawnBy      sql.NullString `db:"drawn_by"`
	DrawnAt      time.Time      `db:"drawn_at"`
}

const drawColumns = `id, stage_id, seed, specialty, wanted, pool, picked, replaces_task, drawn_by, drawn_at`

// DrawsOfStages lists the draws of several stages in the order they were made.
func (db *DB) DrawsOfStages(ctx context.Context, stageIDs []int64) ([]ExpertDraw, error) {
	var out []ExpertDraw
	q := `SELECT ` + drawColumns + ` FROM expert_draws WHERE stage_id = ANY ($1) ORDER BY id`
	if err := db.SelectContext(ctx, &out, q, pq.Int64Array(stageIDs)); err != nil {
		return nil, mapError("list expert draws", err)
	}
	return out, nil
}
