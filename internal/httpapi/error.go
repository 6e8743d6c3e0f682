package httpapi

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/text/language"

	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/postgres"
)

var statusOf = map[errs.Code]int{
	errs.BadRequest:      http.StatusBadRequest,
	errs.Unauthenticated: http.StatusUnauthorized,
	errs.Forbidden:       http.StatusForbidden,
	errs.NotFound:        http.StatusNotFound,
	errs.Conflict:        http.StatusConflict,
	errs.Invalid:         http.StatusUnprocessableEntity,
	errs.TooLarge:        http.StatusRequestEntityTooLarge,
	errs.TooMany:         http.StatusTooManyRequests,
	errs.Internal:        http.StatusInternalServerError,
	errs.Unavailable:     http.StatusServiceUnavailable,
	errs.Gone:            http.StatusGone,
}

var internalError = errs.E(errs.Internal, "服务器内部错误，请稍后重试", "internal error; please try again later")

// unavailableError answers a request the database could not serve (it is
// stopped, restarting or out of reach) or that ran out of its time: a
// client may try again, with the same Idempotency-Key where it sent one.
var unavailableError = &errs.Error{Code: errs.Unavailable,
	Msg:        errs.Text{Zh: "服务暂时不可用，请稍后重试", En: "the service is temporarily unavailable; please try again shortly"},
	RetryAfter: time.Second}

// errorBody is API.md's error shape.
type errorBody struct {
	Error struct {
		Code    errs.Code         `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields,omitempty"`
	} `json:"error"`
}

// handleError is the one place errors become answers: domain errors keep
// their code, Echo's own (no route, body too large) are translated, and
// anything else is logged and shown as a bare internal error.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	e := errs.As(err)
	if e == nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			e = fromEcho(he)
		}
	}
	if e == nil && (postgres.Unavailable(err) || errors.Is(c.Request().Context().Err(), context.DeadlineExceeded)) {
		// Not a fault of this program: the log says what, without the
		// alarm of an internal error.
		s.log.Warn("unavailable", "err", err, "request_id", c.Response().Header().Get(echo.HeaderXRequestID),
			"method", c.Request().Method, "path", c.Request().URL.Path)
		e = unavailableError
	}
	if e == nil {
		s.log.Error("internal error", "err", err, "request_id", c.Response().Header().Get(echo.HeaderXRequestID),
			"method", c.Request().Method, "path", c.Request().URL.Path)
		e = internalError
	}
	status := statusOf[e.Code]
	if he := (*echo.HTTPError)(nil); errors.As(err, &he) && he.Code == http.StatusMethodNotAllowed {
		status = http.StatusMethodNotAllowed
	}
	if e.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds()+0.999)))
	}
	en := English(c.Request())
	var body errorBody
	body.Error.Code = e.Code
	body.Error.Message = e.Msg.In(en)
	if len(e.Fields) > 0 {
		body.Error.Fields = make(map[string]string, len(e.Fields))
		for k, v := range e.Fields {
			body.Error.Fields[k] = v.In(en)
		}
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	if wantsHTML(c.Request()) {
		_ = c.HTML(status, errorPage(status, body.Error.Message, en))
		return
	}
	_ = c.JSON(status, body)
}

func fromEcho(he *echo.HTTPError) *errs.Error {
	switch he.Code {
	case http.StatusNotFound:
		return errs.ErrNotFound
	case http.StatusMethodNotAllowed:
		return errs.E(errs.BadRequest, "不支持该请求方法", "method not allowed")
	case http.StatusRequestEntityTooLarge:
		return errs.E(errs.TooLarge, "请求内容过大", "request too large")
	case http.StatusUnauthorized:
		return errs.E(errs.Unauthenticated, "请先登录", "please sign in")
	case http.StatusForbidden:
		return errs.E(errs.Forbidden, "无权执行此操作", "not allowed")
	case http.StatusTooManyRequests:
		return errs.E(errs.TooMany, "请求过于频繁，请稍后再试", "too many requests; try again later")
	case http.StatusBadRequest:
		return errs.E(errs.BadRequest, "请求格式不正确", "malformed request")
	case http.StatusServiceUnavailable:
		return unavailableError
	}
	if he.Code >= 400 && he.Code < 500 {
		return errs.E(errs.BadRequest, "请求无法处理", "the request cannot be handled")
	}
	return nil
}

var langMatcher = language.NewMatcher([]language.Tag{language.Chinese, language.English})

// English reports whether the caller prefers English; Chinese is the default.
func English(r *http.Request) bool {
	tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err != nil || len(tags) == 0 {
		return false
	}
	_, idx, conf := langMatcher.Match(tags...)
	return idx == 1 && conf != language.No
}

func wantsHTML(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "text/html") && !strings.HasPrefix(r.URL.Path, "/api/")
}

// errorPage is deliberately plain: it must render even when templates or the
// database are what failed.
func errorPage(status int, msg string, en bool) string {
	title, back := "出错了", "返回首页"
	lang := "zh-CN"
	if en {
		title, back, lang = "Something went wrong", "Back to the start page", "en"
	}
	return fmt.Sprintf(`<!doctype html><html lang="%s"><meta charset="utf-8"><title>%d %s</title>`+
		`<body><h1>%s</h1><p>%s</p><p><a href="/">%s</a></p></body></html>`,
		lang, status, title, title, html.EscapeString(msg), back)
}
