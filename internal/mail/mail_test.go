package mail

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/config"
)

const testFrom = "云阳县科技局 <noreply@example.gov.cn>"

// serverOptions shapes the test SMTP server.
type serverOptions struct {
	user, password string // when set, the server requires AUTH PLAIN with them
	rcptErr        error  // the answer to RCPT TO
	dataErr        error  // the answer to the end of DATA
	tls            *tls.Config
	implicitTLS    bool // TLS from the first byte; otherwise STARTTLS when tls is set
}

// delivery is one message the test server accepted.
type delivery struct {
	from string
	to   []string
	user string // who authenticated, if anyone
	tls  bool
	data []byte
}

// testServer is a real SMTP server (emersion/go-smtp) on a loopback port.
type testServer struct {
	addr string
	opts serverOptions

	mu         sync.Mutex
	deliveries []delivery
	authTries  int
}

func startServer(t *testing.T, opts serverOptions) *testServer {
	t.Helper()
	ts := &testServer{opts: opts}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{srv: ts, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	// Without TLS the server only offers AUTH when told it may; with TLS it
	// must be the TLS that lets it.
	srv.AllowInsecureAuth = opts.tls == nil
	var l net.Listener
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	if opts.tls != nil && opts.implicitTLS {
		l = tls.NewListener(l, opts.tls)
	} else {
		srv.TLSConfig = opts.tls
	}
	ts.addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ts
}

func (ts *testServer) received() []delivery {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]delivery(nil), ts.deliveries...)
}

func (ts *testServer) authAttempts() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.authTries
}

type session struct {
	srv  *testServer
	conn *smtp.Conn
	user string
	cur  delivery
}

