package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ServerConfig is how to start `sciflow serve` on the bench's database.
type ServerConfig struct {
	// Binary is the sciflow executable. The command passes its own; a test
	// passes one it built, since its own executable is the test binary.
	Binary string
	// Env is the servers' configuration (DATABASE_URL, SCIFLOW_SECRET,
	// SCIFLOW_WORKFLOWS_DIR...). The address and log level are the
	// launcher's unless Env sets them.
	Env map[string]string
}

// Server is one running `sciflow serve` child process.
type Server struct {
	// URL is where it serves, http://127.0.0.1:PORT.
	URL string

	cmd      *exec.Cmd
	stderr   *tail
	exited   chan struct{}
	waitErr  error
	stopOnce sync.Once
}

// startTimeout bounds a server's start-up: migrations already applied and
// definitions already stored, it takes well under a second.
const startTimeout = time.Minute

// StartServer starts a server on a free port and waits until it says it is
// serving.
func StartServer(ctx context.Context, cfg ServerConfig) (*Server, error) {
	cmd := exec.Command(cfg.Binary, "serve")
	cmd.Env = serverEnv(cfg.Env)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group: a Ctrl-C meant for the bench reaches the
		// bench, which stops its servers in order.
		Setpgid: true,
		// A bench killed outright still takes its servers with it.
		Pdeathsig: syscall.SIGTERM,
	}
	s := &Server{cmd: cmd, stderr: &tail{}, exited: make(chan struct{})}
	cmd.Stderr = s.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("server stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s serve: %w", cfg.Binary, err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if url, ok := strings.CutPrefix(sc.Text(), "sciflow is serving on "); ok {
				select {
				case ready <- url:
				default:
				}
			}
		}
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	select {
	case s.URL = <-ready:
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("sciflow serve exited before serving (%v): %s", s.waitErr, s.stderr)
	case <-time.After(startTimeout):
		s.Stop()
		return nil, fmt.Errorf("sciflow serve did not start within %s: %s", startTimeout, s.stderr)
	case <-ctx.Done():
		s.Stop()
		return nil, ctx.Err()
	}
}

// serverEnv is this process's environment without any sciflow setting of
// its own (an operator's SMTP server, say), plus the servers'.
func serverEnv(own map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SCIFLOW_") && !strings.HasPrefix(kv, "DATABASE_URL=") {
			env = append(env, kv)
		}
	}
	defaults := map[string]string{"SCIFLOW_ADDR": "127.0.0.1:0", "SCIFLOW_LOG_LEVEL": "warn"}
	for k, v := range defaults {
		if _, set := own[k]; !set {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range own {
		env = append(env, k+"="+v)
	}
	return env
}

// PID is the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// PeakRSS is the most resident memory the server has had since it started
// (VmHWM), in bytes.
func (s *Server) PeakRSS() (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.PID()))
	if err != nil {
		return 0, fmt.Errorf("server status: %w", err)
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("server VmHWM %q: %w", rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("server status has no VmHWM")
}

// stopTimeout is how long a server may take to finish its requests and
// running jobs after SIGTERM before it is killed.
const stopTimeout = 30 * time.Second

// Stop asks the server to shut down (SIGTERM, as an operator would) and
// waits for it; an exit other than a clean one is an error.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		select {
		case <-s.exited:
			return
		default:
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(stopTimeout):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
	if s.waitErr != nil {
		return fmt.Errorf("sciflow serve (pid %d) ended with %w: %s", s.PID(), s.waitErr, s.stderr)
	}
	return nil
}

// tail keeps the end of a server's stderr, for the message when it fails.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

// tailMax is how much of a server's stderr is kept.
const tailMax = 4 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailMax {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailMax:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(strings.Fields(string(t.buf)), " ")
}
