package engine

import (
	"context"
	"slices"
	"time"

	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
	"github.com/sciflow/sciflow/internal/workflow"
)

// IndicatorValue is one plan indicator as it stands.
type IndicatorValue struct {
	Key      string
	Workflow string
	Title    workflow.Text
	Unit     workflow.Text
	Target   *float64
	Actual   float64
	By       map[string]float64
}

// PlanStats counts what the system knows against the plan's targets: the
// indicators every current definition declares, in workflow order. The
// bureau, its leaders and oversight may read it.
func (e *Engine) PlanStats(ctx context.Context, actor *identity.User) (time.Time, []IndicatorValue, error) {
	allowed := []identity.Role{identity.Staff, identity.Leader, identity.Auditor, identity.Admin}
	if !slices.ContainsFunc(allowed, actor.Has) {
		return time.Time{}, nil, errs.E(errs.Forbidden, "只有科技局、领导和监督人员可以查看规划指标", "only the bureau, its leaders and oversight see the plan indicators")
	}
	now := e.Now()
	var out []IndicatorValue
	for _, d := range e.Workflows() {
		for _, ind := range d.Indicators {
			a := ind.Count
			q := postgres.AggregateQuery{Sum: a.Sum, Workflows: a.Workflows, States: a.States, Equal: a.Where}
			by, err := e.db.Indicator(ctx, q, ind.By)
			if err != nil {
				return now, nil, err
			}
			v := IndicatorValue{Key: ind.Key, Workflow: d.Key, Title: ind.Title, Unit: ind.Unit, Target: ind.Target, By: by}
			for _, n := range by {
				v.Actual += n
			}
			if ind.By == "" {
				v.By = map[string]float64{}
			}
			out = append(out, v)
		}
	}
	return now, out, nil
}