func (s *session) AuthMechanisms() []string {
	if s.srv.opts.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, password string) error {
		s.srv.mu.Lock()
		s.srv.authTries++
		s.srv.mu.Unlock()
		if user != s.srv.opts.user || password != s.srv.opts.password {
			return smtp.ErrAuthFailed
		}
		s.user = user
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.opts.user != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.cur = delivery{from: from, user: s.user}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.srv.opts.rcptErr != nil {
		return s.srv.opts.rcptErr
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.srv.opts.dataErr != nil {
		return s.srv.opts.dataErr
	}
	s.cur.data = data
	_, s.cur.tls = s.conn.TLSConnectionState()
	s.srv.mu.Lock()
	s.srv.deliveries = append(s.srv.deliveries, s.cur)
	s.srv.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.cur = delivery{} }
func (s *session) Logout() error { return nil }

// newSender builds a Sender for addr; roots, when set, are the only CAs it trusts.
func newSender(t *testing.T, cfg config.SMTP, roots *x509.CertPool) *Sender {
	t.Helper()
	if cfg.From == "" {
		cfg.From = testFrom
	}
	s, err := New(cfg)
	require.NoError(t, err)
	require.NotNil(t, s)
	if roots != nil {
		s.tlsConfig.RootCAs = roots
	}
	return s
}

// testCert is a self-signed certificate for 127.0.0.1 and the pool that trusts it.
func testCert(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sciflow test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

func chineseMessage() Message {
	return Message{
		ID:      "notification-42",
		To:      "zhang.san@example.com",
		ToName:  "张三",
		Subject: "【催办】项目“智慧农业物联网平台”待您审核",
		Text:    "张三同志：\n\n项目“智慧农业物联网平台”已提交三个工作日，请尽快完成单位审核。\n\n云阳县科学技术局\n",
	}
}

// decodeBody undoes the transfer encoding the sender chose and checks that
// lines end in CRLF, as text must in MIME.
func decodeBody(t *testing.T, msg *netmail.Message) string {
	t.Helper()
	var r io.Reader = msg.Body
	switch cte := strings.ToLower(msg.Header.Get("Content-Transfer-Encoding")); cte {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "", "7bit", "8bit":
	default:
		t.Fatalf("unexpected Content-Transfer-Encoding %q", cte)
	}
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	require.Equal(t, strings.Count(string(b), "\n"), strings.Count(string(b), "\r\n"), "bare LF in the body")
	return text
}

func TestNewIsNilWhenOff(t *testing.T) {
	s, err := New(config.SMTP{})
	require.NoError(t, err)
	require.Nil(t, s)
	// A nil Sender refuses rather than panicking or pretending to send.
	err = s.Send(context.Background(), chineseMessage())
	require.Error(t, err)
	require.True(t, Permanent(err))
}

func TestNewValidates(t *testing.T) {
	_, err := New(config.SMTP{Addr: "smtp.example.gov.cn:25", From: testFrom, User: "u", Password: "p", TLS: config.SMTPPlain})
	require.ErrorContains(t, err, "SCIFLOW_SMTP_TLS=none")
	_, err = New(config.SMTP{Addr: "smtp.example.gov.cn:25", From: testFrom})
	require.ErrorContains(t, err, "SCIFLOW_SMTP_TLS")
}

func TestSendChineseArrivesIntact(t *testing.T) {
	srv := startServer(t, serverOptions{})
	s := newSender(t, config.SMTP{Addr: srv.addr, TLS: config.SMTPPlain}, nil)
	m := chineseMessage()
	require.NoError(t, s.Send(context.Background(), m))

	got := srv.received()
	require.Len(t, got, 1)
	require.Equal(t, "noreply@example.gov.cn", got[0].from)
	require.Equal(t, []string{"zhang.san@example.com"}, got[0].to)

	raw := got[0].data
	headerEnd := bytes.Index(raw, []byte("\r\n\r\n"))
	require.Positive(t, headerEnd)
	for i, b := range raw[:headerEnd] {
		require.Less(t, b, byte(0x80), "raw byte %d of the header is not ASCII: %s", i, raw[:headerEnd])
	}

	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	require.NoError(t, err)
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	require.Equal(t, m.Subject, subject)
	require.Equal(t, "<notification-42@example.gov.cn>", msg.Header.Get("Message-Id"))
	require.Equal(t, "auto-generated", msg.Header.Get("Auto-Submitted"))

	from, err := msg.Header.AddressList("From")
	require.NoError(t, err)
	require.Equal(t, []*netmail.Address{{Name: "云阳县科技局", Address: "noreply@example.gov.cn"}}, from)
	to, err := msg.Header.AddressList("To")
	require.NoError(t, err)
	require.Equal(t, []*netmail.Address{{Name: "张三", Address: "zhang.san@example.com"}}, to)
	_, err = msg.Header.Date()
	require.NoError(t, err)

	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "text/plain", mediaType)
	require.Equal(t, "utf-8", strings.ToLower(params["charset"]))
	require.Equal(t, m.Text, decodeBody(t, msg))
}

func TestSendRejectsInvalidMessagesWithoutConnecting(t *testing.T) {
	srv := startServer(t, serverOptions{})
	s := newSender(t, config.SMTP{Addr: srv.addr, TLS: config.SMTPPlain}, nil)
	for name, change := range map[string]func(*Message){
		"recipient without @":    func(m *Message) { m.To = "zhang.san" },
		"recipient with a name":  func(m *Message) { m.To = "张三 <zhang.san@example.com>" },
		"two recipients":         func(m *Message) { m.To = "a@example.com, b@example.com" },
		"ID with a space":        func(m *Message) { m.ID = "notification 42" },
		"ID with an @":           func(m *Message) { m.ID = "42@elsewhere" },
		"empty ID":               func(m *Message) { m.ID = "" },
		"subject not UTF-8":      func(m *Message) { m.Subject = "\xff\xfe" },
		"recipient name garbled": func(m *Message) { m.ToName = "\xc3" },
	} {
		t.Run(name, func(t *testing.T) {
			m := chineseMessage()
			change(&m)
			err := s.Send(context.Background(), m)
			require.Error(t, err)
			require.True(t, Permanent(err), "%v", err)
		})
	}
	require.Empty(t, srv.received())
}

func TestSendSubjectStaysOneLine(t *testing.T) {
	srv := startServer(t, serverOptions{})
	s := newSender(t, config.SMTP{Addr: srv.addr, TLS: config.SMTPPlain}, nil)
	m := chineseMessage()
	m.Subject = "第一行\r\nBcc: victim@example.com\n第二行"
	require.NoError(t, s.Send(context.Background(), m))
	got := srv.received()
	require.Len(t, got, 1)
	require.Equal(t, []string{"zhang.san@example.com"}, got[0].to)
	msg, err := netmail.ReadMessage(bytes.NewReader(got[0].data))
	require.NoError(t, err)
	require.Empty(t, msg.Header.Get("Bcc"))
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	require.Equal(t, "第一行 Bcc: victim@example.com 第二行", subject)
}

func TestSendAuthenticatesWithPlain(t *testing.T) {
	srv := startServer(t, serverOptions{user: "noreply", password: "右边-secret"})

	// none on 127.0.0.1 may carry credentials (config allows it on loopback only).
	s := newSender(t, config.SMTP{Addr: srv.addr, User: "noreply", Password: "右边-secret", TLS: config.SMTPPlain}, nil)
	require.NoError(t, s.Send(context.Background(), chineseMessage()))
	got := srv.received()
	require.Len(t, got, 1)
	require.Equal(t, "noreply", got[0].user)

	wrong := newSender(t, config.SMTP{Addr: srv.addr, User: "noreply", Password: "wrong", TLS: config.SMTPPlain}, nil)
	err := wrong.Send(context.Background(), chineseMessage())
	require.ErrorContains(t, err, "535")
	// Every message would fail alike until the operator fixes the password;
	// then the retries must still go out.
	require.False(t, Permanent(err))

	anonymous := newSender(t, config.SMTP{Addr: srv.addr, TLS: config.SMTPPlain}, nil)
	err = anonymous.Send(context.Background(), chineseMessage())
	require.ErrorContains(t, err, "502")
	require.False(t, Permanent(err))
	require.Len(t, srv.received(), 1)
}

func TestSendSTARTTLS(t *testing.T) {
	serverTLS, roots := testCert(t)
	srv := startServer(t, serverOptions{user: "noreply", password: "pw", tls: serverTLS})
	cfg := config.SMTP{Addr: srv.addr, User: "noreply", Password: "pw", TLS: config.SMTPStartTLS}

	require.NoError(t, newSender(t, cfg, roots).Send(context.Background(), chineseMessage()))
	got := srv.received()
	require.Len(t, got, 1)
	require.True(t, got[0].tls)
	require.Equal(t, "noreply", got[0].user)

	// Without the test CA the certificate is not trusted, and nothing is sent.
	err := newSender(t, cfg, nil).Send(context.Background(), chineseMessage())
	require.ErrorContains(t, err, "certificate")
	require.False(t, Permanent(err))
	require.Len(t, srv.received(), 1)
}

func TestSendSTARTTLSRequired(t *testing.T) {
	srv := startServer(t, serverOptions{user: "noreply", password: "pw"})
	s := newSender(t, config.SMTP{Addr: srv.addr, User: "noreply", Password: "pw", TLS: config.SMTPStartTLS}, nil)
	err := s.Send(context.Background(), chineseMessage())
	require.ErrorContains(t, err, "STARTTLS")
	require.False(t, Permanent(err))
	require.Zero(t, srv.authAttempts(), "the password must not be offered without TLS")
	require.Empty(t, srv.received())
}

func TestSendImplicitTLS(t *testing.T) {
	serverTLS, roots := testCert(t)
	srv := startServer(t, serverOptions{user: "noreply", password: "pw", tls: serverTLS, implicitTLS: true})
	s := newSender(t, config.SMTP{Addr: srv.addr, User: "noreply", Password: "pw", TLS: config.SMTPImplicitTLS}, roots)
	require.NoError(t, s.Send(context.Background(), chineseMessage()))
	got := srv.received()
	require.Len(t, got, 1)
	require.True(t, got[0].tls)
	require.Equal(t, "noreply", got[0].user)
}

func TestSendServerRefusals(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      serverOptions
		code      string
		permanent bool
	}{
		{"550 to the recipient", serverOptions{rcptErr: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}}, "550", true},
		{"451 to the recipient", serverOptions{rcptErr: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}}, "451", false},
		{"554 to the data", serverOptions{dataErr: &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "content rejected"}}, "554", true},
		{"452 to the data", serverOptions{dataErr: &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "disk full"}}, "452", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, tc.opts)
			s := newSender(t, config.SMTP{Addr: srv.addr, TLS: config.SMTPPlain}, nil)
			err := s.Send(context.Background(), chineseMessage())
			require.ErrorContains(t, err, tc.code)
			require.ErrorContains(t, err, "notification-42")
			require.Equal(t, tc.permanent, Permanent(err), "%v", err)
			require.Empty(t, srv.received())
		})
	}
}

