package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/dbtest"
	"github.com/sciflow/sciflow/internal/pgcluster"
)

// TestMain doubles as the sciflow binary: with SCIFLOW_TEST_AS_MAIN set, the
// test executable runs main() on its arguments, so lifecycle tests can start,
// signal and kill a real sciflow process without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("SCIFLOW_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	dbtest.Main(m)
}

// proc is a sciflow process started by a test.
type proc struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	url    chan string
	done   chan struct{}
}

func startProc(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "SCIFLOW_TEST_AS_MAIN=1", "SCIFLOW_ADDR=127.0.0.1:0")
	cmd.Env = append(cmd.Env, env...)
	p := &proc{cmd: cmd, stderr: &lockedBuffer{}, url: make(chan string, 1), done: make(chan struct{})}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "sciflow is serving on "); ok {
				p.url <- rest
			}
		}
		cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *proc) waitURL(t *testing.T) string {
	t.Helper()
	select {
	case u := <-p.url:
		return u
	case <-p.done:
		t.Fatalf("sciflow exited before serving: %s", p.stderr)
	case <-time.After(90 * time.Second):
		t.Fatalf("sciflow did not start within 90 s: %s", p.stderr)
	}
	return ""
}

func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("sciflow did not exit within 60 s")
	}
	return p.cmd.ProcessState.ExitCode()
}

// lockedBuffer collects a child's stderr while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// runCLI runs one sciflow command as its own process.
func runCLI(t testing.TB, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "SCIFLOW_TEST_AS_MAIN=1"), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("run %v: %v", args, err)
		}
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

func get(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sfcli-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestEmbeddedLifecycle is the foundation's promise end to end: first start
// on an empty data dir, data kept across restarts, a clean start after
// kill -9, and no PostgreSQL left behind after SIGTERM.
func TestEmbeddedLifecycle(t *testing.T) {
	dir := shortTempDir(t)
	env := []string{"SCIFLOW_DATA_DIR=" + dir, "DATABASE_URL="}

	start := time.Now()
	p := startProc(t, env, "serve")
	url := p.waitURL(t)
	resp, _ := get(t, url+"/healthz")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	t.Logf("first start (initdb, migrate) to healthy: %s", time.Since(start))
	pids := pgcluster.Processes(dir)
	require.NotEmpty(t, pids, "the embedded cluster runs")
	if os.Geteuid() == 0 {
		status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pids[0]), "status"))
		require.NoError(t, err)
		require.NotRegexp(t, `(?m)^Uid:\s+0\s`, string(status), "PostgreSQL must not run as root")
		require.Contains(t, p.stderr.String(), "unprivileged system user")
	}

	// A second sciflow command on the same data dir uses the running cluster.
	out, errOut, code := runCLI(t, env, "", "org", "add", "--name", "重庆锦艺新材料有限公司", "--kind", "enterprise")
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `^[0-9a-f-]{36}\n$`, out)

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, p.wait(t), p.stderr.String())
	require.Empty(t, pgcluster.Processes(dir), "SIGTERM must stop the embedded PostgreSQL")

	// Later start: the data is still there.
	start = time.Now()
	p = startProc(t, env, "serve")
	url = p.waitURL(t)
	resp, _ = get(t, url+"/healthz")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	t.Logf("later start to healthy: %s", time.Since(start))
	_, errOut, code = runCLI(t, env, "", "org", "add", "--name", "重庆锦艺新材料有限公司", "--kind", "enterprise")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "already exists", "the org created before the restart survived")

	// kill -9, then start again: nothing left behind blocks it.
	require.NoError(t, p.cmd.Process.Kill())
	p.wait(t)
	p = startProc(t, env, "serve")
	url = p.waitURL(t)
	resp, _ = get(t, url+"/healthz")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, p.wait(t), p.stderr.String())
	require.Empty(t, pgcluster.Processes(dir))
}

func TestBadConfigurationFailsInOneLine(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	file := filepath.Join(t.TempDir(), "a-file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))

	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"unparseable DATABASE_URL", []string{"DATABASE_URL=postgres://u:p@h:port/db"}, "DATABASE_URL cannot be parsed"},
		{"address in use", []string{"SCIFLOW_ADDR=" + busy.Addr().String(), "DATABASE_URL=postgres://u@127.0.0.1:1/db"}, "already in use"},
		{"unwritable data dir", []string{"SCIFLOW_DATA_DIR=" + filepath.Join(file, "data"), "DATABASE_URL="}, "data dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := append([]string{"SCIFLOW_ADDR=127.0.0.1:0"}, tc.env...)
			_, errOut, code := runCLI(t, env, "", "serve")
			require.Equal(t, 1, code, errOut)
			require.Contains(t, errOut, tc.want)
			require.Equal(t, 1, strings.Count(errOut, "\n"), "exactly one line: %q", errOut)
			require.True(t, strings.HasPrefix(errOut, "sciflow: "))
		})
	}
}

