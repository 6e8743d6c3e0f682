package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/errs"
)

type attachmentJSON struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Label        string `json:"label"`
	Size         int64  `json:"size"`
	SHA256       string `json:"sha256"`
	ContentType  string `json:"content_type"`
	Confidential bool   `json:"confidential"`
	CreatedAt    string `json:"created_at"`
	// RedactedAt: the file's content and name were removed (its name is
	// then its slot's key, and downloading it answers 410).
	RedactedAt *string `json:"redacted_at,omitempty"`
}

// maxTextPart is the most a short text part of an upload (a label, a slot)
// may hold.
const maxTextPart = 1024

func tooLarge(limit int64) error {
	mb := strconv.FormatInt(limit>>20, 10)
	return errs.E(errs.TooLarge, "附件不能超过 "+mb+" MiB", "attachments may not exceed "+mb+" MiB")
}

func (s *Server) uploadAttachment(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	in, text, err := ReadUpload(c, s.maxUpload, "label", "confidential")
	if err != nil {
		return err
	}
	in.Label, in.Confidential = text["label"], text["confidential"] == "true"
	a, err := s.engine.AddAttachment(c.Request().Context(), u, c.Param("id"), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toAttachmentJSON(a))
}

// ReadUpload reads a multipart upload of one file (part "file", at most max
// bytes) and the named short text parts; any other part is refused. The
// pages share it with the API, so both refuse the same things the same way.
func ReadUpload(c echo.Context, max int64, text ...string) (engine.AttachmentInput, map[string]string, error) {
	req := c.Request()
	// The whole request may carry the file plus a little form overhead.
	req.Body = http.MaxBytesReader(c.Response(), req.Body, max+64<<10)
	var in engine.AttachmentInput
	values := map[string]string{}
	mr, err := req.MultipartReader()
	if err != nil {
		return in, nil, errs.E(errs.BadRequest, "请以 multipart/form-data 上传文件", "upload the file as multipart/form-data")
	}
	gotFile := false
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return in, nil, tooLarge(max)
		}
		if err != nil {
			return in, nil, errs.E(errs.BadRequest, "上传内容格式不正确", "malformed multipart body")
		}
		switch name := part.FormName(); {
		case name == "file":
			var buf bytes.Buffer
			n, err := io.Copy(&buf, io.LimitReader(part, max+1))
			if errors.As(err, &tooBig) || n > max {
				return in, nil, tooLarge(max)
			}
			if err != nil {
				return in, nil, errs.E(errs.BadRequest, "文件读取失败", "the file could not be read")
			}
			in.Name, in.Content, gotFile = part.FileName(), buf.Bytes(), true
		case slices.Contains(text, name):
			// Read one byte past the limit, so that a longer value is
			// refused rather than cut (perhaps inside a character).
			b, err := io.ReadAll(io.LimitReader(part, maxTextPart+1))
			if errors.As(err, &tooBig) {
				return in, nil, tooLarge(max)
			}
			if err != nil {
				return in, nil, errs.E(errs.BadRequest, "上传内容格式不正确", "malformed multipart body")
			}
			if len(b) > maxTextPart {
				return in, nil, errs.E(errs.Invalid, name+" 过长", name+" is too long").
					Field(name, fmt.Sprintf("不能超过 %d 字节", maxTextPart), fmt.Sprintf("at most %d bytes", maxTextPart))
			}
			if !storableText(string(b)) {
				return in, nil, errUnstorableText
			}
			values[name] = string(b)
		default:
			return in, nil, errs.E(errs.BadRequest, "未知的参数："+name, "unknown parameter: "+name).
				Field(name, "未知的参数", "unknown parameter")
		}
	}
	if !gotFile || len(in.Content) == 0 && in.Name == "" {
		return in, nil, errs.E(errs.Invalid, "请选择文件", "a file is required").Field("file", "必填", "required")
	}
	return in, values, nil
}

func toAttachmentJSON(a engine.Attachment) attachmentJSON {
	out := attachmentJSON{ID: a.ID, Name: a.Name, Label: a.Label, Size: a.Size, SHA256: a.SHA256,
		ContentType: a.ContentType, Confidential: a.Confidential, CreatedAt: timeJSON(a.Created)}
	if a.Redacted != nil {
		t := timeJSON(*a.Redacted)
		out.RedactedAt = &t
	}
	return out
}

func (s *Server) downloadAttachment(c echo.Context) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	meta, content, err := s.engine.OpenAttachment(c.Request().Context(), u, c.Param("id"))
	if err != nil {
		return err
	}
	h := c.Response().Header()
	// Always a download, never rendered in our origin: an uploaded HTML
	// file must not run as our page.
	h.Set("Content-Disposition", attachmentDisposition(meta.Name))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox")
	h.Set("X-Checksum-SHA256", meta.SHA256)
	return c.Blob(http.StatusOK, meta.ContentType, content)
}

// attachmentDisposition names a download in RFC 6266's filename* form,
// percent-encoding every byte that is not an attr-char of RFC 8187: a name
// can hold ";", "=", quotes or anything else and still never end its
// parameter, add another, or break the header.
func attachmentDisposition(name string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.WriteString("attachment; filename*=UTF-8''")
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
