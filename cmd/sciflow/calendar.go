package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/config"
)

// Calendar commands act as the operator at the console, with an
// administrator's rights; each change lands in the audit chain marked
// "console". A running server sees it within calendar.RefreshInterval.

const calendarUsage = `usage: sciflow calendar list
       sciflow calendar set DAY --working|--off [--note TEXT]   (DAY as YYYY-MM-DD)
       sciflow calendar unset DAY`

func calendarCommand(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageError{calendarUsage}
	}
	switch args[0] {
	case "list":
		if len(args) != 1 {
			return usageError{calendarUsage}
		}
		return calendarList(ctx, e)
	case "set":
		return calendarSet(ctx, e, args[1:])
	case "unset":
		if len(args) != 2 || strings.HasPrefix(args[1], "-") {
			return usageError{calendarUsage}
		}
		return calendarUnset(ctx, e, args[1])
	}
	return usageError{calendarUsage}
}

// overrideLine is how one override reads on the console, in list and set
// alike: the day, working or off, and the note.
func overrideLine(o calendar.Override) string {
	kind := "off"
	if o.Working {
		kind = "working"
	}
	return strings.TrimRight(fmt.Sprintf("%s  %-7s  %s", calendar.FormatDay(o.Day), kind, o.Note), " ")
}

func calendarList(ctx context.Context, e *env) error {
	return withSystem(ctx, e, func(sys *system, _ config.Config) error {
		list, err := sys.calendar.List(ctx)
		if err != nil {
			return fmt.Errorf("calendar list: %s", explain(err))
		}
		if len(list) == 0 {
			// On stderr, so that a script reading the list reads nothing.
			fmt.Fprintln(e.stderr, "no local overrides: the national calendar applies")
		}
		for _, o := range list {
			fmt.Fprintln(e.stdout, overrideLine(o))
		}
		return nil
	})
}

func calendarSet(ctx context.Context, e *env, args []string) error {
	// The day comes first, as the usage line shows it; the flag package
	// would stop at it otherwise.
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usageError{calendarUsage}
	}
	fs := flags(e, "calendar set")
	working := fs.Bool("working", false, "the day is a working day (a make-up day)")
	off := fs.Bool("off", false, "the day is a day off (a local holiday)")
	note := fs.String("note", "", "why, at most 200 characters")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *working == *off {
		return usageError{"calendar set: give exactly one of --working or --off"}
	}
	day, err := calendar.ParseDay(args[0])
	if err != nil {
		return fmt.Errorf("calendar set: %s", explain(err))
	}
	return withSystem(ctx, e, func(sys *system, _ config.Config) error {
		o, err := sys.calendar.Set(ctx, nil, day, *working, *note)
		if err != nil {
			return fmt.Errorf("calendar set: %s", explain(err))
		}
		fmt.Fprintln(e.stdout, overrideLine(o))
		return nil
	})
}

func calendarUnset(ctx context.Context, e *env, arg string) error {
	day, err := calendar.ParseDay(arg)
	if err != nil {
		return fmt.Errorf("calendar unset: %s", explain(err))
	}
	return withSystem(ctx, e, func(sys *system, _ config.Config) error {
		removed, err := sys.calendar.Unset(ctx, nil, day)
		if err != nil {
			return fmt.Errorf("calendar unset: %s", explain(err))
		}
		fmt.Fprintf(e.stdout, "removed %s\n", overrideLine(removed))
		return nil
	})
}
