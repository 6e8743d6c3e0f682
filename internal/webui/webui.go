// Package webui serves the browser pages: server-rendered templates from web/,
// in Chinese by default and English on request. The pages work without
// script; the little script there is (upload progress, adding a row) only
// improves them. Every form that changes anything carries the session's
// CSRF token, and every page is rendered into a buffer before it is sent.
package webui

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/account"
	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/auth"
	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/httpapi"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/notify"
	"github.com/sciflow/sciflow/internal/postgres"
	"github.com/sciflow/sciflow/web"
)

// Deps is what the pages need.
type Deps struct {
	DB       *postgres.DB
	Engine   *engine.Engine
	Auth     *auth.Service
	Accounts *account.Service
	Sessions *auth.Sessions
	Notify   *notify.Service
	Chain    *audit.Chain
	// MaxUpload is the largest attachment accepted, in bytes.
	MaxUpload int64
}

// UI renders pages.
type UI struct {
	Deps
	pages map[string]*template.Template
}

// pageNames are the pages, each a file in web/templates besides the shared
// layout.html and parts.html.
var pageNames = []string{"index", "login", "register", "reset", "done", "notices", "notice",
	"apply", "apps", "app", "new", "tasks", "notifications", "record"}

// New parses every template once, so a broken template stops start-up
// instead of failing a request.
func New(d Deps) (*UI, error) {
	ui := &UI{Deps: d, pages: map[string]*template.Template{}}
	for _, name := range append(pageNames, consolePages...) {
		t, err := template.New(name).Funcs(funcs).ParseFS(web.Templates,
			"templates/layout.html", "templates/parts.html", "templates/"+name+".html")
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
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	e.GET("/static/*", echo.WrapHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Assets change only with the binary; a day's caching spares
		// every page load a round trip per file.
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})))
	e.GET("/", ui.index)
	e.GET("/login", ui.loginForm)
	e.POST("/login", ui.login)
	e.POST("/logout", ui.logout)
	e.GET("/register", ui.registerForm)
	e.POST("/register", ui.register)
	e.GET("/reset", ui.resetForm)
	e.POST("/reset", ui.reset)

	e.GET("/notices", ui.notices)
	e.GET("/notices/:id", ui.notice)
	e.POST("/notices/:id/objections", ui.object)

	e.GET("/apply", ui.signedIn(ui.apply))
	e.GET("/apps", ui.signedIn(ui.apps))
	e.GET("/apps/new", ui.signedIn(ui.newApp))
	e.POST("/apps", ui.signedIn(ui.createApp))
	e.GET("/apps/:id", ui.signedIn(ui.showApp))
	e.GET("/apps/:id/record", ui.signedIn(ui.record))
	e.GET("/apps/:id/record.css", ui.recordStyle)
	e.POST("/apps/:id/edit", ui.signedIn(ui.editApp))
	e.POST("/apps/:id/events", ui.signedIn(ui.fireEvent))
	e.POST("/apps/:id/attachments", ui.signedIn(ui.upload))
	e.POST("/apps/:id/answers", ui.signedIn(ui.answer))
	e.POST("/apps/:id/redact", ui.signedIn(ui.redact))
	e.POST("/apps/:id/reviewers", ui.signedIn(ui.addReviewer))

	e.GET("/tasks", ui.signedIn(ui.tasks))
	e.POST("/tasks/:id/decision", ui.signedIn(ui.decide))
	e.POST("/tasks/:id/recuse", ui.signedIn(ui.recuse))
	e.POST("/tasks/:id/recall", ui.signedIn(ui.recall))
	e.POST("/tasks/:id/delegate", ui.signedIn(ui.delegate))

	e.GET("/notifications", ui.signedIn(ui.notifications))
	e.POST("/notifications/:id/read", ui.signedIn(ui.readNotification))

	ui.mountConsole(e)
}

// pageData is what every page template sees.
type pageData struct {
	Lang    string
	En      bool
	Title   string
	Path    string
	User    *identity.User
	CSRF    string
	Nav     nav
	Message string // what went wrong, at the top of the page
	Flash   string // what went right, carried over a redirect
	Form    map[string]string
	Errors  map[string]string
	Units   []identity.Org
	// Nonce makes each form post of this page once-only: a double click
	// sends the same key, and the engine answers the second with the first.
	Nonce string
	// Page is what the page itself shows.
	Page any
}

