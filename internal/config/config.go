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
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

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
}

// Defaults for settings the environment leaves out.
const (
	DefaultAddr      = "127.0.0.1:8080"
	DefaultDataDir   = "./var"
	DefaultMaxUpload = 20 << 20
	minSecretLen     = 32
)

// Load reads the configuration through getenv and validates it. Every error is
// one line naming the variable at fault.
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		Addr:        getenv("SCIFLOW_ADDR"),
		DatabaseURL: strings.TrimSpace(getenv("DATABASE_URL")),
		DataDir:     getenv("SCIFLOW_DATA_DIR"),
		Secret:      getenv("SCIFLOW_SECRET"),
		LogFormat:   strings.ToLower(getenv("SCIFLOW_LOG_FORMAT")),
		MaxUpload:   DefaultMaxUpload,
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
	return c, nil
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