// serveInProcess runs `sciflow serve` through run() on a fresh database and
// returns its base URL; the server stops when the test ends.
func serveInProcess(t *testing.T, args ...string) (url, dataDir string) {
	t.Helper()
	dsn := dbtest.NewDSN(t)
	dataDir = t.TempDir()
	env := map[string]string{"DATABASE_URL": dsn, "SCIFLOW_ADDR": "127.0.0.1:0", "SCIFLOW_DATA_DIR": dataDir, "SCIFLOW_LOG_LEVEL": "warn"}
	ctx, cancel := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve"}, args...), func(k string) string { return env[k] }, strings.NewReader(""), outW, io.Discard)
		outW.Close()
	}()
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "sciflow is serving on "); ok {
				urls <- rest
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	select {
	case u := <-urls:
		return u, dataDir
	case err := <-done:
		t.Fatalf("serve ended early: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not start")
	}
	return "", ""
}

func TestServeAnswersOperationalEndpoints(t *testing.T) {
	url, dataDir := serveInProcess(t)
	_, err := os.Stat(filepath.Join(dataDir, "pg"))
	require.True(t, os.IsNotExist(err), "with DATABASE_URL no cluster is created")

	resp, body := get(t, url+"/healthz")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.JSONEq(t, `{"status":"ok"}`, string(body))
	require.NotEmpty(t, resp.Header.Get("X-Request-Id"))

	resp, body = get(t, url+"/metrics")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), `sciflow_http_requests_total{method="GET",route="/healthz",status="200"} 1`)
	require.Contains(t, string(body), `go_sql_max_open_connections{db_name="sciflow"} 20`)

	resp, body = get(t, url+"/api/v1/nothing-here")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	var e struct {
		Error struct{ Code, Message string }
	}
	require.NoError(t, json.Unmarshal(body, &e))
	require.Equal(t, "not_found", e.Error.Code)
	require.Equal(t, "未找到该记录", e.Error.Message, "Chinese by default")

	_, body = get(t, url+"/api/v1/nothing-here", "Accept-Language", "en-GB,en;q=0.9")
	require.NoError(t, json.Unmarshal(body, &e))
	require.Equal(t, "not found", e.Error.Message)

	resp, body = get(t, url+"/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), "科技项目申报")
	_, body = get(t, url+"/?lang=en")
	require.Contains(t, string(body), `lang="en"`)
}

func TestCommandsOnDatabaseURL(t *testing.T) {
	env := []string{"DATABASE_URL=" + dbtest.NewDSN(t), "SCIFLOW_DATA_DIR=" + t.TempDir()}

	out, errOut, code := runCLI(t, env, "", "migrate")
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `schema at version \d+`, out)

	out, errOut, code = runCLI(t, env, "", "seed", "demo")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "staff")
	require.Contains(t, out, "admin")
	again, _, code := runCLI(t, env, "", "seed", "demo")
	require.Equal(t, 0, code)
	require.Equal(t, out, again, "a second seed shows the same logins and creates nothing")

	id, errOut, code := runCLI(t, env, "", "org", "add", "--name", "云阳县双土镇", "--kind", "village", "--parent", "云阳县科学技术局")
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `^[0-9a-f-]{36}\n$`, id)

	_, errOut, code = runCLI(t, env, "", "org", "add", "--name", "x", "--kind", "castle")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "--kind must be")

	uid, errOut, code := runCLI(t, env, "Yunyang-2026!\n", "user", "add", "--username", "expert9", "--name", "卫教授",
		"--roles", "expert", "--org", "云阳县双土镇", "--specialty", "茶叶加工,农业", "--conflict", "云阳县龙缸茶业有限公司", "--password-stdin")
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `^[0-9a-f-]{36}\n$`, uid)

	out, errOut, code = runCLI(t, env, "Changed-Pass-2026\n", "user", "passwd", "expert9")
	require.Equal(t, 0, code, errOut)
	out, errOut, code = runCLI(t, env, "", "user", "disable", "expert9")
	require.Equal(t, 0, code, errOut)
	out, errOut, code = runCLI(t, env, "", "user", "reset-link", "expert9")
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `^http://127\.0\.0\.1:8080/reset\?token=[A-Za-z0-9_-]{43}\n$`, out)
	_, errOut, code = runCLI(t, env, "", "user", "disable", "nobody-here")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "not found")

	_, errOut, code = runCLI(t, env, "short\n", "user", "add", "--username", "expert10", "--name", "x",
		"--roles", "expert", "--org", "云阳县双土镇", "--password-stdin")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "at least 10 characters")

	_, errOut, code = runCLI(t, env, "Yunyang-2026!\n", "user", "add", "--username", "expert9", "--name", "x",
		"--roles", "expert", "--org", "云阳县双土镇", "--password-stdin")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "is taken")

	// Every one of those account changes is in the audit chain, marked as
	// done at the console.
	out, errOut, code = runCLI(t, env, "", "audit", "verify")
	require.Equal(t, 0, code, out+errOut)

	_, errOut, code = runCLI(t, env, "", "frobnicate")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "unknown command")
}
