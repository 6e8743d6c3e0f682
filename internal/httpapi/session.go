package httpapi

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
)

const (
	userKey  = "sciflow.user"
	tokenKey = "sciflow.token"
)

// authenticate recognises a bearer token when one is sent. Routes that need
// a user call currentUser; a bad token is refused even on routes that
// would work without one, so a client learns at once that it has expired.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get("Authorization")
		if h == "" {
			return s.sessionUser(c, next)
		}
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return errs.E(errs.Unauthenticated, "Authorization 头应为 Bearer 令牌", "the Authorization header must be a Bearer token")
		}
		u, err := s.auth.Authenticate(c.Request().Context(), strings.TrimSpace(token))
		if err != nil {
			return err
		}
		c.Set(userKey, &u)
		c.Set(tokenKey, strings.TrimSpace(token))
		return next(c)
	}
}

// sessionUser recognises a browser's session. A state-changing request on
// a session must carry the session's CSRF token in X-CSRF-Token: the cookie
// alone, which any site can make a browser send, proves nothing.
func (s *Server) sessionUser(c echo.Context, next echo.HandlerFunc) error {
	if s.sessions == nil {
		return next(c)
	}
	ctx := c.Request().Context()
	u, err := s.sessions.User(ctx)
	if err != nil {
		return err
	}
	if u == nil {
		return next(c)
	}
	switch c.Request().Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if !s.sessions.CheckCSRF(ctx, c.Request().Header.Get("X-CSRF-Token")) {
			return errs.E(errs.Forbidden, "缺少或错误的 CSRF 令牌，请刷新页面后重试", "missing or wrong CSRF token; reload the page and try again")
		}
	}
	c.Set(userKey, u)
	return next(c)
}

// currentUser is the signed-in caller, or 401.
func currentUser(c echo.Context) (*identity.User, error) {
	if u, ok := c.Get(userKey).(*identity.User); ok && u != nil {
		return u, nil
	}
	return nil, errs.E(errs.Unauthenticated, "请先登录", "please sign in")
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type userJSON struct {
	ID       string   `json:"id"`
	Username string   `json:"username"`
	Name     string   `json:"name"`
	Email    *string  `json:"email"`
	Roles    []string `json:"roles"`
	Org      orgJSON  `json:"org"`
}

type orgJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Kind string `json:"kind"`
}

func (s *Server) userJSON(c echo.Context, u *identity.User) (userJSON, error) {
	org, err := s.db.OrgByRef(c.Request().Context(), u.OrgID)
	if err != nil {
		return userJSON{}, err
	}
	return userJSON{ID: u.ID, Username: u.Username, Name: u.Name, Email: emailJSON(u.Email), Roles: identity.RoleStrings(u.Roles),
		Org: orgJSON{ID: org.ID, Name: org.Name, Kind: string(org.Kind)}}, nil
}

func (s *Server) login(c echo.Context) error {
	var req loginRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if req.Username == "" || req.Password == "" {
		return errs.E(errs.Invalid, "请输入用户名和密码", "username and password are required").
			Field("username", "必填", "required").Field("password", "必填", "required")
	}
	token, u, err := s.auth.Login(c.Request().Context(), req.Username, req.Password, c.RealIP())
	if err != nil {
		return err
	}
	uj, err := s.userJSON(c, &u)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"token": token, "user": uj})
}

func (s *Server) logout(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	token, _ := c.Get(tokenKey).(string)
	if token == "" && s.sessions != nil {
		// Signed in by a browser session: end it.
		if err := s.auth.LogoutBrowser(c.Request().Context(), *u); err != nil {
			return err
		}
		if err := s.sessions.SignOut(c.Request().Context()); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
	if err := s.auth.Logout(c.Request().Context(), token, *u); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) me(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	uj, err := s.userJSON(c, u)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, uj)
}
