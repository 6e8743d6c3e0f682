// Package mail hands notification e-mails to the SMTP server the
// configuration names: one message per connection, and for a failure, whether
// trying again could help. Retrying and "never twice" belong to the caller.
package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"

	"github.com/sciflow/sciflow/internal/config"
)

// Timeout bounds the connection and every exchange with the server, so a
// server that stops answering cannot hold a worker for longer.
const Timeout = 30 * time.Second

// Message is one notification e-mail, plain text.
type Message struct {
	// ID is stable per notification and becomes the Message-ID, so that a
	// receiving system can recognise a repeat of a send whose answer was lost.
	// It must be a dot-atom (letters, digits, "-", "_", "." and the like).
	ID string
	// To is the recipient's bare address, ToName the name shown with it.
	To     string
	ToName string
	// Subject and Text may be any UTF-8 text; Chinese arrives intact.
	Subject string
	Text    string
}

// Sender sends Messages through one configured SMTP server. It holds no
// connection, so one Sender serves any number of goroutines.
type Sender struct {
	host string
	port int
	from *netmail.Address
	// domain is the From address's domain, the right half of Message-IDs: a
	// domain the sender controls keeps them unique and does not look forged.
	domain         string
	user, password string
	mode           config.SMTPTLS
	// tlsConfig verifies the server as host; tests swap in their own roots.
	tlsConfig *tls.Config
	timeout   time.Duration
}

// New returns a Sender for cfg, or nil and no error when e-mail is off
// (cfg.Addr empty), so that callers keep one nil check for "no e-mail".
func New(cfg config.SMTP) (*Sender, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	host, portText, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("mail: SCIFLOW_SMTP_ADDR: %w", err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("mail: SCIFLOW_SMTP_ADDR port: %w", err)
	}
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("mail: SCIFLOW_SMTP_FROM: %w", err)
	}
	return &Sender{
		host:      host,
		port:      port,
		from:      from,
		domain:    from.Address[strings.LastIndexByte(from.Address, '@')+1:],
		user:      cfg.User,
		password:  cfg.Password,
		mode:      cfg.TLS,
		tlsConfig: &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12},
		timeout:   Timeout,
	}, nil
}

// Send delivers m over a fresh connection. It returns nil once the server has
// accepted the message, even if saying goodbye fails afterwards: reporting
// that as a failure would make the caller send it twice. It gives up when ctx
// ends or the server stays silent for Timeout; Permanent tells whether the
// error is worth a retry.
func (s *Sender) Send(ctx context.Context, m Message) error {
	if s == nil {
		return &invalidError{errors.New("e-mail is off (SCIFLOW_SMTP_ADDR is empty)")}
	}
	msg, err := s.compose(m)
	if err != nil {
		return fmt.Errorf("send mail %s: %w", m.ID, err)
	}

	// conn is the socket under whatever go-mail layers on it; stopWatch ends
	// the watch that closes it when ctx ends.
	var conn net.Conn
	stopWatch := func() bool { return false }
	defer func() {
		stopWatch()
		// go-mail leaves the connection open when the greeting, STARTTLS or
		// AUTH fails; closing it here covers every path.
		if conn != nil {
			_ = conn.Close()
		}
	}()
	dial := func(dialCtx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(dialCtx, network, addr)
		if err != nil {
			return nil, err
		}
		conn = c
		// go-mail heeds ctx only while dialling; closing the socket when ctx
		// ends also cuts short a server that answers slowly or never.
		stopWatch = context.AfterFunc(ctx, func() { _ = c.Close() })
		if s.mode != config.SMTPImplicitTLS {
			return c, nil
		}
		tc := tls.Client(c, s.tlsConfig)
		if err := tc.HandshakeContext(dialCtx); err != nil {
			return nil, err
		}
		return tc, nil
	}

	client, err := s.client(dial)
	if err != nil {
		return fmt.Errorf("send mail %s: %w", m.ID, err)
	}
	smtpClient, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return s.failure(ctx, m, "connect to "+net.JoinHostPort(s.host, strconv.Itoa(s.port)), err)
	}
	err = client.SendWithSMTPClient(smtpClient, msg)
	// QUIT is a courtesy: its failure changes nothing about the message.
	_ = client.CloseWithSMTPClient(smtpClient)
	if msg.IsDelivered() {
		return nil
	}
	if err == nil {
		err = errors.New("server did not confirm delivery")
	}
	return s.failure(ctx, m, "deliver", err)
}

// failure wraps err, and ctx's own error when ctx ended, since a closed
// socket alone does not say the deadline was the cause.
func (s *Sender) failure(ctx context.Context, m Message, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("send mail %s: %s: %w: %w", m.ID, op, ctxErr, err)
	}
	return fmt.Errorf("send mail %s: %s: %w", m.ID, op, err)
}

