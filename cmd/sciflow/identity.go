package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sciflow/sciflow/internal/auth"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
)

func orgCommand(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "add" {
		return usageError{"usage: sciflow org add --name N --kind K [--parent P]"}
	}
	fs := flags(e, "org add")
	name := fs.String("name", "", "organisation name (unique)")
	kind := fs.String("kind", "", "enterprise, institute, employer, bureau or village")
	parent := fs.String("parent", "", "the recommending unit, by name or id")
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
	cfg, log, err := commandSetup(e)
	if err != nil {
		return err
	}
	b, err := openBackend(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer b.close()
	o := identity.Org{Name: strings.TrimSpace(*name), Kind: k}
	if *parent != "" {
		p, err := b.db.OrgByRef(ctx, *parent)
		if err != nil {
			return fmt.Errorf("org add: parent %q: %w", *parent, err)
		}
		o.ParentID = p.ID
	}
	created, err := b.db.CreateOrg(ctx, o)
	if errs.CodeOf(err) == errs.Conflict {
		return fmt.Errorf("org add: an organisation named %q already exists", o.Name)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, created.ID)
	return nil
}

func userCommand(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "add" {
		return usageError{"usage: sciflow user add --username U --name N --roles R1,R2 --org N --password-stdin"}
	}
	fs := flags(e, "user add")
	username := fs.String("username", "", "login name")
	name := fs.String("name", "", "the person's name")
	roles := fs.String("roles", "", "comma-separated roles")
	org := fs.String("org", "", "the user's organisation, by name or id")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if !*pwStdin {
		return usageError{"user add: --password-stdin is required (passwords are never taken as arguments)"}
	}
	u, err := identity.NormalizeUsername(*username)
	if err != nil {
		return errors.New("user add: --username must be 2-64 of a-z, 0-9, '.', '_' or '-', starting with a letter or digit")
	}
	if strings.TrimSpace(*name) == "" {
		return usageError{"user add: --name is required"}
	}
	rs, err := identity.ParseRoles(*roles)
	if err != nil {
		return fmt.Errorf("user add: --roles: %s", errs.As(err).Msg.En)
	}
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return errors.New("user add: no password on standard input")
	}
	pw := strings.TrimRight(line, "\r\n")
	if err := identity.CheckPasswordPolicy(pw, u); err != nil {
		return fmt.Errorf("user add: %s", errs.As(err).Msg.En)
	}
	cfg, log, err := commandSetup(e)
	if err != nil {
		return err
	}
	b, err := openBackend(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer b.close()
	o, err := b.db.OrgByRef(ctx, *org)
	if err != nil {
		return fmt.Errorf("user add: organisation %q: %w", *org, err)
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	created, err := b.db.CreateUser(ctx, identity.User{Username: u, Name: strings.TrimSpace(*name), OrgID: o.ID, Roles: rs}, hash)
	if errs.CodeOf(err) == errs.Conflict {
		return fmt.Errorf("user add: the username %q is taken", u)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, created.ID)
	return nil
}
