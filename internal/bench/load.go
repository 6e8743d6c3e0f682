package bench

import (
	"context"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// run is what one timed drive measured.
type run struct {
	latencies []time.Duration
	elapsed   time.Duration
	// mallocs is the heap allocations made by this whole process meanwhile.
	mallocs uint64
}

// drive calls op for i in [0, n) from clients goroutines at once, each
// taking the next i as soon as its previous call returns (a closed loop:
// the load is as high as the system answers, never queued up beyond
// clients), and times every call. The first error stops it.
func drive(ctx context.Context, n, clients int, op func(ctx context.Context, client, i int) error) (run, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	start := time.Now()
	for c := range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				if err := op(ctx, c, i); err != nil {
					once.Do(func() {
						first = err
						cancel()
					})
					return
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	return run{latencies: lat, elapsed: time.Since(start)}, first
}

// tps is transitions per second over the whole run, from the first call to
// the last answer.
func (r run) tps() float64 { return float64(len(r.latencies)) / r.elapsed.Seconds() }

// percentile is the latency that q of the calls did not exceed (nearest
// rank), in milliseconds.
func percentile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q*float64(len(sorted)))) - 1
	rank = min(max(rank, 0), len(sorted)-1)
	return float64(sorted[rank]) / float64(time.Millisecond)
}

// result is the run as a row of the report.
func (r run) result(mode, series string, clients, processes, warmup int) Result {
	sorted := slices.Clone(r.latencies)
	slices.Sort(sorted)
	return Result{
		Mode: mode, Series: series, Clients: clients, Processes: processes, Warmup: warmup,
		Transitions: len(r.latencies),
		Seconds:     round(r.elapsed.Seconds(), 3),
		TPS:         round(r.tps(), 1),
		P50Ms:       round(percentile(sorted, 0.50), 2),
		P95Ms:       round(percentile(sorted, 0.95), 2),
		P99Ms:       round(percentile(sorted, 0.99), 2),
	}
}

// round keeps figures to what the measurement can tell apart.
func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}
