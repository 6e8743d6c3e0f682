// Package config reads sciflow's settings from the environment into one struct,
// with defaults, and checks them before anything starts.
package config

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"
)

// Config is every setting sciflow takes from its environment.
type Config struct {
	// Addr is where the HTTP server listens (SCIFLOW_ADDR).
	Addr string
	// DatabaseURL points at an existing PostgreSQL database (DATABASE_URL);
	// empty means the embedded cluster under DataDir.
	DatabaseURL string
	// DataDir holds the embedded cluster, the generated secret and uploads
	// (SCIFLOW_DATA_DIR).
	DataDir string
	// Secret keys the audit chain's HMAC and token hashes (SCIFLOW_SECRET);
	// when empty one is generated once and kept in DataDir/secret.
	Secret string
	// LogLevel is debug, info, warn or error (SCIFLOW_LOG_LEVEL).
	LogLevel slog.Level
	// LogFormat is text or json (SCIFLOW_LOG_FORMAT).
	LogFormat string
	// MaxUpload is the largest attachment accepted, in bytes (SCIFLOW_MAX_UPLOAD_MB).
	MaxUpload int64
	// PublicURL is the address users reach sciflow at (SCIFLOW_PUBLIC_URL),
	// used in links handed to people; an https:// address also makes the
	// session cookie HTTPS-only.
	PublicURL string
	// WorkflowsDir replaces the built-in workflow definitions with the
	// *.yaml files of a directory (SCIFLOW_WORKFLOWS_DIR); empty means built-in.
	WorkflowsDir string
	// SMTP is where notification e-mails go; its zero value means no e-mail.
	SMTP SMTP
	// RemindEvery is how often the server looks for overdue review tasks to
	// remind (催办) and escalate (SCIFLOW_REMIND_EVERY, a Go duration); a
	// task is reminded at most once a day however often it looks.
	RemindEvery time.Duration
	// SealEvery is how often the server seals the audit chains
	// (SCIFLOW_SEAL_EVERY, a Go duration): the longest time the newest
	// entries rest on their chains' signed heads alone.
	SealEvery time.Duration
	// RequestTimeout is the longest a request's work may take before it is
	// abandoned with a 503 (SCIFLOW_REQUEST_TIMEOUT, a Go duration), so a
	// database that stopped answering or a lock held too long never keeps
	// a client waiting indefinitely. Uploads and audit exports are bounded
	// by the HTTP server's read and write limits instead.
	RequestTimeout time.Duration
	// RetentionYears is how long a finished application keeps its personal
	// data before an administrator may redact it (SCIFLOW_RETENTION_YEARS).
	RetentionYears int
	// PlanMaxAge is how old the plan indicators served may be
	// (SCIFLOW_PLAN_MAX_AGE, a Go duration; 0 computes them for every
	// request): computing them reads every application, seconds at a
	// province's size, so servers compute them every half of it instead.
	PlanMaxAge time.Duration
	// PprofAddr, when set, serves Go's profiler (net/http/pprof) on this
	// loopback address for the operator on the machine (SCIFLOW_PPROF_ADDR,
	// such as 127.0.0.1:6060); off by default.
	PprofAddr string
}

// SMTP is the outgoing mail server that notification e-mails are handed to.
type SMTP struct {
	// Addr is the server's host:port (SCIFLOW_SMTP_ADDR); empty turns e-mail off.
	Addr string
	// From is the sender, an address optionally with a display name such as
	// "云阳县科技局 <noreply@example.gov.cn>" (SCIFLOW_SMTP_FROM).
	From string
	// User and Password authenticate to the server (SCIFLOW_SMTP_USER,
	// SCIFLOW_SMTP_PASSWORD); both empty means the server takes mail without.
	User     string
	Password string
	// TLS is how the connection is protected (SCIFLOW_SMTP_TLS); Load fills in
	// SMTPStartTLS when the variable is unset.
	TLS SMTPTLS
}

// SMTPTLS says how the connection to the SMTP server is protected.
type SMTPTLS string

