package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/sciflow/sciflow/internal/config"
	"github.com/sciflow/sciflow/internal/workflow"
)

func workflowsCommand(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageError{"usage: sciflow workflows check [DIR] | sciflow workflows migrate KEY --to VERSION [--map OLD=NEW ...] [--dry-run]"}
	}
	switch args[0] {
	case "check":
		return workflowsCheck(e, args[1:])
	case "migrate":
		return workflowsMigrate(ctx, e, args[1:])
	}
	return usageError{fmt.Sprintf("unknown workflows command %q", args[0])}
}

// workflowsCheck validates definitions without touching any database; every
// problem is printed as file:line: message.
func workflowsCheck(e *env, args []string) error {
	fs := flags(e, "workflows check")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 1 {
		return usageError{"usage: sciflow workflows check [DIR]"}
	}
	var defs []*workflow.Definition
	var err error
	label := "built-in definitions"
	if fs.NArg() == 1 {
		dir := fs.Arg(0)
		if fi, serr := os.Stat(dir); serr != nil || !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		defs, err = workflow.LoadDir(os.DirFS(dir))
		label = dir
	} else {
		cfg, cerr := config.Load(e.getenv)
		if cerr != nil {
			return cerr
		}
		defs, err = workflow.LoadDir(workflowFS(cfg))
	}
	var probs workflow.Problems
	if errors.As(err, &probs) {
		prefix := ""
		if fs.NArg() == 1 {
			prefix = strings.TrimSuffix(fs.Arg(0), "/") + "/"
		}
		for _, p := range probs {
			p.File = prefix + p.File
			fmt.Fprintln(e.stdout, p)
		}
		return fmt.Errorf("%d problem(s) in %s", len(probs), label)
	}
	if err != nil {
		return err
	}
	for _, d := range defs {
		fmt.Fprintf(e.stdout, "ok  %s  %s (%d states, %d events)\n", d.Key, d.Title.Zh, len(d.States), len(d.Events))
	}
	return nil
}

type stateMaps map[string]string

func (m stateMaps) String() string { return fmt.Sprint(map[string]string(m)) }

func (m stateMaps) Set(v string) error {
	old, new, ok := strings.Cut(v, "=")
	if !ok || old == "" || new == "" {
		return errors.New("--map takes OLD=NEW")
	}
	m[old] = new
	return nil
}

func workflowsMigrate(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usageError{"usage: sciflow workflows migrate KEY --to VERSION [--map OLD=NEW ...] [--dry-run]"}
	}
	key := args[0]
	fs := flags(e, "workflows migrate")
	to := fs.Int("to", 0, "the version to move running applications to")
	dry := fs.Bool("dry-run", false, "show what would move, change nothing")
	maps := stateMaps{}
	fs.Var(maps, "map", "OLD=NEW: a state renamed in the new version (repeatable)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *to < 1 {
		return usageError{"workflows migrate: --to VERSION is required"}
	}
	return withSystem(ctx, e, func(sys *system, _ config.Config) error {
		moves, err := sys.engine.MigrateVersion(ctx, key, *to, maps, *dry)
		if err != nil {
			return err
		}
		verb := "moved"
		if *dry {
			verb = "would move"
		}
		for _, m := range moves {
			fmt.Fprintf(e.stdout, "%s %s: v%d %s -> v%d %s\n", verb, m.ApplicationID, m.FromVersion, m.FromState, *to, m.ToState)
		}
		fmt.Fprintf(e.stdout, "%s %d application(s) of %s to version %d\n", verb, len(moves), key, *to)
		return nil
	})
}
