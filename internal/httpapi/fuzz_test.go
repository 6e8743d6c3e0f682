package httpapi

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/httpapi/apitest"
	"github.com/sciflow/sciflow/internal/postgres"
)

// fuzzUpload is the attachment limit of the fuzz server: small, so that
// the fuzzer reaches it.
const fuzzUpload = 4 << 10

// fuzzServer is the real server (middleware, limits, error handler) with
// two routes that stop where the engine would start: one reads an event
// as fireEvent does, one an upload as uploadAttachment does, and each
// answers what it read.
func fuzzServer(t testing.TB) *Server {
	// No route of these reaches the database: a handle that never
	// connects is enough.
	sqldb, err := sql.Open("postgres", "host=/nonexistent-socket-dir dbname=x sslmode=disable connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sqldb.Close() })
	s := New(Deps{DB: &postgres.DB{DB: sqlx.NewDb(sqldb, "postgres")}, Log: slog.New(slog.DiscardHandler), MaxUpload: fuzzUpload})
	s.echo.POST("/fuzz/events", func(c echo.Context) error {
		in, err := readEvent(c)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, in)
	})
	s.echo.POST("/fuzz/upload", func(c echo.Context) error {
		in, text, err := ReadUpload(c, fuzzUpload, "label", "confidential")
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{"name": in.Name, "size": len(in.Content), "text": text})
	})
	return s
}

// requireAnswer checks an answer is a success or API.md's error shape with
// the code of its status, and never a 5xx.
func requireAnswer(t *testing.T, rec *httptest.ResponseRecorder, ok ...int) {
	t.Helper()
	for _, code := range ok {
		if rec.Code == code {
			return
		}
	}
	// Bad input is refused as such, never found missing, in conflict or a 5xx.
	if rec.Code != 400 && rec.Code != 413 && rec.Code != 422 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if _, err := apitest.ErrorCode(rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// requireStorable fails on any string in v (map keys too) that PostgreSQL
// could not keep exactly: what the server accepts, it stores as sent.
func requireStorable(t *testing.T, v any) {
	t.Helper()
	switch v := v.(type) {
	case string:
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			t.Fatalf("accepted text that cannot be stored: %q", v)
		}
	case map[string]any:
		for k, x := range v {
			requireStorable(t, k)
			requireStorable(t, x)
		}
	case []any:
		for _, x := range v {
			requireStorable(t, x)
		}
	case []string:
		for _, x := range v {
			requireStorable(t, x)
		}
	}
}

// FuzzEventBody sends arbitrary bodies, content types and Idempotency-Keys
// to the event endpoint's reading: every answer is a 200 with what was
// read, or a 400, 413 or 422 in the error shape; never a 500 or a panic.
// What is accepted holds only text PostgreSQL can store as it was sent.
func FuzzEventBody(f *testing.F) {
	s := fuzzServer(f)
	for _, seed := range []struct{ ct, body, key string }{
		{"application/json", `{"event":"submit"}`, ""},
		{"application/json; charset=utf-8", `{"event":"send_back","comment":"请补充","questions":["中试场地？"],"expected_version":3}`, "k-1"},
		{"", `{"event":"approve","data":{"amount":100000,"nested":{"a":[1,"二",null,true]}}}`, "k-2"},
		{"application/json", `{"event":"submit","colour":"red"}`, ""},
		{"application/json", `{"event":5}`, ""},
		{"application/json", `{"event":"submit"} trailing`, ""},
		{"application/json", `{"event":"submit"`, ""},
		{"application/json", ``, ""},
		{"application/json", `{"event":""}`, ""},
		{"application/json", `{"event":"submit","comment":"a\u0000b"}`, ""},
		{"application/json", `{"event":"submit","comment":"a\ud800b"}`, ""},
		{"application/json", "{\"event\":\"submit\",\"comment\":\"a\xffb\"}", ""},
		{"application/json", `{"event":"submit","comment":"a\\u0000b \ud83d\ude00"}`, ""},
		{"application/json", `{"event":"submit","data":{"\u0000":1}}`, ""},
		{"application/json", `{"event":"submit","data":` + strings.Repeat("[", 10001) + `}`, ""},
		{"application/json", `{"event":"submit","expected_version":1e400}`, ""},
		{"application/json", `{"event":"submit"}`, strings.Repeat("k", 201)},
		{"application/json", `{"event":"submit"}`, "k\xff"},
		{"text/plain", `{"event":"submit"}`, ""},
		{"application/json; charset", `{"event":"submit"}`, ""},
		{"multipart/form-data; boundary=x", "--x\r\n\r\n--x--", ""},
	} {
		f.Add(seed.ct, []byte(seed.body), seed.key)
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte, key string) {
		req := httptest.NewRequest(http.MethodPost, "/fuzz/events", bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Idempotency-Key", key)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		requireAnswer(t, rec, http.StatusOK)
		if rec.Code != http.StatusOK {
			return
		}
		if !utf8.Valid(body) {
			t.Fatalf("a body that is not UTF-8 was accepted: %q", body)
		}
		var in engine.FireInput
		if err := json.Unmarshal(rec.Body.Bytes(), &in); err != nil {
			t.Fatal(err)
		}
		if in.Event == "" {
			t.Fatal("an event without its key was accepted")
		}
		requireStorable(t, in.Event)
		requireStorable(t, in.Comment)
		requireStorable(t, in.IdempotencyKey)
		requireStorable(t, in.Questions)
		requireStorable(t, map[string]any(in.Data))
	})
}

// FuzzUploadParts builds well-formed uploads from arbitrary file names,
// part content types, labels and contents: every answer is the file read
// (at most the limit, the label as sent) or the error shape.
func FuzzUploadParts(f *testing.F) {
	s := fuzzServer(f)
	for _, seed := range []struct{ name, ctype, label, content string }{
		{"报告.pdf", "application/pdf", "可行性报告", "%PDF-1.4"},
		{"../../etc/passwd", "text/plain", "", "root:x:0:0"},
		{`..\..\x.exe`, "application/octet-stream", "label", "MZ"},
		{"/etc/shadow", "", "", ""},
		{"a\x00b\r\nSet-Cookie: x=1\u202efdp.exe", "text/html", "a\x00b", "<script>alert(1)</script>"},
		{"x.pdf\"; filename=evil.exe", "application/pdf; charset=\"", "\xff\xfe", "x"},
		{"big.bin", "application/octet-stream", strings.Repeat("说", 400), strings.Repeat("a", fuzzUpload+1)},
		{"", "", "", ""},
	} {
		f.Add(seed.name, seed.ctype, seed.label, []byte(seed.content))
	}
	f.Fuzz(func(t *testing.T, name, ctype, label string, content []byte) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		h := textproto.MIMEHeader{}
		// RFC 2231's form carries any bytes in the name, as a client may.
		var enc strings.Builder
		for i := 0; i < len(name); i++ {
			fmt.Fprintf(&enc, "%%%02X", name[i])
		}
		h.Set("Content-Disposition", `form-data; name="file"; filename*=UTF-8''`+enc.String())
		if ctype != "" {
			h.Set("Content-Type", strings.Map(func(r rune) rune {
				if r < 0x20 || r == 0x7f {
					return -1
				}
				return r
			}, ctype))
		}
		pw, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		pw.Write(content)
		if err := mw.WriteField("label", label); err != nil {
			t.Fatal(err)
		}
		mw.Close()
		got, ok := postUpload(t, s, &buf, mw.FormDataContentType())
		if !ok {
			return
		}
		if got.Size != len(content) || got.Size > fuzzUpload {
			t.Fatalf("read %d bytes of %d (limit %d)", got.Size, len(content), fuzzUpload)
		}
		if got.Text["label"] != label {
			t.Fatalf("label %q read as %q", label, got.Text["label"])
		}
		requireStorable(t, label)
	})
}

