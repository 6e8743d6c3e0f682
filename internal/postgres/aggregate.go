package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
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

// where builds q's filters, adding their arguments to args.
func (q AggregateQuery) where(args *[]any) (string, error) {
	*args = append(*args, pq.StringArray(q.Workflows))
	where := []string{fmt.Sprintf("a.workflow = ANY ($%d)", len(*args))}
	add := func(cond string, v any) {
		*args = append(*args, v)
		where = append(where, strings.ReplaceAll(cond, "$?", fmt.Sprintf("$%d", len(*args))))
	}
	if len(q.States) > 0 {
		add("a.state = ANY ($?)", pq.StringArray(q.States))
	}
	fields := make([]string, 0, len(q.Equal))
	for f := range q.Equal {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	for _, field := range fields {
		raw, err := json.Marshal(q.Equal[field])
		if err != nil {
			return "", fmt.Errorf("aggregate value of %s: %w", field, err)
		}
		*args = append(*args, field)
		add(fmt.Sprintf("a.data -> $%d = $?::jsonb", len(*args)), string(raw))
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
	return strings.Join(where, " AND "), nil
}

// value is q's count or sum expression.
func (q AggregateQuery) value(args *[]any) string {
	switch {
	case q.Sum != "":
		*args = append(*args, q.Sum)
		return fmt.Sprintf("coalesce(sum((a.data ->> $%d)::numeric), 0)::float8", len(*args))
	case q.Distinct != "":
		*args = append(*args, q.Distinct)
		return fmt.Sprintf("count(DISTINCT a.data ->> $%d)::float8", len(*args))
	}
	return "count(*)::float8"
}

// IndicatorQuery is one plan indicator to compute: q across the
// installation, broken down By "state", "year" (when the applications were
// started, in China) or a data field; By "" gives the total alone.
type IndicatorQuery struct {
	Key string
	AggregateQuery
	By string
}

// Indicators computes every query of qs in one statement, so that all
// describe the same moment, keyed by each query's Key then its breakdown.
func (tx *Tx) Indicators(ctx context.Context, qs []IndicatorQuery) (map[string]map[string]float64, error) {
	out := make(map[string]map[string]float64, len(qs))
	if len(qs) == 0 {
		return out, nil
	}
	var args []any
	parts := make([]string, 0, len(qs))
	for _, q := range qs {
		out[q.Key] = map[string]float64{}
		where, err := q.where(&args)
		if err != nil {
			return nil, err
		}
		group := "''"
		switch q.By {
		case "":
		case "state":
			group = "a.state"
		case "year":
			group = "extract(year FROM a.created_at AT TIME ZONE 'Asia/Shanghai')::int::text"
		default:
			args = append(args, q.By)
			group = fmt.Sprintf("coalesce(a.data ->> $%d, '')", len(args))
		}
		sel := q.value(&args)
		args = append(args, q.Key)
		parts = append(parts, fmt.Sprintf(`(SELECT $%d::text AS i, %s AS k, %s AS v FROM applications a WHERE %s GROUP BY 2)`,
			len(args), group, sel, where))
	}
	rows, err := tx.QueryxContext(ctx, strings.Join(parts, "\nUNION ALL\n"), args...)
	if err != nil {
		return nil, mapError("compute indicators", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key, k string
		var v float64
		if err := rows.Scan(&key, &k, &v); err != nil {
			return nil, mapError("read indicators", err)
		}
		out[key][k] = v
	}
	return out, mapError("read indicators", rows.Err())
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
	var args []any
	where, err := q.where(&args)
	if err != nil {
		return 0, err
	}
	sel := q.value(&args)
	var out float64
	query := `SELECT ` + sel + ` FROM applications a WHERE ` + where
	if err := tx.GetContext(ctx, &out, query, args...); err != nil {
		return 0, mapError("compute aggregate", err)
	}
	return out, nil
}
