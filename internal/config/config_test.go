package config

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(envOf(nil))
	require.NoError(t, err)
	require.Equal(t, DefaultAddr, c.Addr)
	require.True(t, filepath.IsAbs(c.DataDir))
	require.True(t, c.Embedded())
	require.Equal(t, slog.LevelInfo, c.LogLevel)
	require.Equal(t, "text", c.LogFormat)
	require.Equal(t, int64(20<<20), c.MaxUpload)
	require.False(t, c.SMTP.Enabled())
	require.Equal(t, time.Minute, c.PlanMaxAge)

	c, err = Load(envOf(map[string]string{"SCIFLOW_PLAN_MAX_AGE": "0"}))
	require.NoError(t, err)
	require.Zero(t, c.PlanMaxAge, "0 computes the plan indicators for every request")
}

func TestLoadSMTP(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want SMTP
	}{
		{
			"STARTTLS is the default",
			map[string]string{"SCIFLOW_SMTP_ADDR": "smtp.example.gov.cn:587", "SCIFLOW_SMTP_FROM": "云阳县科技局 <noreply@example.gov.cn>"},
			SMTP{Addr: "smtp.example.gov.cn:587", From: "云阳县科技局 <noreply@example.gov.cn>", TLS: SMTPStartTLS},
		},
		{
			"implicit TLS with credentials",
			map[string]string{
				"SCIFLOW_SMTP_ADDR": "smtp.example.gov.cn:465", "SCIFLOW_SMTP_FROM": "noreply@example.gov.cn",
				"SCIFLOW_SMTP_USER": "noreply", "SCIFLOW_SMTP_PASSWORD": " pass word ", "SCIFLOW_SMTP_TLS": "TLS",
			},
			SMTP{Addr: "smtp.example.gov.cn:465", From: "noreply@example.gov.cn", User: "noreply", Password: " pass word ", TLS: SMTPImplicitTLS},
		},
		{
			"plain to a relay on this machine, with credentials",
			map[string]string{
				"SCIFLOW_SMTP_ADDR": "127.0.0.1:25", "SCIFLOW_SMTP_FROM": "noreply@example.gov.cn",
				"SCIFLOW_SMTP_USER": "u", "SCIFLOW_SMTP_PASSWORD": "p", "SCIFLOW_SMTP_TLS": "none",
			},
			SMTP{Addr: "127.0.0.1:25", From: "noreply@example.gov.cn", User: "u", Password: "p", TLS: SMTPPlain},
		},
		{
			"plain to IPv6 loopback, with credentials",
			map[string]string{
				"SCIFLOW_SMTP_ADDR": "[::1]:2525", "SCIFLOW_SMTP_FROM": "noreply@example.gov.cn",
				"SCIFLOW_SMTP_USER": "u", "SCIFLOW_SMTP_PASSWORD": "p", "SCIFLOW_SMTP_TLS": "none",
			},
			SMTP{Addr: "[::1]:2525", From: "noreply@example.gov.cn", User: "u", Password: "p", TLS: SMTPPlain},
		},
		{
			"plain to another host without credentials",
			map[string]string{"SCIFLOW_SMTP_ADDR": "relay.internal:25", "SCIFLOW_SMTP_FROM": "noreply@example.gov.cn", "SCIFLOW_SMTP_TLS": "none"},
			SMTP{Addr: "relay.internal:25", From: "noreply@example.gov.cn", TLS: SMTPPlain},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(envOf(tc.env))
			require.NoError(t, err)
			require.Equal(t, tc.want, c.SMTP)
			require.True(t, c.SMTP.Enabled())
		})
	}
}

