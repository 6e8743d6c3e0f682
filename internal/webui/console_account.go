package webui

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/account"
	"github.com/sciflow/sciflow/internal/auth"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
)

// The console's account pages: the administrator's overview, users and
// organisations.

type adminHomePage struct {
	Users, Disabled, Orgs, Workflows int
	ByRole                           []roleCount
}

type roleCount struct {
	Role, Title string
	Count       int
}

func (ui *UI) adminHome(c echo.Context) error {
	if err := requireAdmin(user(c)); err != nil {
		return err
	}
	d, err := ui.data(c, "系统管理", "Administration")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	users, err := ui.DB.Users(ctx)
	if err != nil {
		return err
	}
	orgs, err := ui.DB.Orgs(ctx)
	if err != nil {
		return err
	}
	p := adminHomePage{Users: len(users), Orgs: len(orgs), Workflows: len(ui.Engine.Workflows())}
	counts := map[identity.Role]int{}
	for _, u := range users {
		if u.Disabled {
			p.Disabled++
		}
		for _, r := range u.Roles {
			counts[r]++
		}
	}
	for _, r := range identity.Roles {
		p.ByRole = append(p.ByRole, roleCount{Role: string(r), Title: word(roleWords, string(r), d.En), Count: counts[r]})
	}
	d.Page = p
	return ui.render(c, http.StatusOK, "console_admin", d)
}

// ---- /admin/users ----

// maxUserRows bounds the list; the filters find the rest.
const maxUserRows = 300

type usersPage struct {
	Users      []userRow
	Shown      int
	Matched    int
	Total      int
	Role, Q    string
	RoleFilter []option
	Roles      []option
	Orgs       []option
	// Checked are the roles ticked in the new-user form.
	Checked   map[string]bool
	Conflicts map[string]bool
	Failed    bool
}

type userRow struct {
	identity.User
	OrgName string
	Roles   []string
}

func (ui *UI) adminUsers(c echo.Context) error {
	if err := requireAdmin(user(c)); err != nil {
		return err
	}
	d, err := ui.data(c, "用户", "Users")
	if err != nil {
		return err
	}
	d.Form["credential"] = "password"
	return ui.renderUsers(c, d, http.StatusOK, nil, nil)
}

func (ui *UI) renderUsers(c echo.Context, d pageData, status int, checked, conflicts map[string]bool) error {
	ctx := c.Request().Context()
	users, err := ui.DB.Users(ctx)
	if err != nil {
		return err
	}
	orgs, err := ui.DB.Orgs(ctx)
	if err != nil {
		return err
	}
	orgName := make(map[string]string, len(orgs))
	for _, o := range orgs {
		orgName[o.ID] = o.Name
	}
	p := usersPage{Role: c.QueryParam("role"), Q: strings.TrimSpace(c.QueryParam("q")),
		Roles: roleOptions(d.En), Orgs: orgOptions(orgs, d.En), Total: len(users), Checked: checked, Conflicts: conflicts,
		Failed: status != http.StatusOK}
	p.RoleFilter = p.Roles
	q := strings.ToLower(p.Q)
	for _, u := range users {
		if p.Role != "" && !u.Has(identity.Role(p.Role)) {
			continue
		}
		if q != "" && !strings.Contains(strings.ToLower(u.Username+"\n"+u.Name+"\n"+u.Email+"\n"+orgName[u.OrgID]), q) {
			continue
		}
		p.Matched++
		if len(p.Users) < maxUserRows {
			p.Users = append(p.Users, userRow{User: u, OrgName: orgName[u.OrgID], Roles: roleList(u.Roles, d.En)})
		}
	}
	p.Shown = len(p.Users)
	d.Page = p
	return ui.render(c, status, "console_users", d)
}

func orgOptions(orgs []identity.Org, en bool) []option {
	out := make([]option, len(orgs))
	for i, o := range orgs {
		out[i] = option{Value: o.ID, Label: o.Name + "（" + word(orgKindWords, string(o.Kind), en) + "）"}
	}
	return out
}

// formRoles reads the ticked role boxes.
func formRoles(c echo.Context) ([]identity.Role, map[string]bool) {
	form, _ := c.FormParams()
	roles := []identity.Role{}
	ticked := map[string]bool{}
	for _, r := range form["roles"] {
		if !ticked[r] {
			roles = append(roles, identity.Role(r))
			ticked[r] = true
		}
	}
	return roles, ticked
}