// TestSendDeliveredThenHangUp: once the server has said 250 to the data, the
// message is its responsibility; a connection lost before QUIT must not make
// the caller send it again.
func TestSendDeliveredThenHangUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	data := make(chan []byte, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		tc := textproto.NewConn(c)
		_ = tc.PrintfLine("220 localhost ESMTP")
		for {
			line, err := tc.ReadLine()
			if err != nil {
				return
			}
			switch verb := strings.ToUpper(strings.Fields(line + " x")[0]); verb {
			case "EHLO":
				_ = tc.PrintfLine("250-localhost")
				_ = tc.PrintfLine("250 8BITMIME")
			case "DATA":
				_ = tc.PrintfLine("354 go ahead")
				b, err := tc.ReadDotBytes()
				if err != nil {
					return
				}
				_ = tc.PrintfLine("250 2.0.0 queued")
				data <- b
				return // hang up instead of waiting for QUIT
			default:
				_ = tc.PrintfLine("250 2.0.0 ok")
			}
		}
	}()

	s := newSender(t, config.SMTP{Addr: l.Addr().String(), TLS: config.SMTPPlain}, nil)
	require.NoError(t, s.Send(context.Background(), chineseMessage()))
	require.Contains(t, string(<-data), "Message-ID: <notification-42@example.gov.cn>")
}

