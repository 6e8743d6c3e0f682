package main

import (
	"context"
	"fmt"

	"github.com/sciflow/sciflow/internal/audit"
)

func auditCommand(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		return usageError{"usage: sciflow audit verify"}
	}
	if err := parse(flags(e, "audit verify"), args[1:]); err != nil {
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
	r, err := audit.New(cfg.Secret).Verify(ctx, b.db)
	if err != nil {
		return err
	}
	for _, p := range r.Problems {
		line := fmt.Sprintf("%s at entry %d", p.Kind, p.Seq)
		if p.ApplicationID != "" {
			line = fmt.Sprintf("%s: application %s", p.Kind, p.ApplicationID)
		}
		if p.Detail != "" {
			line += " (" + p.Detail + ")"
		}
		fmt.Fprintln(e.stdout, line)
	}
	fmt.Fprintf(e.stdout, "checked %d entries; head: %d entries, last hash %s\n", r.Checked, r.HeadCount, r.HeadHash)
	if !r.OK {
		return fmt.Errorf("the audit chain has %d problem(s)", len(r.Problems))
	}
	fmt.Fprintln(e.stdout, "ok: the audit chain is intact")
	return nil
}