// The values SCIFLOW_SMTP_TLS takes.
const (
	// SMTPStartTLS upgrades a plain connection with STARTTLS and refuses to go
	// on without it, so a server (or someone in between) cannot talk sciflow
	// into sending credentials and mail in clear.
	SMTPStartTLS SMTPTLS = "starttls"
	// SMTPImplicitTLS speaks TLS from the first byte (usually port 465).
	SMTPImplicitTLS SMTPTLS = "tls"
	// SMTPPlain sends in clear: for a relay on the same machine or a test server.
	SMTPPlain SMTPTLS = "none"
)

// Defaults for settings the environment leaves out.
const (
	DefaultAddr      = "127.0.0.1:8080"
	DefaultDataDir   = "./var"
	DefaultMaxUpload = 20 << 20
	// DefaultRemindEvery finds a task overdue since midnight within the hour.
	DefaultRemindEvery = time.Hour
	// DefaultRetentionYears keeps personal data ten years after an
	// application finished, the archive period most bureaus apply.
	DefaultRetentionYears = 10
	// DefaultSealEvery keeps the unsealed window to about a second.
	DefaultSealEvery = time.Second
	// DefaultRequestTimeout is far above any request's normal time (the
	// slowest page takes milliseconds) and below what people and proxies
	// wait before giving up.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultPlanMaxAge keeps the dashboard a minute behind at most: plan
	// indicators count a year's work, and at a million applications the
	// refresh every 30 s costs about a tenth of one core.
	DefaultPlanMaxAge = time.Minute
	minSecretLen      = 32
)

// Load reads the configuration through getenv and validates it. Every error is
// one line naming the variable at fault.
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		Addr:           getenv("SCIFLOW_ADDR"),
		DatabaseURL:    strings.TrimSpace(getenv("DATABASE_URL")),
		DataDir:        getenv("SCIFLOW_DATA_DIR"),
		Secret:         getenv("SCIFLOW_SECRET"),
		LogFormat:      strings.ToLower(getenv("SCIFLOW_LOG_FORMAT")),
		MaxUpload:      DefaultMaxUpload,
		RemindEvery:    DefaultRemindEvery,
		SealEvery:      DefaultSealEvery,
		RequestTimeout: DefaultRequestTimeout,
		RetentionYears: DefaultRetentionYears,
		PlanMaxAge:     DefaultPlanMaxAge,
	}
	if u := strings.TrimSpace(getenv("SCIFLOW_PUBLIC_URL")); u != "" {
		parsed, err := url.Parse(u)
		if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
			return c, fmt.Errorf("SCIFLOW_PUBLIC_URL %q is not an http:// or https:// address", u)
		}
		c.PublicURL = strings.TrimSuffix(u, "/")
	}
	if dir := getenv("SCIFLOW_WORKFLOWS_DIR"); dir != "" {
		fi, err := os.Stat(dir)
		if err != nil || !fi.IsDir() {
			return c, fmt.Errorf("SCIFLOW_WORKFLOWS_DIR %q is not a directory", dir)
		}
		c.WorkflowsDir = dir
	}
	c.SMTP = SMTP{
		Addr:     strings.TrimSpace(getenv("SCIFLOW_SMTP_ADDR")),
		From:     strings.TrimSpace(getenv("SCIFLOW_SMTP_FROM")),
		User:     getenv("SCIFLOW_SMTP_USER"),
		Password: getenv("SCIFLOW_SMTP_PASSWORD"),
		TLS:      SMTPTLS(strings.ToLower(strings.TrimSpace(getenv("SCIFLOW_SMTP_TLS")))),
	}
	if c.SMTP.Addr != "" && c.SMTP.TLS == "" {
		c.SMTP.TLS = SMTPStartTLS
	}
	if err := c.SMTP.Validate(); err != nil {
		return c, err
	}
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return c, fmt.Errorf("SCIFLOW_ADDR %q is not host:port: %w", c.Addr, err)
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return c, fmt.Errorf("SCIFLOW_DATA_DIR %q: %w", c.DataDir, err)
	}
	c.DataDir = abs
	if c.DatabaseURL != "" {
		if _, err := pq.NewConnector(c.DatabaseURL); err != nil {
			return c, fmt.Errorf("DATABASE_URL cannot be parsed: %s", oneLine(err))
		}
	}
	if c.Secret != "" && len(c.Secret) < minSecretLen {
		return c, fmt.Errorf("SCIFLOW_SECRET must be at least %d characters", minSecretLen)
	}
	switch lvl := strings.ToLower(getenv("SCIFLOW_LOG_LEVEL")); lvl {
	case "", "info":
		c.LogLevel = slog.LevelInfo
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		return c, fmt.Errorf("SCIFLOW_LOG_LEVEL %q is not one of debug, info, warn, error", lvl)
	}
	switch c.LogFormat {
	case "":
		c.LogFormat = "text"
	case "text", "json":
	default:
		return c, fmt.Errorf("SCIFLOW_LOG_FORMAT %q is not text or json", c.LogFormat)
	}
	if v := getenv("SCIFLOW_MAX_UPLOAD_MB"); v != "" {
		mb, err := strconv.ParseInt(v, 10, 64)
		if err != nil || mb < 1 || mb > 1024 {
			return c, fmt.Errorf("SCIFLOW_MAX_UPLOAD_MB %q is not a whole number of MiB between 1 and 1024", v)
		}
		c.MaxUpload = mb << 20
	}
	if v := getenv("SCIFLOW_REMIND_EVERY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > 24*time.Hour {
			return c, fmt.Errorf("SCIFLOW_REMIND_EVERY %q is not a duration between 1s and 24h (such as 30m)", v)
		}
		c.RemindEvery = d
	}
	if v := getenv("SCIFLOW_SEAL_EVERY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 100*time.Millisecond || d > 24*time.Hour {
			return c, fmt.Errorf("SCIFLOW_SEAL_EVERY %q is not a duration between 100ms and 24h (such as 1s)", v)
		}
		c.SealEvery = d
	}
	if v := getenv("SCIFLOW_REQUEST_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 100*time.Millisecond || d > time.Hour {
			return c, fmt.Errorf("SCIFLOW_REQUEST_TIMEOUT %q is not a duration between 100ms and 1h (such as 30s)", v)
		}
		c.RequestTimeout = d
	}
	if v := getenv("SCIFLOW_RETENTION_YEARS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return c, fmt.Errorf("SCIFLOW_RETENTION_YEARS %q is not a whole number of years between 1 and 100", v)
		}
		c.RetentionYears = n
	}
	if v := getenv("SCIFLOW_PLAN_MAX_AGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || (d > 0 && d < 2*time.Second) || d > 24*time.Hour {
			return c, fmt.Errorf("SCIFLOW_PLAN_MAX_AGE %q is not 0 or a duration between 2s and 24h (such as 1m)", v)
		}
		c.PlanMaxAge = d
	}
	if v := strings.TrimSpace(getenv("SCIFLOW_PPROF_ADDR")); v != "" {
		host, _, err := net.SplitHostPort(v)
		ip := net.ParseIP(host)
		if err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
			return c, fmt.Errorf("SCIFLOW_PPROF_ADDR %q is not a loopback host:port (such as 127.0.0.1:6060): the profiler shows the server's insides", v)
		}
		c.PprofAddr = v
	}
	return c, nil
}