func TestLoadRejectsBadSettings(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"DATABASE_URL": "postgres://u:p@host:notaport/db"}, "DATABASE_URL cannot be parsed"},
		{map[string]string{"DATABASE_URL": "::::garbage"}, "DATABASE_URL cannot be parsed"},
		{map[string]string{"SCIFLOW_ADDR": "8080"}, "SCIFLOW_ADDR"},
		{map[string]string{"SCIFLOW_SECRET": "short"}, "SCIFLOW_SECRET must be at least 32"},
		{map[string]string{"SCIFLOW_LOG_LEVEL": "loud"}, "SCIFLOW_LOG_LEVEL"},
		{map[string]string{"SCIFLOW_LOG_FORMAT": "xml"}, "SCIFLOW_LOG_FORMAT"},
		{map[string]string{"SCIFLOW_MAX_UPLOAD_MB": "0"}, "SCIFLOW_MAX_UPLOAD_MB"},
		{map[string]string{"SCIFLOW_MAX_UPLOAD_MB": "lots"}, "SCIFLOW_MAX_UPLOAD_MB"},
		{map[string]string{"SCIFLOW_PLAN_MAX_AGE": "1s"}, "SCIFLOW_PLAN_MAX_AGE \"1s\""},
		{map[string]string{"SCIFLOW_PLAN_MAX_AGE": "-1m"}, "SCIFLOW_PLAN_MAX_AGE \"-1m\""},
		{map[string]string{"SCIFLOW_PLAN_MAX_AGE": "soon"}, "SCIFLOW_PLAN_MAX_AGE \"soon\""},
		{smtpEnv("SCIFLOW_SMTP_ADDR", "smtp.example.gov.cn"), "SCIFLOW_SMTP_ADDR"},
		{smtpEnv("SCIFLOW_SMTP_ADDR", "smtp.example.gov.cn:smtp"), "SCIFLOW_SMTP_ADDR"},
		{smtpEnv("SCIFLOW_SMTP_ADDR", ":587"), "SCIFLOW_SMTP_ADDR"},
		{smtpEnv("SCIFLOW_SMTP_ADDR", "smtp.example.gov.cn:70000"), "SCIFLOW_SMTP_ADDR"},
		{smtpEnv("SCIFLOW_SMTP_FROM", ""), "SCIFLOW_SMTP_FROM is required"},
		{smtpEnv("SCIFLOW_SMTP_FROM", "科技局"), "SCIFLOW_SMTP_FROM"},
		{smtpEnv("SCIFLOW_SMTP_FROM", "a@example.gov.cn, b@example.gov.cn"), "SCIFLOW_SMTP_FROM"},
		{smtpEnv("SCIFLOW_SMTP_TLS", "ssl"), "SCIFLOW_SMTP_TLS"},
		{smtpEnv("SCIFLOW_SMTP_USER", "noreply"), "SCIFLOW_SMTP_PASSWORD is required"},
		{smtpEnv("SCIFLOW_SMTP_PASSWORD", "p"), "SCIFLOW_SMTP_USER is required"},
		{
			map[string]string{
				"SCIFLOW_SMTP_ADDR": "smtp.example.gov.cn:25", "SCIFLOW_SMTP_FROM": "noreply@example.gov.cn",
				"SCIFLOW_SMTP_USER": "u", "SCIFLOW_SMTP_PASSWORD": "p", "SCIFLOW_SMTP_TLS": "none",
			},
			"SCIFLOW_SMTP_TLS=none would send SCIFLOW_SMTP_USER and SCIFLOW_SMTP_PASSWORD in clear",
		},
		{map[string]string{"SCIFLOW_SMTP_FROM": "noreply@example.gov.cn"}, "SCIFLOW_SMTP_FROM is set but SCIFLOW_SMTP_ADDR is empty"},
		{map[string]string{"SCIFLOW_SMTP_PASSWORD": "p"}, "SCIFLOW_SMTP_PASSWORD is set but SCIFLOW_SMTP_ADDR is empty"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := Load(envOf(tc.env))
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), "\n")
		})
	}
}

// smtpEnv is a valid e-mail configuration with one variable changed.
func smtpEnv(name, value string) map[string]string {
	env := map[string]string{
		"SCIFLOW_SMTP_ADDR": "smtp.example.gov.cn:587",
		"SCIFLOW_SMTP_FROM": "noreply@example.gov.cn",
	}
	env[name] = value
	return env
}

func TestEnsureSecretIsStableAndPrivate(t *testing.T) {
	dir := t.TempDir()
	c, err := Load(envOf(map[string]string{"SCIFLOW_DATA_DIR": dir}))
	require.NoError(t, err)
	require.NoError(t, c.EnsureSecret())
	require.GreaterOrEqual(t, len(c.Secret), 32)
	fi, err := os.Stat(filepath.Join(dir, "secret"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	again, err := Load(envOf(map[string]string{"SCIFLOW_DATA_DIR": dir}))
	require.NoError(t, err)
	require.NoError(t, again.EnsureSecret())
	require.Equal(t, c.Secret, again.Secret)
}

func TestEnsureSecretUnwritableDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	c, err := Load(envOf(map[string]string{"SCIFLOW_DATA_DIR": filepath.Join(file, "sub")}))
	require.NoError(t, err)
	require.ErrorContains(t, c.EnsureSecret(), "cannot be used")
}

func TestLogValueHidesSecrets(t *testing.T) {
	c, err := Load(envOf(map[string]string{
		"DATABASE_URL":          "postgres://app:hunter2-password@db.example:5432/sciflow",
		"SCIFLOW_SECRET":        strings.Repeat("s3cr3t", 8),
		"SCIFLOW_SMTP_ADDR":     "smtp.example.gov.cn:465",
		"SCIFLOW_SMTP_FROM":     "noreply@example.gov.cn",
		"SCIFLOW_SMTP_USER":     "noreply",
		"SCIFLOW_SMTP_PASSWORD": "mail-pa55word",
		"SCIFLOW_SMTP_TLS":      "tls",
	}))
	require.NoError(t, err)
	for _, h := range []func(*strings.Builder) slog.Handler{
		func(sb *strings.Builder) slog.Handler { return slog.NewTextHandler(sb, nil) },
		func(sb *strings.Builder) slog.Handler { return slog.NewJSONHandler(sb, nil) },
	} {
		var sb strings.Builder
		log := slog.New(h(&sb))
		log.Info("config", "config", c)
		// The SMTP part logged on its own must be just as tight.
		log.Info("mail", "smtp", c.SMTP)
		out := sb.String()
		require.NotContains(t, out, "hunter2")
		require.NotContains(t, out, "s3cr3t")
		require.NotContains(t, out, "pa55word")
		require.Contains(t, out, "db.example")
		require.Contains(t, out, "smtp.example.gov.cn:465")
		require.Contains(t, out, "password_set")
	}
}
