// Command sciflow is the workflow engine for science-and-technology project
// applications: the server and its operator commands (API.md, "Command line").
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	// One line, so an operator sees the cause at once and scripts can grep it.
	fmt.Fprintln(os.Stderr, "sciflow:", strings.Join(strings.Fields(err.Error()), " "))
	var u usageError
	if errors.As(err, &u) {
		os.Exit(2)
	}
	os.Exit(1)
}

// env is what a command may touch of the outside world; tests supply their own.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// usageError is a command line that does not parse.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

const usage = `usage: sciflow COMMAND [ARGS]

  serve [--demo]        run the server (--demo: seed demo data on first start)
  migrate               apply database migrations and exit
  seed demo             create the demo county (people and the three programmes), print the logins
  org add --name N --kind K [--parent P] [--credit-code C]
  user add --username U --name N --roles R1,R2 --org N [--specialty S] [--email ADDR] --password-stdin
  user passwd|disable|enable|reset-link USERNAME
  user email USERNAME ADDR|--clear
  workflows check [DIR] validate definitions; problems as file:line: message
  workflows migrate KEY --to VERSION [--map OLD=NEW ...] [--dry-run]
                        move running applications to another definition version
  timers run [--as-of TIME]
                        fire every timer due by TIME as the system, and make the
                        reminders and escalations due by then
  audit verify [--anchor FILE]
                        check the whole audit trail (and that nothing sealed before
                        the anchor changed); exit 1 on any problem
  audit anchor          seal, then print the seal head to file outside the system
  audit seal            seal the chains written since the last seal (servers do
                        it every SCIFLOW_SEAL_EVERY)
  redact [--as-of TIME] remove the personal data (form fields marked x-personal) of
                        every application finished more than SCIFLOW_RETENTION_YEARS
                        ago, from its form and its audit entries; the chain still verifies
  calendar list|set|unset
                        local working-day overrides: calendar set DAY --working|--off
                        [--note TEXT], calendar unset DAY (DAY as YYYY-MM-DD)
  bench [--json] [--apps N] [--clients 1,8,32] [--servers 1,2,3] [--database-url URL]
                        measure transitions per second: raw SQL, the engine in
                        process, and over HTTP to 1..n servers (docs/BENCHMARKS.md)
  bench --scale N [--reads N] [--json]
                        generate N applications with sealed audit chains, then time
                        the read paths, the server's memory and audit verify

Configuration comes from the environment; see README.md.`

// run is the whole program, callable from tests.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		return usageError{usage}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, e, rest)
	case "migrate":
		return migrate(ctx, e, rest)
	case "seed":
		return seed(ctx, e, rest)
	case "org":
		return orgCommand(ctx, e, rest)
	case "user":
		return userCommand(ctx, e, rest)
	case "workflows":
		return workflowsCommand(ctx, e, rest)
	case "audit":
		return auditCommand(ctx, e, rest)
	case "timers":
		return timersCommand(ctx, e, rest)
	case "calendar":
		return calendarCommand(ctx, e, rest)
	case "redact":
		return redactCommand(ctx, e, rest)
	case "bench":
		return benchCommand(ctx, e, rest)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q (run sciflow help)", cmd)}
}

// flags makes a flag set that reports errors instead of exiting.
func flags(e *env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{fmt.Sprintf("%s: %v", fs.Name(), err)}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}
