package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/sciflow/sciflow/internal/audit"
)

func auditCommand(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "seal" && args[0] != "anchor") {
		return usageError{"usage: sciflow audit verify [--anchor FILE] | seal | anchor"}
	}
	fs := flags(e, "audit "+args[0])
	var anchorFile *string
	if args[0] == "verify" {
		anchorFile = fs.String("anchor", "", "an anchor printed by `sciflow audit anchor`: also prove nothing sealed before it changed")
	}
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	var anchor *audit.Anchor
	if anchorFile != nil && *anchorFile != "" {
		f, err := os.Open(*anchorFile)
		if err != nil {
			return fmt.Errorf("read the anchor: %w", err)
		}
		a, err := audit.ParseAnchor(f)
		f.Close()
		if err != nil {
			return err
		}
		anchor = &a
	}
	// Not withSystem: verifying the trail must not depend on the workflow
	// files loading (nor store a new version of them as a side effect).
	cfg, log, err := commandSetup(e)
	if err != nil {
		return err
	}
	if err := cfg.EnsureSecret(); err != nil {
		return err
	}
	b, err := openBackend(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer b.close()
	chain := audit.New(cfg.Secret)
	switch args[0] {
	case "seal":
		return seal(ctx, e, chain, b)
	case "anchor":
		a, ok, err := chain.MakeAnchor(ctx, b.db, time.Now())
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("nothing has been written to the audit trail yet: there is nothing to anchor")
		}
		fmt.Fprint(e.stdout, a.String())
		return nil
	}
	var r audit.Report
	// A trail of millions takes minutes: say where it is, on stderr.
	chain, stopProgress := verifyProgress(chain, e.stderr)
	if anchor != nil {
		r, err = chain.VerifyAnchored(ctx, b.db, *anchor)
	} else {
		r, err = chain.Verify(ctx, b.db)
	}
	stopProgress()
	if err != nil {
		return err
	}
	for _, p := range r.Problems {
		line := p.Kind + ": " + p.Where()
		if p.Detail != "" {
			line += " (" + p.Detail + ")"
		}
		fmt.Fprintln(e.stdout, line)
	}
	if r.Omitted > 0 {
		fmt.Fprintf(e.stdout, "and %d more problems, not listed\n", r.Omitted)
	}
	fmt.Fprintf(e.stdout, "checked %d entries in %d chains; sealed by %d seals, last hash %s; %d chains written since the last seal\n",
		r.Checked, r.Chains, r.HeadCount, r.HeadHash, r.Unsealed)
	if !r.OK {
		return fmt.Errorf("the audit chain has %d problem(s)", int64(len(r.Problems))+r.Omitted)
	}
	if anchor != nil {
		fmt.Fprintf(e.stdout, "ok: the audit chain is intact, and nothing sealed before the anchor of %s (seal %d) changed\n",
			anchor.At.Format(time.RFC3339), anchor.Seal)
		return nil
	}
	fmt.Fprintln(e.stdout, "ok: the audit chain is intact")
	return nil
}

// verifyProgress is chain reporting where its verification is, to w every
// 5 seconds (so a small trail says nothing); stop ends the reports.
func verifyProgress(chain *audit.Chain, w io.Writer) (_ *audit.Chain, stop func()) {
	var mu sync.Mutex
	last := audit.Progress{Step: audit.StepLegacy}
	chain = chain.Reporting(func(p audit.Progress) {
		mu.Lock()
		last = p
		mu.Unlock()
	})
	began, quit, done := time.Now(), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				mu.Lock()
				p := last
				mu.Unlock()
				fmt.Fprintf(w, "audit verify %4.0fs: %s: %d entries in %d chains checked so far\n",
					time.Since(began).Seconds(), p.Step, p.Checked, p.Chains)
			}
		}
	}()
	var once sync.Once
	return chain, func() {
		once.Do(func() {
			close(quit)
			<-done
		})
	}
}

// seal seals what the servers have not sealed yet (they do every
// SCIFLOW_SEAL_EVERY), say before writing the head down.
func seal(ctx context.Context, e *env, chain *audit.Chain, b *backend) error {
	n, err := chain.Seal(ctx, b.db)
	if err != nil {
		return err
	}
	r, err := chain.Verify(ctx, b.db)
	if err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintf(e.stdout, "nothing to seal; last seal %d, hash %s\n", r.HeadCount, r.HeadHash)
	} else {
		fmt.Fprintf(e.stdout, "sealed %d chains in seal %d, hash %s\n", n, r.HeadCount, r.HeadHash)
	}
	if r.Unsealed > 0 {
		fmt.Fprintf(e.stdout, "%d chains were written by transactions still running when the seal was taken; the next seal takes them\n", r.Unsealed)
	}
	return nil
}
