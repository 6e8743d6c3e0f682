package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

// VerifyRun is `sciflow audit verify` over the whole generated trail, run
// as the operator runs it: a process of its own, whose time and peak
// memory are measured from outside.
type VerifyRun struct {
	OK      bool    `json:"ok"`
	Checked int64   `json:"checked"`
	Chains  int64   `json:"chains"`
	Seconds float64 `json:"seconds"`
	// PeakRSSMiB is the process's peak resident memory (its rusage).
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	// Output is its last line, or its problems.
	Output string `json:"output"`
}

var verifiedLine = regexp.MustCompile(`checked (\d+) entries in (\d+) chains`)

// verifyTrail runs `sciflow audit verify` on the servers' database, its
// progress passed on.
func verifyTrail(ctx context.Context, cfg ServerConfig, progress io.Writer) (VerifyRun, error) {
	cmd := exec.CommandContext(ctx, cfg.Binary, "audit", "verify")
	env := map[string]string{}
	for k, v := range cfg.Env {
		env[k] = v
	}
	env["SCIFLOW_LOG_LEVEL"] = "warn"
	cmd.Env = serverEnv(env)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &prefixWriter{w: progress, prefix: "  audit verify: "}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return VerifyRun{}, fmt.Errorf("run sciflow audit verify: %w", err)
	}
	// Its peak memory is read from its own status while it runs: the
	// rusage of a child started by Go counts this process's memory too
	// (the child shares it until it executes the command).
	var peak int64
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	for waiting := true; waiting; {
		select {
		case err = <-done:
			waiting = false
		case <-time.After(20 * time.Millisecond):
			if hwm, e := procStatus(cmd.Process.Pid, "VmHWM"); e == nil {
				peak = max(peak, hwm)
			}
		}
	}
	v := VerifyRun{Seconds: round(time.Since(start).Seconds(), 1), PeakRSSMiB: round(float64(peak)/(1<<20), 1)}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return v, fmt.Errorf("run sciflow audit verify: %w", err)
	}
	v.OK = err == nil
	if m := verifiedLine.FindSubmatch(out.Bytes()); m != nil {
		v.Checked, _ = strconv.ParseInt(string(m[1]), 10, 64)
		v.Chains, _ = strconv.ParseInt(string(m[2]), 10, 64)
	}
	lines := bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n"))
	if v.OK {
		v.Output = string(lines[len(lines)-1])
	} else {
		v.Output = snippet(out.Bytes())
	}
	return v, nil
}
