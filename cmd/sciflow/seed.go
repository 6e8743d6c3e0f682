package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/sciflow/sciflow/internal/config"
	"github.com/sciflow/sciflow/internal/demo"
	"github.com/sciflow/sciflow/internal/identity"
)

func seed(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "demo" {
		return usageError{"usage: sciflow seed demo"}
	}
	if err := parse(flags(e, "seed demo"), args[1:]); err != nil {
		return err
	}
	return withSystem(ctx, e, func(sys *system, cfg config.Config) error { return seedDemo(ctx, e, sys, cfg) })
}

// demoLoginsFile keeps the generated demo passwords in the data dir (mode
// 0600), so that later starts can show them again.
func demoLoginsFile(cfg config.Config) string { return filepath.Join(cfg.DataDir, "demo-logins.txt") }

// seedDemo creates what is missing of the demo data and prints the logins.
func seedDemo(ctx context.Context, e *env, sys *system, cfg config.Config) error {
	logins, err := demo.Seed(ctx, sys.db, sys.accounts, sys.engine)
	if errors.Is(err, demo.ErrSeeded) || err == nil && len(logins) == 0 {
		saved, rerr := os.ReadFile(demoLoginsFile(cfg))
		if rerr != nil {
			fmt.Fprintln(e.stdout, "演示数据已存在 / demo data already present")
			return nil
		}
		_, err = e.stdout.Write(saved)
		return err
	}
	// New accounts are kept and shown even when the programme data after
	// them failed: their passwords are nowhere else.
	if len(logins) == 0 {
		return err
	}
	var sb strings.Builder
	writeLogins(&sb, logins)
	if err := os.MkdirAll(cfg.DataDir, 0o750); err == nil {
		// Appending keeps the logins of an interrupted earlier seed too.
		f, ferr := os.OpenFile(demoLoginsFile(cfg), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if ferr == nil {
			f.WriteString(sb.String())
			f.Close()
		}
	}
	_, werr := io.WriteString(e.stdout, sb.String())
	return errors.Join(err, werr)
}

func writeLogins(w io.Writer, logins []demo.Login) {
	fmt.Fprintln(w, "演示账号 / demo logins:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, l := range logins {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", l.Username, l.Password, strings.Join(identity.RoleStrings(l.Roles), ","), l.Name, l.Org)
	}
	tw.Flush()
}