// client configures go-mail for one send.
func (s *Sender) client(dial gomail.DialContextFunc) (*gomail.Client, error) {
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(s.timeout),
		gomail.WithDialContextFunc(dial),
		gomail.WithTLSConfig(s.tlsConfig),
		// The connection is fresh and carries one message: NOOP before it and
		// RSET after it are round trips that can only add failures.
		gomail.WithoutNoop(),
		gomail.WithoutRset(),
	}
	switch s.mode {
	case config.SMTPStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case config.SMTPImplicitTLS, config.SMTPPlain:
		// Implicit TLS is already in place when go-mail gets the connection
		// from dial, so it must not try STARTTLS on top.
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		return nil, fmt.Errorf("unknown TLS mode %q", s.mode)
	}
	if s.user != "" {
		mechs := []gomail.SMTPAuthType{gomail.SMTPAuthPlain, gomail.SMTPAuthLogin}
		if s.mode == config.SMTPPlain {
			// config.SMTP.Validate allows credentials without TLS only to a
			// loopback host; go-mail would otherwise refuse any but 127.0.0.1,
			// ::1 and localhost.
			mechs = []gomail.SMTPAuthType{gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc}
		}
		opts = append(opts,
			gomail.WithOpportunisticSMTPAuth(mechs...),
			gomail.WithUsername(s.user),
			gomail.WithPassword(s.password))
	}
	c, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return nil, fmt.Errorf("configure SMTP client: %w", err)
	}
	return c, nil
}

// compose checks m and builds the MIME message. Base64 rather than
// quoted-printable because the text is mostly Chinese: three bytes per
// character become four characters instead of nine.
func (s *Sender) compose(m Message) (*gomail.Msg, error) {
	if !isDotAtom(m.ID) {
		return nil, &invalidError{fmt.Errorf("message ID %q is not a dot-atom", m.ID)}
	}
	to, err := netmail.ParseAddress(m.To)
	if err != nil || to.Name != "" {
		return nil, &invalidError{fmt.Errorf("recipient %q is not a bare address", m.To)}
	}
	for _, f := range []struct{ name, value string }{{"recipient name", m.ToName}, {"subject", m.Subject}, {"text", m.Text}} {
		if !utf8.ValidString(f.value) {
			return nil, &invalidError{fmt.Errorf("%s is not valid UTF-8", f.name)}
		}
	}
	to.Name = m.ToName

	msg := gomail.NewMsg(
		gomail.WithCharset(gomail.CharsetUTF8),
		gomail.WithEncoding(gomail.EncodingB64),
		gomail.WithNoDefaultUserAgent(),
	)
	msg.FromMailAddress(s.from)
	msg.ToMailAddress(to)
	// A line break in a subject would be encoded, not injected, but reads
	// badly in every client.
	msg.Subject(strings.Join(strings.Fields(m.Subject), " "))
	msg.SetMessageIDWithValue(m.ID + "@" + s.domain)
	msg.SetDate()
	// RFC 3834: out-of-office replies and the like are not sent to a
	// machine's address.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	// Text is canonical with CRLF line ends (RFC 2045); base64 would carry
	// bare LFs through unchanged.
	text := strings.ReplaceAll(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\n", "\r\n")
	msg.SetBodyString(gomail.TypeTextPlain, text)
	return msg, nil
}

// isDotAtom reports whether id may stand left of the @ in a Message-ID
// without quoting (RFC 5322 dot-atom-text).
func isDotAtom(id string) bool {
	if id == "" || id[0] == '.' || id[len(id)-1] == '.' || strings.Contains(id, "..") {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// invalidError is a send that cannot succeed as asked, however often it is
// tried: a malformed message, or no server configured.
type invalidError struct{ err error }

func (e *invalidError) Error() string { return e.err.Error() }
func (e *invalidError) Unwrap() error { return e.err }

// Permanent reports whether retrying err cannot help: the server refused the
// recipient or the content with a 5xx, or the message itself is invalid.
// Connection failures, timeouts and 4xx answers are worth a retry, and so are
// refusals of sciflow's own configuration (AUTH, MAIL FROM, TLS): they would
// fail every message alike, and once an operator fixes the configuration the
// retries get through.
func Permanent(err error) bool {
	if err == nil {
		return false
	}
	var invalid *invalidError
	if errors.As(err, &invalid) {
		return true
	}
	var sendErr *gomail.SendError
	if !errors.As(err, &sendErr) {
		return false
	}
	switch sendErr.Reason {
	case gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
		code := sendErr.ErrorCode()
		return 500 <= code && code < 600
	}
	return false
}
