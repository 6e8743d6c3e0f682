package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// The anchor goes on paper and comes back: verify --anchor proves the trail
// against it, and refuses one from another installation.
func TestAuditAnchorAtTheConsole(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	app := s.newApp("applicant")
	require.Equal(t, 200, s.call("applicant", "POST", "/api/v1/applications/"+app.ID+"/events", map[string]any{"event": "submit"}, nil))
	s.stop()
	env := []string{"DATABASE_URL=" + s.dsn, "SCIFLOW_DATA_DIR=" + s.dataDir, "SCIFLOW_WORKFLOWS_DIR=" + s.wfDir}
	out, errOut, code := runCLI(t, env, "", "audit", "anchor")
	require.Equal(t, 0, code, out+errOut)
	require.Regexp(t, `(?m)^sciflow audit anchor\ninstallation: [0-9a-f]{16}\nseal: [1-9]\d*\nhash: [0-9a-f]{64}\ntime: .+\ncheck: [0-9a-f]{32}\n$`, out)
	file := filepath.Join(t.TempDir(), "anchor.txt")
	require.NoError(t, os.WriteFile(file, []byte(out), 0o600))

	out, errOut, code = runCLI(t, env, "", "audit", "verify", "--anchor", file)
	require.Equal(t, 0, code, out+errOut)
	require.Contains(t, out, "nothing sealed before the anchor")

	other := newSite(t)
	other.stop()
	otherEnv := []string{"DATABASE_URL=" + other.dsn, "SCIFLOW_DATA_DIR=" + other.dataDir, "SCIFLOW_WORKFLOWS_DIR=" + other.wfDir}
	out, errOut, code = runCLI(t, otherEnv, "", "audit", "verify", "--anchor", file)
	require.Equal(t, 1, code, out)
	require.Contains(t, errOut, "another installation")
}