func TestSendNothingListening(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	s := newSender(t, config.SMTP{Addr: addr, TLS: config.SMTPPlain}, nil)
	err = s.Send(context.Background(), chineseMessage())
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	require.False(t, Permanent(err))
}

// silentServer accepts connections and never says a word.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

// sendOrFail runs Send, failing the test if it has not returned after limit.
func sendOrFail(t *testing.T, ctx context.Context, s *Sender, limit time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Send(ctx, chineseMessage()) }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		t.Fatalf("Send still running after %s", limit)
		return nil
	}
}

func TestSendGivesUpOnSilentServer(t *testing.T) {
	t.Run("when the context ends", func(t *testing.T) {
		s := newSender(t, config.SMTP{Addr: silentServer(t), TLS: config.SMTPPlain}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		// Well below the 30 s I/O timeout: only ctx can have ended it.
		err := sendOrFail(t, ctx, s, 10*time.Second)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.False(t, Permanent(err))
	})
	t.Run("when the context ends during TLS", func(t *testing.T) {
		s := newSender(t, config.SMTP{Addr: silentServer(t), TLS: config.SMTPImplicitTLS}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		err := sendOrFail(t, ctx, s, 10*time.Second)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.False(t, Permanent(err))
	})
	t.Run("when the I/O timeout passes", func(t *testing.T) {
		s := newSender(t, config.SMTP{Addr: silentServer(t), TLS: config.SMTPPlain}, nil)
		s.timeout = 200 * time.Millisecond
		err := sendOrFail(t, context.Background(), s, 10*time.Second)
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		require.False(t, Permanent(err))
	})
}

func TestPermanent(t *testing.T) {
	require.False(t, Permanent(nil))
	require.False(t, Permanent(errors.New("anything else")))
	require.False(t, Permanent(context.DeadlineExceeded))
}
