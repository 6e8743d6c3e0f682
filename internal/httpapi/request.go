package httpapi

import (
	"bytes"
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
	"unicode/utf16"
	"unicode/utf8"

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
	raw, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, maxJSONBody))
	if err != nil {
		return jsonError(err)
	}
	if !storableJSON(raw) {
		return errUnstorableText
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errs.E(errs.BadRequest, "JSON 之后还有多余内容", "unexpected data after the JSON value")
	}
	return nil
}

// errUnstorableText refuses text that could not be kept exactly as sent:
// PostgreSQL stores no NUL in text or jsonb (the insert would fail half-way
// through a request), and encoding/json silently replaces bytes that are not
// UTF-8, and halves of surrogate pairs, with U+FFFD. Refusing the request
// whole means what is stored is always byte for byte what was sent.
var errUnstorableText = errs.E(errs.BadRequest, "请求含有无法保存的文本（无效的 UTF-8 编码或 NUL 字符）",
	"the request holds text that cannot be stored (not valid UTF-8, or a NUL character)")

// storableText reports whether s is UTF-8 without NUL.
func storableText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// storableJSON reports whether a JSON text's strings are all storable: the
// bytes are UTF-8 and no escape spells NUL or half a surrogate pair. It
// reads escapes only: in JSON a backslash appears only inside strings, and
// whatever else is wrong the decoder reports.
func storableJSON(raw []byte) bool {
	if !utf8.Valid(raw) {
		return false
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' || i+1 >= len(raw) {
			continue
		}
		i++ // the escaped character: "\\u0000" is a backslash and "u0000"
		if raw[i] != 'u' {
			continue
		}
		r, ok := hexRune(raw[i+1:])
		if !ok {
			continue
		}
		i += 4
		switch {
		case r == 0:
			return false
		case utf16.IsSurrogate(r):
			if r >= 0xdc00 || i+2 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
				return false
			}
			low, ok := hexRune(raw[i+3:])
			if !ok || low < 0xdc00 || low > 0xdfff {
				return false
			}
			i += 6
		}
	}
	return true
}

// hexRune reads the four hex digits of a \u escape.
func hexRune(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// refuseUnstorableText answers 400 to a request whose path, query or
// URL-encoded form carries text that could not be stored as sent (see
// errUnstorableText), before any handler reads it: the pages read their
// forms field by field in many places, and a search for a NUL would
// otherwise reach PostgreSQL and fail there as an internal error. JSON
// bodies are checked by bind, multipart fields by ReadUpload.
func refuseUnstorableText(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if !storableText(req.URL.Path) || !storableValues(req.URL.Query()) {
			return errUnstorableText
		}
		if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
			if err := req.ParseForm(); err != nil {
				// A body over the limit is answered as such; other
				// malformed forms are left to the handlers, as before.
				var he *echo.HTTPError
				var tooBig *http.MaxBytesError
				if errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge || errors.As(err, &tooBig) {
					return errs.E(errs.TooLarge, "请求内容过大", "the request body is too large")
				}
			}
			if !storableValues(req.PostForm) {
				return errUnstorableText
			}
		}
		return next(c)
	}
}

func storableValues(v map[string][]string) bool {
	for k, vs := range v {
		if !storableText(k) {
			return false
		}
		for _, s := range vs {
			if !storableText(s) {
				return false
			}
		}
	}
	return true
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
