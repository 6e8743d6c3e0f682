package webui

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/account"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
)

// Signing in and out, registering, and setting a new password.

func (ui *UI) loginForm(c echo.Context) error {
	d, err := ui.data(c, "登录", "Sign in")
	if err != nil {
		return err
	}
	d.Form["next"] = c.QueryParam("next")
	return ui.render(c, http.StatusOK, "login", d)
}

// localPath keeps a redirect after sign-in on this site: a path, not
// another host (//evil.example or /\evil.example).
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
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
	d.Form["next"] = c.FormValue("next")
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
	return c.Redirect(http.StatusSeeOther, localPath(d.Form["next"]))
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