// nav is the header's menu: the sections the user's roles open, with the
// counts that call for attention.
type nav struct {
	Apply, Tasks, Plan, Admin, Audit bool
	// Definitions: the console's workflow pages (administrators,
	// auditors, staff).
	Definitions                bool
	OpenTasks, Overdue, Unread int
}

type userKey struct{}

// signedIn sends a visitor to the sign-in page, and back here afterwards.
func (ui *UI) signedIn(h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u, err := ui.Sessions.User(c.Request().Context())
		if err != nil {
			return err
		}
		if u == nil {
			if c.Request().Method != http.MethodGet {
				return errs.E(errs.Unauthenticated, "登录已过期，请重新登录", "your session has ended; please sign in again")
			}
			return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
		}
		c.Set("webui.user", u)
		return h(c)
	}
}

// user is the signed-in user of a signedIn route.
func user(c echo.Context) *identity.User {
	u, _ := c.Get("webui.user").(*identity.User)
	return u
}

func (ui *UI) data(c echo.Context, zh, en string) (pageData, error) {
	ctx := c.Request().Context()
	d := pageData{En: english(c), Form: map[string]string{}, Errors: map[string]string{}, Path: c.Request().URL.Path}
	d.Title = pick(d.En, zh, en)
	u := user(c)
	if u == nil {
		var err error
		if u, err = ui.Sessions.User(ctx); err != nil {
			return d, err
		}
	}
	d.User = u
	var err error
	if d.CSRF, err = ui.Sessions.CSRF(ctx); err != nil {
		return d, err
	}
	d.Flash = ui.Sessions.Manager.PopString(ctx, "flash")
	if d.Nonce, err = auth.RandomToken(); err != nil {
		return d, err
	}
	if u != nil {
		d.Nav = nav{Apply: u.Has(identity.Applicant),
			Tasks: u.Has(identity.UnitReviewer) || u.Has(identity.Staff) || u.Has(identity.Expert) || u.Has(identity.Leader),
			Plan:  u.Has(identity.Staff) || u.Has(identity.Leader) || u.Has(identity.Auditor) || u.Has(identity.Admin),
			Admin: u.Has(identity.Admin), Audit: u.Has(identity.Auditor) || u.Has(identity.Admin),
			Definitions: requireDefinitionReader(u) == nil}
		b, err := ui.DB.Badges(ctx, u.ID, ui.Engine.Now())
		if err != nil {
			return d, err
		}
		d.Nav.OpenTasks, d.Nav.Overdue, d.Nav.Unread = b.OpenTasks, b.Overdue, b.Unread
	}
	return d, nil
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

// done ends a successful form post: the message goes with the redirect, so
// a reload does not post the form again.
func (ui *UI) done(c echo.Context, to, zh, en string) error {
	ui.Sessions.Manager.Put(c.Request().Context(), "flash", pick(english(c), zh, en))
	return c.Redirect(http.StatusSeeOther, to)
}

// checkCSRF refuses a form post without the session's token.
func (ui *UI) checkCSRF(c echo.Context) error {
	if !ui.Sessions.CheckCSRF(c.Request().Context(), c.FormValue("_csrf")) {
		return errs.E(errs.Forbidden, "页面已过期，请刷新后重试", "the page has expired; reload it and try again")
	}
	return nil
}

// failed shows err on the form again: field messages beside their fields,
// the rest at the top. Errors the page cannot show (not found, internal)
// go to the error handler.
func failed(d *pageData, err error) (int, bool) {
	e := errs.As(err)
	if e == nil || e.Code == errs.Internal || e.Code == errs.NotFound {
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
	case errs.Conflict:
		return http.StatusConflict, true
	case errs.TooLarge:
		return http.StatusRequestEntityTooLarge, true
	case errs.BadRequest:
		return http.StatusBadRequest, true
	}
	return http.StatusUnprocessableEntity, true
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

// localTime shows a time as the bureau reads it: China time, to the minute.
func localTime(t time.Time) string { return t.In(calendar.China).Format("2006-01-02 15:04") }