// splitList reads a comma-, 、- or line-separated list.
func splitList(s string) []string {
	var out []string
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '，' || r == '、' || r == '\n' || r == ';' || r == '；' }) {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func tickedSet(values []string) map[string]bool {
	out := make(map[string]bool, len(values))
	for _, v := range values {
		out[v] = true
	}
	return out
}

// createUser mirrors POST /api/v1/users. Instead of a password the
// administrator may have a reset link issued, for the person to choose
// their own: the account then gets a random password nobody knows.
func (ui *UI) createUser(c echo.Context) error {
	d, actor, err := ui.adminPost(c, "用户", "Users")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	roles, ticked := formRoles(c)
	form, _ := c.FormParams()
	conflicts := form["conflicts"]
	for _, k := range []string{"username", "name", "org", "email", "phone", "specialties", "credential"} {
		d.Form[k] = strings.TrimSpace(c.FormValue(k))
	}
	link := d.Form["credential"] == "link"
	password := c.FormValue("password")
	if link {
		if password, err = unknownPassword(d.Form["username"]); err != nil {
			return err
		}
	}
	n := account.NewUser{User: identity.User{Username: d.Form["username"], Name: d.Form["name"], Roles: roles,
		OrgID: d.Form["org"], Email: d.Form["email"], Phone: d.Form["phone"]},
		Password: password, Specialties: splitList(d.Form["specialties"]), ConflictOrgs: conflicts}
	var created identity.User
	if d.Form["phone"] != "" && !identity.ValidPhone(d.Form["phone"]) {
		err = errs.E(errs.Invalid, "电话号码无效", "invalid phone number").
			Field("phone", "应为 11 位手机号或带区号的固定电话", "a mobile number or a landline with its area code")
	} else if d.Form["org"] == "" {
		err = errs.E(errs.Invalid, "请选择所属单位", "choose the organisation").Field("org", "必选", "required")
	} else {
		created, err = ui.Accounts.CreateUser(ctx, actor, n)
	}
	if err != nil {
		status, ok := failed(&d, err)
		if !ok {
			return err
		}
		return ui.renderUsers(c, d, status, ticked, tickedSet(conflicts))
	}
	if !link {
		return ui.done(c, "/admin/users/"+created.ID, "已创建用户 "+created.Username+"。", "User "+created.Username+" created.")
	}
	token, expires, err := ui.Accounts.IssueReset(ctx, actor, created.ID)
	if err != nil {
		return err
	}
	d.Form = map[string]string{}
	d.Flash = pick(d.En, "已创建用户 "+created.Username+"，并签发了设置密码的链接。", "User "+created.Username+" created, with a link to set a password.")
	return ui.renderUser(c, d, http.StatusOK, created.ID, "", &resetLink{Path: resetPath(token), Expires: expires})
}

// unknownPassword is a password that passes the policy and that nobody
// will ever know; the account is used after its reset link is spent.
func unknownPassword(username string) (string, error) {
	for {
		tok, err := auth.RandomToken()
		if err != nil {
			return "", err
		}
		pw := "Rs-9" + tok
		if identity.CheckPasswordPolicy(pw, username) == nil {
			return pw, nil
		}
	}
}

func resetPath(token string) string { return "/reset?token=" + url.QueryEscape(token) }

// ---- /admin/users/:id ----

type userPage struct {
	User     userRow
	Self     bool
	Expert   bool
	Roles    []option
	Orgs     []option
	Checked  map[string]bool
	Conflict map[string]bool
	// Failed names the form whose errors the page shows: edit, org or reset.
	Failed string
	Reset  *resetLink
}

// resetLink is shown once, right after it is issued; only its hash is kept.
type resetLink struct {
	Path    string
	Expires time.Time
}

func (ui *UI) adminUser(c echo.Context) error {
	if err := requireAdmin(user(c)); err != nil {
		return err
	}
	d, err := ui.data(c, "用户", "User")
	if err != nil {
		return err
	}
	return ui.renderUser(c, d, http.StatusOK, c.Param("id"), "", nil)
}

// renderUser draws the user's page; after a failed post (failed names the
// form) the fields show what was sent rather than what is stored.
func (ui *UI) renderUser(c echo.Context, d pageData, status int, id, failed string, reset *resetLink) error {
	ctx := c.Request().Context()
	u, err := ui.DB.User(ctx, id)
	if err != nil {
		return err
	}
	orgs, err := ui.DB.Orgs(ctx)
	if err != nil {
		return err
	}
	profile, err := ui.DB.ExpertProfile(ctx, u.ID)
	if err != nil {
		return err
	}
	row := userRow{User: u, Roles: roleList(u.Roles, d.En)}
	for _, o := range orgs {
		if o.ID == u.OrgID {
			row.OrgName = o.Name
		}
	}
	p := userPage{User: row, Self: user(c).ID == u.ID, Expert: u.Has(identity.Expert),
		Roles: roleOptions(d.En), Orgs: orgOptions(orgs, d.En), Failed: failed, Reset: reset}
	d.Title = pick(d.En, "用户：", "User: ") + u.Username
	if failed == "edit" {
		form, _ := c.FormParams()
		_, p.Checked = formRoles(c)
		p.Conflict = tickedSet(form["conflicts"])
	} else {
		p.Checked = tickedSet(identity.RoleStrings(u.Roles))
		p.Conflict = tickedSet(profile.ConflictOrgs)
		d.Form["name"], d.Form["email"], d.Form["specialties"] = u.Name, u.Email, strings.Join(profile.Specialties, "，")
		if u.Disabled {
			d.Form["disabled"] = "1"
		}
	}
	if failed != "org" {
		d.Form["org"] = u.OrgID
	}
	d.Page = p
	return ui.render(c, status, "console_user", d)
}

// adminPost begins an administrator's form post: the role, the page's data
// to show errors on, and the CSRF check.
func (ui *UI) adminPost(c echo.Context, zh, en string) (pageData, *identity.User, error) {
	actor := user(c)
	if err := requireAdmin(actor); err != nil {
		return pageData{}, nil, err
	}
	d, err := ui.data(c, zh, en)
	if err != nil {
		return d, nil, err
	}
	return d, actor, ui.checkCSRF(c)
}

// updateUser mirrors PATCH /api/v1/users/{id}. Roles and the disabled flag
// are sent only when they change, so that administrators may edit their own
// name and address (the service refuses them their own roles); an expert's
// specialties and conflicts come from the same form, so they are sent with
// every change to an expert.
func (ui *UI) updateUser(c echo.Context) error {
	d, actor, err := ui.adminPost(c, "用户", "User")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	id := c.Param("id")
	target, err := ui.DB.User(ctx, id)
	if err != nil {
		return err
	}
	roles, _ := formRoles(c)
	form, _ := c.FormParams()
	for _, k := range []string{"name", "email", "specialties", "disabled"} {
		d.Form[k] = strings.TrimSpace(c.FormValue(k))
	}
	ch := account.UserChange{Name: ptr(d.Form["name"]), Email: ptr(d.Form["email"])}
	if !sameRoles(roles, target.Roles) {
		ch.Roles = roles
	}
	if disabled := d.Form["disabled"] == "1"; disabled != target.Disabled {
		ch.Disabled = &disabled
	}
	after := target.Roles
	if ch.Roles != nil {
		after = ch.Roles
	}
	if slices.Contains(after, identity.Expert) {
		ch.ExpertSet, ch.Specialties, ch.ConflictOrgs = true, splitList(d.Form["specialties"]), form["conflicts"]
	}
	if _, err := ui.Accounts.UpdateUser(ctx, actor, id, ch); err != nil {
		status, ok := failed(&d, err)
		if !ok {
			return err
		}
		return ui.renderUser(c, d, status, id, "edit", nil)
	}
	return ui.done(c, "/admin/users/"+id, "已保存。", "Saved.")
}

func ptr(s string) *string { return &s }

func sameRoles(a, b []identity.Role) bool {
	if len(a) != len(b) {
		return false
	}
	for _, r := range a {
		if !slices.Contains(b, r) {
			return false
		}
	}
	return true
}

// moveUser puts the account under another organisation.
func (ui *UI) moveUser(c echo.Context) error {
	d, actor, err := ui.adminPost(c, "用户", "User")
	if err != nil {
		return err
	}
	id := c.Param("id")
	d.Form["org"] = c.FormValue("org")
	if _, err := ui.Accounts.MoveUser(c.Request().Context(), actor, id, d.Form["org"]); err != nil {
		status, ok := failed(&d, err)
		if !ok {
			return err
		}
		return ui.renderUser(c, d, status, id, "org", nil)
	}
	return ui.done(c, "/admin/users/"+id, "已调整所属单位。", "Organisation changed.")
}

// issueReset mirrors POST /api/v1/users/{id}/password-reset. The link is
// shown in the answer to the post, once, and kept nowhere else.
func (ui *UI) issueReset(c echo.Context) error {
	d, actor, err := ui.adminPost(c, "用户", "User")
	if err != nil {
		return err
	}
	id := c.Param("id")
	token, expires, err := ui.Accounts.IssueReset(c.Request().Context(), actor, id)
	if err != nil {
		status, ok := failed(&d, err)
		if !ok {
			return err
		}
		return ui.renderUser(c, d, status, id, "reset", nil)
	}
	return ui.renderUser(c, d, http.StatusOK, id, "", &resetLink{Path: resetPath(token), Expires: expires})
}

// ---- /admin/orgs ----

type orgsPage struct {
	Orgs    []orgRow
	Total   int
	Kind, Q string
	Kinds   []option
	Parents []option
	Failed  bool
}

type orgRow struct {
	identity.Org
	KindWord, ParentName string
	Users                int
}

func (ui *UI) adminOrgs(c echo.Context) error {
	if err := requireAdmin(user(c)); err != nil {
		return err
	}
	d, err := ui.data(c, "单位", "Organisations")
	if err != nil {
		return err
	}
	return ui.renderOrgs(c, d, http.StatusOK)
}

func (ui *UI) renderOrgs(c echo.Context, d pageData, status int) error {
	ctx := c.Request().Context()
	orgs, err := ui.DB.Orgs(ctx)
	if err != nil {
		return err
	}
	users, err := ui.DB.Users(ctx)
	if err != nil {
		return err
	}
	members := map[string]int{}
	for _, u := range users {
		members[u.OrgID]++
	}
	name := make(map[string]string, len(orgs))
	for _, o := range orgs {
		name[o.ID] = o.Name
	}
	p := orgsPage{Total: len(orgs), Kind: c.QueryParam("kind"), Q: strings.TrimSpace(c.QueryParam("q")),
		Parents: orgOptions(orgs, d.En), Failed: status != http.StatusOK}
	for _, k := range identity.OrgKinds {
		p.Kinds = append(p.Kinds, option{Value: string(k), Label: word(orgKindWords, string(k), d.En)})
	}
	q := strings.ToLower(p.Q)
	for _, o := range orgs {
		if p.Kind != "" && string(o.Kind) != p.Kind {
			continue
		}
		if q != "" && !strings.Contains(strings.ToLower(o.Name+"\n"+o.CreditCode+"\n"+name[o.ParentID]), q) {
			continue
		}
		p.Orgs = append(p.Orgs, orgRow{Org: o, KindWord: word(orgKindWords, string(o.Kind), d.En), ParentName: name[o.ParentID],
			Users: members[o.ID]})
	}
	d.Page = p
	return ui.render(c, status, "console_orgs", d)
}

// createOrg mirrors POST /api/v1/orgs.
func (ui *UI) createOrg(c echo.Context) error {
	d, actor, err := ui.adminPost(c, "单位", "Organisations")
	if err != nil {
		return err
	}
	for _, k := range []string{"name", "kind", "parent", "credit_code"} {
		d.Form[k] = strings.TrimSpace(c.FormValue(k))
	}
	o, err := ui.Accounts.CreateOrg(c.Request().Context(), actor, identity.Org{Name: d.Form["name"],
		Kind: identity.OrgKind(d.Form["kind"]), ParentID: d.Form["parent"], CreditCode: d.Form["credit_code"]})
	if err != nil {
		status, ok := failed(&d, err)
		if !ok {
			return err
		}
		return ui.renderOrgs(c, d, status)
	}
	return ui.done(c, "/admin/orgs", "已创建单位 "+o.Name+"。", "Organisation "+o.Name+" created.")
}
