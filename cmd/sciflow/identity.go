package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"

	"github.com/sciflow/sciflow/internal/account"
	"github.com/sciflow/sciflow/internal/config"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
)

// Account commands act as the operator at the console: they may do what an
// administrator may, and each change lands in the audit chain marked
// "console".

func orgCommand(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "add" {
		return usageError{"usage: sciflow org add --name N --kind K [--parent P] [--credit-code C]"}
	}
	fs := flags(e, "org add")
	name := fs.String("name", "", "organisation name (unique)")
	kind := fs.String("kind", "", "enterprise, institute, employer, bureau or village")
	parent := fs.String("parent", "", "the recommending unit, by name or id")
	code := fs.String("credit-code", "", "unified social credit code")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if strings.TrimSpace(*name) == "" {
		return usageError{"org add: --name is required"}
	}
	k, err := identity.ParseOrgKind(*kind)
	if err != nil {
		return errors.New("org add: --kind must be enterprise, institute, employer, bureau or village")
	}
	return withAccounts(ctx, e, func(acc *account.Service, _ config.Config) error {
		created, err := acc.CreateOrg(ctx, nil, identity.Org{Name: *name, Kind: k, ParentID: *parent, CreditCode: *code})
		if err != nil {
			return fmt.Errorf("org add: %s", explain(err))
		}
		fmt.Fprintln(e.stdout, created.ID)
		return nil
	})
}

// explain renders a domain error for the console: its message and, when
// fields are at fault, which and why.
func explain(err error) string {
	de := errs.As(err)
	if de == nil {
		return err.Error()
	}
	msg := de.Msg.En
	var parts []string
	for k, v := range de.Fields {
		parts = append(parts, k+": "+v.En)
	}
	sort.Strings(parts) // the same error reads the same every time
	if len(parts) > 0 {
		msg += " (" + strings.Join(parts, "; ") + ")"
	}
	return msg
}

func withAccounts(ctx context.Context, e *env, fn func(*account.Service, config.Config) error) error {
	return withSystem(ctx, e, func(sys *system, cfg config.Config) error { return fn(sys.accounts, cfg) })
}

func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password on standard input")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

const userUsage = `usage: sciflow user add --username U --name N --roles R1,R2 --org N [--email ADDR] [--specialty S]... [--conflict ORG]... --password-stdin
       sciflow user passwd USERNAME            (the new password on standard input)
       sciflow user email USERNAME ADDR|--clear
       sciflow user disable USERNAME
       sciflow user enable USERNAME
       sciflow user reset-link USERNAME        (prints a one-time link for the user)`

func userCommand(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageError{userUsage}
	}
	switch args[0] {
	case "add":
		return userAdd(ctx, e, args[1:])
	case "passwd", "disable", "enable", "reset-link":
		if len(args) != 2 || strings.HasPrefix(args[1], "-") {
			return usageError{userUsage}
		}
		return userChange(ctx, e, args[0], args[1])
	case "email":
		if len(args) != 3 || strings.HasPrefix(args[1], "-") {
			return usageError{userUsage}
		}
		addr := args[2]
		switch {
		case addr == "--clear" || addr == "-clear":
			addr = "" // an empty address is no address
		case strings.HasPrefix(addr, "-"):
			return usageError{userUsage}
		}
		return userEmail(ctx, e, args[1], addr)
	}
	return usageError{userUsage}
}

func userAdd(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "user add")
	username := fs.String("username", "", "login name")
	name := fs.String("name", "", "the person's name")
	roles := fs.String("roles", "", "comma-separated roles")
	org := fs.String("org", "", "the user's organisation, by name or id")
	email := fs.String("email", "", "where notifications are e-mailed (optional)")
	var specialties, conflicts stringList
	fs.Var(&specialties, "specialty", "an expert's specialty (repeatable, or comma-separated)")
	fs.Var(&conflicts, "conflict", "an organisation the expert must never review, by name or id (repeatable)")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	if err := parse(fs, args); err != nil {
		return err
	}
	if !*pwStdin {
		return usageError{"user add: --password-stdin is required (passwords are never taken as arguments)"}
	}
	if strings.TrimSpace(*name) == "" || *org == "" {
		return usageError{"user add: --name and --org are required"}
	}
	rs, err := identity.ParseRoles(*roles)
	if err != nil {
		return fmt.Errorf("user add: --roles: %s", explain(err))
	}
	pw, err := readPassword(e.stdin)
	if err != nil {
		return fmt.Errorf("user add: %w", err)
	}
	return withAccounts(ctx, e, func(acc *account.Service, _ config.Config) error {
		created, err := acc.CreateUser(ctx, nil, account.NewUser{
			User:     identity.User{Username: *username, Name: *name, OrgID: *org, Roles: rs, Email: *email},
			Password: pw, Specialties: specialties, ConflictOrgs: conflicts})
		if err != nil {
			return fmt.Errorf("user add: %s", explain(err))
		}
		fmt.Fprintln(e.stdout, created.ID)
		return nil
	})
}

func userChange(ctx context.Context, e *env, what, username string) error {
	var pw string
	if what == "passwd" {
		var err error
		if pw, err = readPassword(e.stdin); err != nil {
			return fmt.Errorf("user passwd: %w", err)
		}
	}
	return withAccounts(ctx, e, func(acc *account.Service, cfg config.Config) error {
		var err error
		switch what {
		case "passwd":
			err = acc.SetPassword(ctx, nil, username, pw)
		case "disable", "enable":
			disabled := what == "disable"
			_, err = acc.UpdateUser(ctx, nil, username, account.UserChange{Disabled: &disabled})
		case "reset-link":
			var token string
			token, _, err = acc.IssueReset(ctx, nil, username)
			if err == nil {
				base := cfg.PublicURL
				if base == "" {
					base = "http://" + cfg.Addr
				}
				fmt.Fprintf(e.stdout, "%s/reset?token=%s\n", base, url.QueryEscape(token))
				fmt.Fprintf(e.stderr, "hand this link to %s; it works once, within %s\n", username, account.ResetTTL)
				return nil
			}
		}
		if err != nil {
			return fmt.Errorf("user %s: %s", what, explain(err))
		}
		fmt.Fprintf(e.stdout, "%s: done\n", what)
		return nil
	})
}

// userEmail sets where a user's notifications are e-mailed, or with an
// empty addr removes the address, and prints what is stored (the domain
// lower-cased), so the operator sees exactly where mail will go.
func userEmail(ctx context.Context, e *env, username, addr string) error {
	return withAccounts(ctx, e, func(acc *account.Service, _ config.Config) error {
		u, err := acc.UpdateUser(ctx, nil, username, account.UserChange{Email: &addr})
		if err != nil {
			return fmt.Errorf("user email: %s", explain(err))
		}
		if u.Email == "" {
			fmt.Fprintf(e.stdout, "%s: no e-mail address\n", u.Username)
		} else {
			fmt.Fprintf(e.stdout, "%s: %s\n", u.Username, u.Email)
		}
		return nil
	})
}
