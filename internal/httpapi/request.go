package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/errs"
)

// maxJSONBody is the largest JSON request body; files go through the
// attachment endpoint, which has its own limit.
const maxJSONBody = 1 << 20

// bind decodes a JSON body into v strictly: malformed JSON, unknown fields,
// wrong types and trailing data are each a 400 that says what is wrong.
func bind(c echo.Context, v any) error {
	req := c.Request()
	if ct := req.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return errs.E(errs.BadRequest, "请求内容应为 JSON（Content-Type: application/json）", "the body must be JSON (Content-Type: application/json)")
		}
	}
	body := http.MaxBytesReader(c.Response(), req.Body, maxJSONBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errs.E(errs.BadRequest, "JSON 之后还有多余内容", "unexpected data after the JSON value")
	}
	return nil
}

func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return errs.E(errs.TooLarge, "请求内容过大", "the request body is too large")
	case errors.Is(err, io.EOF):
		return errs.E(errs.BadRequest, "请求内容为空", "the request body is empty")
	case errors.As(err, &syntax):
		return errs.E(errs.BadRequest, fmt.Sprintf("JSON 格式错误（第 %d 字节）", syntax.Offset),
			fmt.Sprintf("malformed JSON at byte %d", syntax.Offset))
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return errs.E(errs.BadRequest, "参数类型错误："+field, "wrong type for "+field).
			Field(field, "应为 "+jsonType(typ.Type.Kind().String()), "must be "+jsonType(typ.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errs.E(errs.BadRequest, "未知的参数："+name, "unknown parameter: "+name).Field(name, "未知的参数", "unknown parameter")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.E(errs.BadRequest, "JSON 不完整", "the JSON ends too early")
	}
	return errs.E(errs.BadRequest, "请求格式不正确", "malformed request")
}

func jsonType(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "map", "struct":
		return "object"
	case "slice", "array":
		return "array"
	case "bool":
		return "boolean"
	}
	return "number"
}

// checkQuery refuses query parameters the endpoint does not take: a typo in
// a filter should not silently return everything.
func checkQuery(c echo.Context, allowed ...string) error {
	for k := range c.QueryParams() {
		if !slices.Contains(allowed, k) {
			return errs.E(errs.BadRequest, "未知的参数："+k, "unknown parameter: "+k).Field(k, "未知的参数", "unknown parameter")
		}
	}
	return nil
}

func queryInt(c echo.Context, name string, def, lo, hi int) (int, error) {
	s := c.QueryParam(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, errs.E(errs.BadRequest, fmt.Sprintf("%s 应为 %d 到 %d 的整数", name, lo, hi), fmt.Sprintf("%s must be a whole number from %d to %d", name, lo, hi)).
			Field(name, fmt.Sprintf("应为 %d 到 %d 的整数", lo, hi), fmt.Sprintf("a whole number from %d to %d", lo, hi))
	}
	return n, nil
}

func queryTime(c echo.Context, name string) (time.Time, error) {
	s := c.QueryParam(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, errs.E(errs.BadRequest, name+" 应为 RFC 3339 时间", name+" must be an RFC 3339 time").
			Field(name, "应为 RFC 3339 时间", "an RFC 3339 time")
	}
	return t, nil
}

// timeJSON formats times for clients: RFC 3339 with the China offset.
func timeJSON(t time.Time) string { return t.In(calendar.China).Format(time.RFC3339Nano) }

func timePtrJSON(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := timeJSON(*t)
	return &s
}
