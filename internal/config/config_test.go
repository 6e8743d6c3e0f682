package config

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := Load(envOf(tc.env))
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), "\n")
		})
	}
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
		"DATABASE_URL":   "postgres://app:hunter2-password@db.example:5432/sciflow",
		"SCIFLOW_SECRET": strings.Repeat("s3cr3t", 8),
	}))
	require.NoError(t, err)
	var sb strings.Builder
	slog.New(slog.NewTextHandler(&sb, nil)).Info("config", "config", c)
	out := sb.String()
	require.NotContains(t, out, "hunter2")
	require.NotContains(t, out, "s3cr3t")
	require.Contains(t, out, "db.example")
}
