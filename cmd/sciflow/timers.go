package main

import (
	"context"
	"fmt"
	"time"

	"github.com/sciflow/sciflow/internal/config"
)

func timersCommand(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "run" {
		return usageError{"usage: sciflow timers run [--as-of TIME]"}
	}
	fs := flags(e, "timers run")
	asOf := fs.String("as-of", "", "fire timers due by this RFC 3339 time (default: now)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	when := time.Now()
	if *asOf != "" {
		t, err := time.Parse(time.RFC3339, *asOf)
		if err != nil {
			return usageError{fmt.Sprintf("timers run: --as-of %q is not an RFC 3339 time", *asOf)}
		}
		when = t
	}
	return withSystem(ctx, e, func(sys *system, _ config.Config) error {
		n, err := sys.engine.RunTimers(ctx, when)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "fired %d timer(s) due by %s\n", n, when.Format(time.RFC3339))
		// The same round of reminders a server makes, as of TIME: each
		// overdue task at most once per day of TIME.
		r, err := sys.notify.Remind(ctx, when)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "made %d reminder(s) and escalation(s)\n", r)
		return nil
	})
}