// Enabled reports whether notification e-mails are sent at all.
func (s SMTP) Enabled() bool { return s.Addr != "" }

// Validate checks the settings the way Load does, so that a caller building
// an SMTP by hand gets the same guarantees. Every error is one line naming
// the variable at fault.
func (s SMTP) Validate() error {
	if !s.Enabled() {
		// A setting without an address would be ignored; refusing it catches the
		// operator who misspelt or forgot SCIFLOW_SMTP_ADDR and would otherwise
		// wonder why no mail arrives.
		for _, v := range []struct{ name, value string }{
			{"SCIFLOW_SMTP_FROM", s.From},
			{"SCIFLOW_SMTP_USER", s.User},
			{"SCIFLOW_SMTP_PASSWORD", s.Password},
			{"SCIFLOW_SMTP_TLS", string(s.TLS)},
		} {
			if v.value != "" {
				return fmt.Errorf("%s is set but SCIFLOW_SMTP_ADDR is empty, so e-mail is off", v.name)
			}
		}
		return nil
	}
	host, port, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return fmt.Errorf("SCIFLOW_SMTP_ADDR %q is not host:port: %w", s.Addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
		return fmt.Errorf("SCIFLOW_SMTP_ADDR %q is not host:port with a port between 1 and 65535", s.Addr)
	}
	if s.From == "" {
		return errors.New("SCIFLOW_SMTP_FROM is required when SCIFLOW_SMTP_ADDR is set")
	}
	if _, err := mail.ParseAddress(s.From); err != nil {
		return fmt.Errorf("SCIFLOW_SMTP_FROM %q is not an address such as 科技局 <noreply@example.gov.cn>: %w", s.From, err)
	}
	if s.User != "" && s.Password == "" {
		return errors.New("SCIFLOW_SMTP_PASSWORD is required when SCIFLOW_SMTP_USER is set")
	}
	if s.User == "" && s.Password != "" {
		return errors.New("SCIFLOW_SMTP_USER is required when SCIFLOW_SMTP_PASSWORD is set")
	}
	switch s.TLS {
	case SMTPStartTLS, SMTPImplicitTLS:
	case SMTPPlain:
		if s.User != "" && !isLoopback(host) {
			return fmt.Errorf("SCIFLOW_SMTP_TLS=none would send SCIFLOW_SMTP_USER and SCIFLOW_SMTP_PASSWORD in clear to %s; use starttls or tls, or a relay on a loopback address", host)
		}
	default:
		return fmt.Errorf("SCIFLOW_SMTP_TLS %q is not starttls, tls or none", s.TLS)
	}
	return nil
}