// uploadAnswer is what the fuzz server's upload route answers: the file's
// size and the text fields read beside it.
type uploadAnswer struct {
	Size int
	Text map[string]string
}

// postUpload sends body to the upload route: the answer must be the file
// (ok) or the error shape.
func postUpload(t *testing.T, s *Server, body io.Reader, contentType string) (got uploadAnswer, ok bool) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/fuzz/upload", body)
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	requireAnswer(t, rec, http.StatusOK)
	if rec.Code != http.StatusOK {
		return got, false
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	return got, true
}

// FuzzUploadBody sends arbitrary bytes as a multipart body with an
// arbitrary boundary: the reader answers the file or the error shape,
// never a panic, a 500, or more than the limit.
func FuzzUploadBody(f *testing.F) {
	s := fuzzServer(f)
	f.Add("x", []byte("--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello\r\n--x--\r\n"))
	f.Add("x", []byte("--x\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nhello\r\n--x--\r\n"))
	f.Add("x", []byte("--x\r\nContent-Disposition: form-data; name=\"label\"\r\n\r\n"+strings.Repeat("l", 2000)+"\r\n--x--\r\n"))
	f.Add("x", []byte("--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n"+strings.Repeat("a", fuzzUpload*2)+"\r\n--x--\r\n"))
	f.Add("x", []byte("--x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n--x"))
	f.Add("x", []byte("--x--"))
	f.Add("", []byte(""))
	f.Add("\"", []byte("--\"\r\n"))
	f.Add(strings.Repeat("b", 71), []byte("--"+strings.Repeat("b", 71)+"\r\n\r\n"))
	f.Fuzz(func(t *testing.T, boundary string, body []byte) {
		got, ok := postUpload(t, s, bytes.NewReader(body),
			mime.FormatMediaType("multipart/form-data", map[string]string{"boundary": boundary}))
		if !ok {
			return
		}
		if got.Size > fuzzUpload {
			t.Fatalf("read %d bytes past the limit of %d", got.Size, fuzzUpload)
		}
		for _, v := range got.Text {
			requireStorable(t, v)
		}
	})
}

// FuzzAttachmentDisposition: whatever a stored name holds, the download's
// Content-Disposition is printable ASCII, one line, and parses back to
// exactly that name and no other parameter.
func FuzzAttachmentDisposition(f *testing.F) {
	for _, name := range []string{"报告.pdf", "plain.txt", `x.pdf"; filename=evil.exe`, "x.pdf; filename*=UTF-8''evil.exe",
		"a\r\nSet-Cookie: x=1", "100% (终稿).docx", "'quoted' & <tagged>", "\x00\xff", " "} {
		f.Add(name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if name == "" {
			return // the engine never stores an empty name
		}
		cd := attachmentDisposition(name)
		for i := 0; i < len(cd); i++ {
			if cd[i] < 0x20 || cd[i] >= 0x7f {
				t.Fatalf("byte %#x in %q", cd[i], cd)
			}
		}
		disposition, params, err := mime.ParseMediaType(cd)
		if err != nil {
			t.Fatalf("%q: %v", cd, err)
		}
		if disposition != "attachment" || len(params) != 1 || params["filename"] != name {
			t.Fatalf("%q parses as %q %q, not %q", cd, disposition, params, name)
		}
	})
}
