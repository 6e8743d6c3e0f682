// Package webui serves the browser pages: server-rendered templates from web/,
// in Chinese by default and English on request.
package webui

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/httpapi"
	"github.com/sciflow/sciflow/web"
)

// UI renders pages.
type UI struct {
	pages map[string]*template.Template
}

// page names, each a file in web/templates besides layout.html.
var pageNames = []string{"index"}

// New parses every template once, so a broken template stops start-up
// instead of failing a request.
func New() (*UI, error) {
	funcs := template.FuncMap{
		// t picks the Chinese or English text.
		"t": func(en bool, zh, english string) string {
			if en {
				return english
			}
			return zh
		},
	}
	ui := &UI{pages: map[string]*template.Template{}}
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
}

// pageData is what every page template sees.
type pageData struct {
	Lang  string
	En    bool
	Title string
}

func (ui *UI) index(c echo.Context) error {
	en := english(c)
	return ui.render(c, "index", pageData{En: en, Title: pick(en, "首页", "Home")})
}

// render executes into a buffer first, so a template error becomes a clean
// error page rather than half a page.
func (ui *UI) render(c echo.Context, name string, data pageData) error {
	data.Lang = "zh-CN"
	if data.En {
		data.Lang = "en"
	}
	var buf bytes.Buffer
	if err := ui.pages[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	return c.HTMLBlob(http.StatusOK, buf.Bytes())
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

func pick(en bool, zh, english string) string {
	if en {
		return english
	}
	return zh
}
