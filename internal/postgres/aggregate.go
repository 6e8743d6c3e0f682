package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/lib/pq"
)

// AggregateQuery is a count or sum over applications, as a definition's
// aggregates declare it, resolved against one application.
type AggregateQuery struct {
	// Sum is the data field to sum; empty counts.
	Sum       string
	Workflows []string
	States    []string
	// Equal are data fields and the JSON values they must have.
	Equal       map[string]any
	ApplicantID string
	OrgID       string
	ParentID    string
	ExcludeID   string
	// Distinct counts distinct values of this data field.
	Distinct string
	LockKey  string
}

// Aggregate computes q. It first takes a transaction lock on q.LockKey, so
// that two transactions deciding on the same aggregate (two graders near a
// cap) queue instead of both seeing room for one more.
func (tx *Tx) Aggregate(ctx context.Context, q AggregateQuery) (float64, error) {
	if q.LockKey != "" {
		if err := tx.LockKey(ctx, "aggregate:"+q.LockKey); err != nil {
			return 0, err
		}
	}
	args := []any{pq.StringArray(q.Workflows)}
	where := []string{"a.workflow = ANY ($1)"}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "$?", fmt.Sprintf("$%d", len(args))))
	}
	if len(q.States) > 0 {
		add("a.state = ANY ($?)", pq.StringArray(q.States))
	}
	for field, v := range q.Equal {
		raw, err := json.Marshal(v)
		if err != nil {
			return 0, fmt.Errorf("aggregate value of %s: %w", field, err)
		}
		args = append(args, field)
		add(fmt.Sprintf("a.data -> $%d = $?::jsonb", len(args)), string(raw))
	}
	if q.ApplicantID != "" {
		add("a.applicant_id = $?", q.ApplicantID)
	}
	if q.OrgID != "" {
		add("a.org_id = $?", q.OrgID)
	}
	if q.ParentID != "" {
		add("a.parent_id = $?", q.ParentID)
	}
	if q.ExcludeID != "" {
		add("a.id <> $?", q.ExcludeID)
	}
	sel := "count(*)::float8"
	if q.Distinct != "" {
		args = append(args, q.Distinct)
		sel = fmt.Sprintf("count(DISTINCT a.data ->> $%d)::float8", len(args))
	}
	if q.Sum != "" {
		args = append(args, q.Sum)
		sel = fmt.Sprintf("coalesce(sum((a.data ->> $%d)::numeric), 0)::float8", len(args))
	}
	var out float64
	query := `SELECT ` + sel + ` FROM applications a WHERE ` + strings.Join(where, " AND ")
	if err := tx.GetContext(ctx, &out, query, args...); err != nil {
		return 0, mapError("compute aggregate", err)
	}
	return out, nil
}