// LogValue keeps the password out of logs, also when the SMTP settings are
// logged on their own.
func (s SMTP) LogValue() slog.Value {
	if !s.Enabled() {
		return slog.StringValue("off")
	}
	return slog.GroupValue(
		slog.String("addr", s.Addr),
		slog.String("from", s.From),
		slog.String("user", s.User),
		slog.Bool("password_set", s.Password != ""),
		slog.String("tls", string(s.TLS)),
	)
}

// isLoopback reports whether host names this machine, the only place a
// password may travel to in clear.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Embedded reports whether sciflow runs its own PostgreSQL cluster.
func (c Config) Embedded() bool { return c.DatabaseURL == "" }

// EnsureSecret fills Secret from DataDir/secret, creating that file with a
// fresh random value on first use, so that restarts keep the audit chain and
// tokens valid without the operator having to invent a key.
func (c *Config) EnsureSecret() error {
	if c.Secret != "" {
		return nil
	}
	path := filepath.Join(c.DataDir, "secret")
	raw, err := os.ReadFile(path)
	if err == nil {
		c.Secret = strings.TrimSpace(string(raw))
		if len(c.Secret) < minSecretLen {
			return fmt.Errorf("%s holds a secret shorter than %d characters", path, minSecretLen)
		}
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("data dir %s cannot be used: %w", c.DataDir, err)
	}
	if err := os.MkdirAll(c.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir %s cannot be used: %w", c.DataDir, err)
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return fmt.Errorf("generate secret: %w", err)
	}
	secret := hex.EncodeToString(buf)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("data dir %s is not writable: %w", c.DataDir, err)
	}
	defer f.Close()
	if _, err := f.WriteString(secret + "\n"); err != nil {
		return fmt.Errorf("write secret: %w", err)
	}
	c.Secret = secret
	return nil
}

// LogValue keeps secrets out of logs: the secret is never shown and the
// database URL loses its password.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("addr", c.Addr),
		slog.String("database", maskURL(c.DatabaseURL)),
		slog.String("data_dir", c.DataDir),
		slog.Bool("secret_set", c.Secret != ""),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("log_format", c.LogFormat),
		slog.Int64("max_upload", c.MaxUpload),
		slog.String("workflows", cmp.Or(c.WorkflowsDir, "built-in")),
		slog.String("public_url", c.PublicURL),
		slog.Any("smtp", c.SMTP),
		slog.Duration("remind_every", c.RemindEvery),
		slog.Duration("seal_every", c.SealEvery),
		slog.Duration("request_timeout", c.RequestTimeout),
		slog.Int("retention_years", c.RetentionYears),
		slog.Duration("plan_max_age", c.PlanMaxAge),
		slog.String("pprof_addr", c.PprofAddr),
	)
}

func maskURL(dsn string) string {
	if dsn == "" {
		return "embedded"
	}
	kv, err := pq.ParseURL(dsn)
	if err != nil {
		kv = dsn
	}
	var out []string
	for _, f := range strings.Fields(kv) {
		if strings.HasPrefix(f, "password=") {
			f = "password=***"
		}
		out = append(out, f)
	}
	return strings.Join(out, " ")
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
