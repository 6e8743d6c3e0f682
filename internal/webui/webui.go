// Package webui serves the browser pages: server-rendered templates from web/,
// in Chinese by default and English on request. Every form that changes
// anything carries the session's CSRF token.
package webui

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/account"
	"github.com/sciflow/sciflow/internal/auth"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/httpapi"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
	"github.com/sciflow/sciflow/web"
)

// Deps is what the pages need.
type Deps struct {
	DB       *postgres.DB
	Auth     *auth.Service
	Accounts *account.Service
	Sessions *auth.Sessions
}

// UI renders pages.
type UI struct {
	Deps
	pages map[string]*template.Template
}

// page names, each a file in web/templates besides layout.html.
var pageNames = []string{"index", "login", "register", "reset", "done"}

// New parses every template once, so a broken template stops start-up
// instead of failing a request.
func New(d Deps) (*UI, error) {
	funcs := template.FuncMap{
		// t picks the Chinese or English text.
		"t": func(en bool, zh, english string) string { return errs.Text{Zh: zh, En: english}.In(en) },
		// field passes one form field's error to the field-error template.
		"field": func(errors map[string]string, name string) map[string]any {
			return map[string]any{"Errors": errors, "Name": name}
		},
	}
	ui := &UI{Deps: d, pages: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(web.Templates, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", name, err)
		}
		ui.pages[name] = t
	}
	return ui, nil
}

// Mount adds the pages and static files to e.
func (ui *UI) Mount(e *echo.Echo) {
	static, _ := fs.Sub(web.Static, "static")
	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", http.FileServerFS(static))))
	e.GET("/", ui.index)
	e.GET("/login", ui.loginForm)
	e.POST("/login", ui.login)
	e.POST("/logout", ui.logout)
	e.GET("/register", ui.registerForm)
	e.POST("/register", ui.register)
	e.GET("/reset", ui.resetForm)
	e.POST("/reset", ui.reset)
}

// pageData is what every page template sees.
type pageData struct {
	Lang    string
	En      bool
	Title   string
	User    *identity.User
	CSRF    string
	Message string
	Form    map[string]string
	Errors  map[string]string
	Units   []identity.Org
}

func (ui *UI) data(c echo.Context, zh, en string) (pageData, error) {
	ctx := c.Request().Context()
	d := pageData{En: english(c), Form: map[string]string{}, Errors: map[string]string{}}
	d.Title = pick(d.En, zh, en)
	u, err := ui.Sessions.User(ctx)
	if err != nil {
		return d, err
	}
	d.User = u
	d.CSRF, err = ui.Sessions.CSRF(ctx)
	return d, err
}

