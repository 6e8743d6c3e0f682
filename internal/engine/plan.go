package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
// indicators every current definition declares, in workflow order, as of
// the time returned. The bureau, its leaders and oversight may read it.
//
// Computing them reads every application of each programme (2.5 s at a
// million applications), so with a PlanMaxAge they come from the last
// computation while it is younger than that, and are computed again, once
// for everyone waiting, when it is not; the servers' RefreshPlan keeps it
// younger. With no PlanMaxAge they are computed for every request.
func (e *Engine) PlanStats(ctx context.Context, actor *identity.User) (time.Time, []IndicatorValue, error) {
	allowed := []identity.Role{identity.Staff, identity.Leader, identity.Auditor, identity.Admin}
	if !slices.ContainsFunc(allowed, actor.Has) {
		return time.Time{}, nil, errs.E(errs.Forbidden, "只有科技局、领导和监督人员可以查看规划指标", "only the bureau, its leaders and oversight see the plan indicators")
	}
	plan, err := e.plan()
	if err != nil {
		return time.Time{}, nil, err
	}
	var snap postgres.PlanSnapshot
	if e.PlanMaxAge <= 0 {
		snap, err = e.computePlan(ctx, plan)
	} else {
		snap, err = e.planNoOlderThan(ctx, plan, e.PlanMaxAge)
	}
	if err != nil {
		return time.Time{}, nil, err
	}
	return snap.AsOf, plan.values(snap), nil
}

// RefreshPlan computes the plan indicators again when the stored ones are
// older than half of PlanMaxAge, so that PlanStats finds them fresh: each
// server's round every half of it (serve). The refresh's lock and its
// second look let one server compute per period.
func (e *Engine) RefreshPlan(ctx context.Context) error {
	plan, err := e.plan()
	if err != nil {
		return err
	}
	_, err = e.planNoOlderThan(ctx, plan, e.PlanMaxAge/2)
	return err
}

// planQueries is what the current definitions declare, with the
// fingerprint that tells a snapshot of them from one of other indicators.
type planQueries struct {
	defs        []planIndicator
	queries     []postgres.IndicatorQuery
	fingerprint string
}

type planIndicator struct {
	workflow string
	ind      *workflow.Indicator
}

func (e *Engine) plan() (planQueries, error) {
	var p planQueries
	for _, d := range e.Workflows() {
		for _, ind := range d.Indicators {
			a := ind.Count
			p.defs = append(p.defs, planIndicator{workflow: d.Key, ind: ind})
			p.queries = append(p.queries, postgres.IndicatorQuery{Key: ind.Key, By: ind.By,
				AggregateQuery: postgres.AggregateQuery{Sum: a.Sum, Workflows: a.Workflows, States: a.States, Equal: a.Where}})
		}
	}
	raw, err := json.Marshal(p.queries)
	if err != nil {
		return p, fmt.Errorf("fingerprint the plan indicators: %w", err)
	}
	sum := sha256.Sum256(raw)
	p.fingerprint = hex.EncodeToString(sum[:16])
	return p, nil
}

// values lays the snapshot's numbers out as the definitions declare them.
func (p planQueries) values(snap postgres.PlanSnapshot) []IndicatorValue {
	out := make([]IndicatorValue, 0, len(p.defs))
	for _, d := range p.defs {
		ind := d.ind
		v := IndicatorValue{Key: ind.Key, Workflow: d.workflow, Title: ind.Title, Unit: ind.Unit, Target: ind.Target,
			By: map[string]float64{}}
		for k, n := range snap.Indicators[ind.Key] {
			v.Actual += n
			if ind.By != "" {
				v.By[k] = n
			}
		}
		out = append(out, v)
	}
	return out
}

// fresh tells whether snap answers p and is at most maxAge old.
func (e *Engine) fresh(snap postgres.PlanSnapshot, p planQueries, maxAge time.Duration) bool {
	age := e.Now().Sub(snap.AsOf)
	return snap.Fingerprint == p.fingerprint && age >= 0 && age <= maxAge
}

// planNoOlderThan serves the stored snapshot when it is fresh, and
// otherwise computes and stores a new one, once for all who wait.
func (e *Engine) planNoOlderThan(ctx context.Context, p planQueries, maxAge time.Duration) (postgres.PlanSnapshot, error) {
	snap, ok, err := e.db.PlanSnapshot(ctx)
	if err != nil {
		return snap, err
	}
	if ok && e.fresh(snap, p, maxAge) {
		return snap, nil
	}
	tx, snap, ok, err := e.db.BeginPlanRefresh(ctx)
	if err != nil {
		return snap, err
	}
	defer tx.Rollback()
	if ok && e.fresh(snap, p, maxAge) {
		return snap, nil // computed while this one waited
	}
	snap, err = e.indicators(ctx, tx, p)
	if err != nil {
		return snap, err
	}
	if err := tx.StorePlanSnapshot(ctx, snap); err != nil {
		return snap, err
	}
	return snap, tx.Commit()
}

// computePlan computes the indicators without storing them.
func (e *Engine) computePlan(ctx context.Context, p planQueries) (postgres.PlanSnapshot, error) {
	tx, err := e.db.Snapshot(ctx)
	if err != nil {
		return postgres.PlanSnapshot{}, err
	}
	defer tx.Rollback()
	return e.indicators(ctx, tx, p)
}

func (e *Engine) indicators(ctx context.Context, tx *postgres.Tx, p planQueries) (postgres.PlanSnapshot, error) {
	// Stored to the microsecond: those who wait for this computation read
	// it back and must be told the same time.
	asOf, start := e.Now().Truncate(time.Microsecond), time.Now()
	values, err := tx.Indicators(ctx, p.queries)
	if err != nil {
		return postgres.PlanSnapshot{}, err
	}
	return postgres.PlanSnapshot{Fingerprint: p.fingerprint, AsOf: asOf, Took: time.Since(start), Indicators: values}, nil
}
