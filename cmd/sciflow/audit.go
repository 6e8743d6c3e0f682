package main

import (
	"context"
	"fmt"

	"github.com/sciflow/sciflow/internal/audit"
)

func auditCommand(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "seal") {
		return usageError{"usage: sciflow audit verify|seal"}
	}
	if err := parse(flags(e, "audit "+args[0]), args[1:]); err != nil {
		return err
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
	if args[0] == "seal" {
		return seal(ctx, e, chain, b)
	}
	r, err := chain.Verify(ctx, b.db)
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
	fmt.Fprintf(e.stdout, "checked %d entries in %d chains; sealed by %d seals, last hash %s; %d chains written since the last seal\n",
		r.Checked, r.Chains, r.HeadCount, r.HeadHash, r.Unsealed)
	if !r.OK {
		return fmt.Errorf("the audit chain has %d problem(s)", len(r.Problems))
	}
	fmt.Fprintln(e.stdout, "ok: the audit chain is intact")
	return nil
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
