package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sciflow/sciflow/internal/config"
)

// redactCommand is the retention sweep: every finished application past its
// retention period loses its personal data (engine.RedactDue).
func redactCommand(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "redact")
	asOf := fs.String("as-of", "", "judge the retention period as of this RFC 3339 time (default: now); recorded in each entry")
	if err := parse(fs, args); err != nil {
		return err
	}
	var when time.Time
	if *asOf != "" {
		t, err := time.Parse(time.RFC3339, *asOf)
		if err != nil {
			return usageError{fmt.Sprintf("redact: --as-of %q is not an RFC 3339 time", *asOf)}
		}
		when = t
	}
	return withSystem(ctx, e, func(sys *system, cfg config.Config) error {
		done, err := sys.engine.RedactDue(ctx, when)
		for _, r := range done {
			fmt.Fprintf(e.stdout, "%s: %d entries, fields %s", r.ApplicationID, r.Entries, strings.Join(r.Fields, ", "))
			if r.Objections > 0 {
				fmt.Fprintf(e.stdout, "; %d objections", r.Objections)
			}
			if r.Attachments > 0 {
				fmt.Fprintf(e.stdout, "; %d files", r.Attachments)
			}
			fmt.Fprintln(e.stdout)
		}
		fmt.Fprintf(e.stdout, "redacted %d application(s) past %d years of retention\n", len(done), cfg.RetentionYears)
		return err
	})
}