// render executes into a buffer first, so a template error becomes a clean
// error page rather than half a page.
func (ui *UI) render(c echo.Context, status int, name string, data pageData) error {
	data.Lang = "zh-CN"
	if data.En {
		data.Lang = "en"
	}
	var buf bytes.Buffer
	if err := ui.pages[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.HTMLBlob(status, buf.Bytes())
}

// checkCSRF refuses a form post without the session's token.
func (ui *UI) checkCSRF(c echo.Context) error {
	if !ui.Sessions.CheckCSRF(c.Request().Context(), c.FormValue("_csrf")) {
		return errs.E(errs.Forbidden, "页面已过期，请刷新后重试", "the page has expired; reload it and try again")
	}
	return nil
}

// failed shows err on the form again: field messages beside their fields,
// the rest at the top.
func failed(d *pageData, err error) (int, bool) {
	e := errs.As(err)
	if e == nil || e.Code == errs.Internal {
		return 0, false
	}
	d.Message = e.Msg.In(d.En)
	for k, v := range e.Fields {
		d.Errors[k] = v.In(d.En)
	}
	switch e.Code {
	case errs.TooMany:
		return http.StatusTooManyRequests, true
	case errs.Unauthenticated:
		return http.StatusUnauthorized, true
	case errs.Forbidden:
		return http.StatusForbidden, true
	}
	return http.StatusUnprocessableEntity, true
}

func (ui *UI) index(c echo.Context) error {
	d, err := ui.data(c, "首页", "Home")
	if err != nil {
		return err
	}
	return ui.render(c, http.StatusOK, "index", d)
}

func (ui *UI) loginForm(c echo.Context) error {
	d, err := ui.data(c, "登录", "Sign in")
	if err != nil {
		return err
	}
	return ui.render(c, http.StatusOK, "login", d)
}

func (ui *UI) login(c echo.Context) error {
	d, err := ui.data(c, "登录", "Sign in")
	if err != nil {
		return err
	}
	if err := ui.checkCSRF(c); err != nil {
		return err
	}
	d.Form["username"] = c.FormValue("username")
	u, err := ui.Auth.LoginBrowser(c.Request().Context(), c.FormValue("username"), c.FormValue("password"), c.RealIP())
	if err != nil {
		status, ok := failed(&d, err)
		if !ok {
			return err
		}
		if e := errs.As(err); e.RetryAfter > 0 {
			c.Response().Header().Set("Retry-After", fmt.Sprint(int(e.RetryAfter.Seconds()+0.999)))
		}
		return ui.render(c, status, "login", d)
	}
	if err := ui.Sessions.SignIn(c.Request().Context(), u); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/")
}

func (ui *UI) logout(c echo.Context) error {
	ctx := c.Request().Context()
	if err := ui.checkCSRF(c); err != nil {
		return err
	}
	if u, err := ui.Sessions.User(ctx); err == nil && u != nil {
		if err := ui.Auth.LogoutBrowser(ctx, *u); err != nil {
			return err
		}
	}
	if err := ui.Sessions.SignOut(ctx); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/")
}

func (ui *UI) registerData(c echo.Context) (pageData, error) {
	d, err := ui.data(c, "注册", "Register")
	if err != nil {
		return d, err
	}
	orgs, err := ui.DB.Orgs(c.Request().Context())
	if err != nil {
		return d, err
	}
	// Enterprises name a recommending unit: a department (bureau kind).
	for _, o := range orgs {
		if o.Kind == identity.Bureau {
			d.Units = append(d.Units, o)
		}
	}
	return d, nil
}

func (ui *UI) registerForm(c echo.Context) error {
	d, err := ui.registerData(c)
	if err != nil {
		return err
	}
	return ui.render(c, http.StatusOK, "register", d)
}

func (ui *UI) register(c echo.Context) error {
	d, err := ui.registerData(c)
	if err != nil {
		return err
	}
	if err := ui.checkCSRF(c); err != nil {
		return err
	}
	for _, k := range []string{"kind", "username", "name", "phone", "org_name", "credit_code", "parent", "employer"} {
		d.Form[k] = c.FormValue(k)
	}
	_, _, err = ui.Accounts.Register(c.Request().Context(), account.Registration{Kind: d.Form["kind"],
		Username: d.Form["username"], Password: c.FormValue("password"), Name: d.Form["name"], Phone: d.Form["phone"],
		OrgName: d.Form["org_name"], CreditCode: d.Form["credit_code"], Parent: d.Form["parent"], Employer: d.Form["employer"],
		Address: c.RealIP()})
	if err != nil {
		status, ok := failed(&d, err)
		if !ok {
			return err
		}
		return ui.render(c, status, "register", d)
	}
	d.Title = pick(d.En, "注册成功", "Registered")
	d.Message = pick(d.En, "注册成功。您现在可以登录并填写申请草稿；认证通过后即可提交。",
		"You are registered. Sign in to draft applications; you can submit them once your registration is verified.")
	return ui.render(c, http.StatusCreated, "done", d)
}

func (ui *UI) resetForm(c echo.Context) error {
	d, err := ui.data(c, "设置新密码", "Set a new password")
	if err != nil {
		return err
	}
	d.Form["token"] = c.QueryParam("token")
	return ui.render(c, http.StatusOK, "reset", d)
}

func (ui *UI) reset(c echo.Context) error {
	d, err := ui.data(c, "设置新密码", "Set a new password")
	if err != nil {
		return err
	}
	if err := ui.checkCSRF(c); err != nil {
		return err
	}
	d.Form["token"] = c.FormValue("token")
	if _, err := ui.Accounts.ResetPassword(c.Request().Context(), d.Form["token"], c.FormValue("password")); err != nil {
		status, ok := failed(&d, err)
		if !ok {
			return err
		}
		return ui.render(c, status, "reset", d)
	}
	d.Title = pick(d.En, "密码已更新", "Password changed")
	d.Message = pick(d.En, "新密码已生效，其他设备上的登录已全部退出。", "Your new password is in effect; you are signed out everywhere else.")
	return ui.render(c, http.StatusOK, "done", d)
}

// english follows ?lang= (remembered in a cookie), then Accept-Language.
func english(c echo.Context) bool {
	if l := c.QueryParam("lang"); l == "en" || l == "zh" {
		c.SetCookie(&http.Cookie{Name: "lang", Value: l, Path: "/", MaxAge: int((365 * 24 * time.Hour).Seconds()),
			HttpOnly: true, SameSite: http.SameSiteLaxMode})
		return l == "en"
	}
	if ck, err := c.Cookie("lang"); err == nil && (ck.Value == "en" || ck.Value == "zh") {
		return ck.Value == "en"
	}
	return httpapi.English(c.Request())
}

func pick(en bool, zh, english string) string { return errs.Text{Zh: zh, En: english}.In(en) }
