package queue

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Rounds runs a server's periodic work beside its jobs: sealing the audit
// chains, rereading the calendar overrides, counting the plan indicators,
// announcing opened tasks. Each round runs once at the start and then every
// interval until Stop; a failed round is logged and the next one tries
// again. Every server runs the same rounds; those that must run once at a
// time across servers take their own lock.
type Rounds struct {
	ctx    context.Context
	cancel context.CancelFunc
	log    *slog.Logger
	wg     sync.WaitGroup
}

// NewRounds starts an empty set of rounds that ends with ctx or Stop.
func NewRounds(ctx context.Context, log *slog.Logger) *Rounds {
	r := &Rounds{log: log}
	r.ctx, r.cancel = context.WithCancel(ctx)
	return r
}

// Every runs round now and then every interval; failed says in the log
// what a failure means for the people using the server.
func (r *Rounds) Every(interval time.Duration, failed string, round func(context.Context) error) {
	r.Go(func(ctx context.Context) {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if err := round(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn(failed, "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}

// Go runs work once, beside the rounds, under the same Stop.
func (r *Rounds) Go(work func(context.Context)) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		work(r.ctx)
	}()
}

// Stop ends the rounds and waits for those running to return, so that
// none runs against a database being closed.
func (r *Rounds) Stop() {
	r.cancel()
	r.wg.Wait()
}
