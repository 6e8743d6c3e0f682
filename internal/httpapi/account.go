package httpapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/account"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
)

type registrationRequest struct {
	Kind       string `json:"kind"`
	Username   string `json:"username"`
	Password   string `json:"password"`
	Name       string `json:"name"`
	Phone      string `json:"phone"`
	Email      string `json:"email"`
	OrgName    string `json:"org_name"`
	CreditCode string `json:"credit_code"`
	Parent     string `json:"parent"`
	Employer   string `json:"employer"`
	Address    string `json:"-"`
}

// register is self-service registration, open to anyone.
func (s *Server) register(c echo.Context) error {
	var req registrationRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	req.Address = c.RealIP()
	u, app, err := s.accounts.Register(c.Request().Context(), account.Registration(req))
	if err != nil {
		return err
	}
	uj, err := s.userJSON(c, &u)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"user": uj,
		"verification": toApplicationJSON(app, English(c.Request()))})
}

type resetRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

func (s *Server) resetPassword(c echo.Context) error {
	var req resetRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if _, err := s.accounts.ResetPassword(c.Request().Context(), req.Token, req.Password); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type orgRequest struct {
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	Parent     string `json:"parent"`
	CreditCode string `json:"credit_code"`
}

type orgDetailJSON struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Kind       string  `json:"kind"`
	ParentID   *string `json:"parent_id"`
	CreditCode string  `json:"credit_code,omitempty"`
}

func toOrgDetail(o identity.Org) orgDetailJSON {
	out := orgDetailJSON{ID: o.ID, Name: o.Name, Kind: string(o.Kind), CreditCode: o.CreditCode}
	if o.ParentID != "" {
		out.ParentID = &o.ParentID
	}
	return out
}

// listOrgs is the register of organisations, which every signed-in user may
// read (names of units are public knowledge; choosing a recommending unit
// needs them).
func (s *Server) listOrgs(c echo.Context) error {
	if _, err := currentUser(c); err != nil {
		return err
	}
	orgs, err := s.db.Orgs(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]orgDetailJSON, 0, len(orgs))
	for _, o := range orgs {
		out = append(out, toOrgDetail(o))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) createOrg(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	var req orgRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	o, err := s.accounts.CreateOrg(c.Request().Context(), u, identity.Org{Name: req.Name, Kind: identity.OrgKind(req.Kind),
		ParentID: req.Parent, CreditCode: req.CreditCode})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toOrgDetail(o))
}

type userDetailJSON struct {
	ID         string   `json:"id"`
	Username   string   `json:"username"`
	Name       string   `json:"name"`
	Email      *string  `json:"email"`
	Roles      []string `json:"roles"`
	OrgID      string   `json:"org_id"`
	Individual bool     `json:"individual"`
	Disabled   bool     `json:"disabled"`
	CreatedAt  string   `json:"created_at"`
}

func toUserDetail(u identity.User) userDetailJSON {
	return userDetailJSON{ID: u.ID, Username: u.Username, Name: u.Name, Email: emailJSON(u.Email),
		Roles: identity.RoleStrings(u.Roles), OrgID: u.OrgID, Individual: u.Individual, Disabled: u.Disabled,
		CreatedAt: timeJSON(u.Created)}
}

// emailJSON is null for an account without an address, like parent_id for
// an organisation without a parent: the field is always there.
func emailJSON(email string) *string {
	if email == "" {
		return nil
	}
	return &email
}

// accountReader lets administrators and auditors read the accounts.
func accountReader(c echo.Context) (*identity.User, error) {
	u, err := currentUser(c)
	if err != nil {
		return nil, err
	}
	if !u.Has(identity.Admin) && !u.Has(identity.Auditor) {
		return nil, errs.E(errs.Forbidden, "仅系统管理员和审计人员可查看账号", "only administrators and auditors may list accounts")
	}
	return u, nil
}

func (s *Server) listUsers(c echo.Context) error {
	if _, err := accountReader(c); err != nil {
		return err
	}
	users, err := s.db.Users(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]userDetailJSON, 0, len(users))
	for _, u := range users {
		out = append(out, toUserDetail(u))
	}
	return c.JSON(http.StatusOK, out)
}

type userRequest struct {
	Username    string   `json:"username"`
	Name        string   `json:"name"`
	Roles       []string `json:"roles"`
	Org         string   `json:"org"`
	Password    string   `json:"password"`
	Email       string   `json:"email"`
	Specialties []string `json:"specialties"`
	Conflicts   []string `json:"conflicts"`
}

func toRoles(rs []string) []identity.Role {
	out := make([]identity.Role, len(rs))
	for i, r := range rs {
		out[i] = identity.Role(strings.TrimSpace(r))
	}
	return out
}

func (s *Server) createUser(c echo.Context) error {
	actor, err := currentUser(c)
	if err != nil {
		return err
	}
	var req userRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	u, err := s.accounts.CreateUser(c.Request().Context(), actor, account.NewUser{
		User: identity.User{Username: req.Username, Name: req.Name, Roles: toRoles(req.Roles), OrgID: req.Org,
			Email: req.Email},
		Password: req.Password, Specialties: req.Specialties, ConflictOrgs: req.Conflicts})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toUserDetail(u))
}

type userPatchRequest struct {
	Name        *string   `json:"name"`
	Roles       []string  `json:"roles"`
	Disabled    *bool     `json:"disabled"`
	Email       *string   `json:"email"` // "" removes the address
	Specialties *[]string `json:"specialties"`
	Conflicts   *[]string `json:"conflicts"`
}

func (s *Server) updateUser(c echo.Context) error {
	actor, err := currentUser(c)
	if err != nil {
		return err
	}
	var req userPatchRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	ch := account.UserChange{Name: req.Name, Disabled: req.Disabled, Email: req.Email}
	if req.Roles != nil {
		ch.Roles = toRoles(req.Roles)
	}
	if req.Specialties != nil || req.Conflicts != nil {
		ch.ExpertSet = true
		if req.Specialties != nil {
			ch.Specialties = *req.Specialties
		}
		if req.Conflicts != nil {
			ch.ConflictOrgs = *req.Conflicts
		}
	}
	u, err := s.accounts.UpdateUser(c.Request().Context(), actor, c.Param("id"), ch)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toUserDetail(u))
}

// issueReset gives an administrator a one-time link to hand to the user.
func (s *Server) issueReset(c echo.Context) error {
	actor, err := currentUser(c)
	if err != nil {
		return err
	}
	token, expires, err := s.accounts.IssueReset(c.Request().Context(), actor, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"link": s.baseURL(c) + "/reset?token=" + url.QueryEscape(token),
		"expires_at": timeJSON(expires)})
}

func (s *Server) baseURL(c echo.Context) string {
	if s.publicURL != "" {
		return strings.TrimSuffix(s.publicURL, "/")
	}
	return c.Scheme() + "://" + c.Request().Host
}
