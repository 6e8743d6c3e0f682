// Package pgcluster runs a private PostgreSQL cluster from the machine's server
// binaries: the embedded default database when no DATABASE_URL is given, and the
// throwaway cluster the tests use.
//
// The cluster lives in one directory (Dir/pg), listens only on a Unix socket
// inside that directory (no TCP port to collide with) and runs as a child of
// this process, so stopping sciflow stops it too.
package pgcluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lib/pq"
)

// Superuser is the bootstrap role initdb creates; only the local socket reaches it.
const Superuser = "postgres"

// unixSocketMax is the longest socket path the kernel accepts (sun_path less NUL).
const unixSocketMax = 107

// Options configure a cluster.
type Options struct {
	// Dir holds the cluster (Dir/pg) and its log (Dir/postgres.log).
	Dir string
	// Settings are extra server settings passed as -c name=value.
	Settings map[string]string
	// NoSync skips fsync in initdb; for throwaway clusters only.
	NoSync bool
	// Logger receives what the cluster manager decides; nil discards.
	Logger *slog.Logger
}

// Cluster is a running PostgreSQL server started by this process.
type Cluster struct {
	pgdata  string
	logPath string
	log     *slog.Logger

	cmd     *exec.Cmd
	logFile *os.File
	exited  chan struct{}
	waitErr error

	// lock is held for as long as this process owns the cluster; a guest
	// (another sciflow owns the data dir) has none and stops nothing.
	lock     *os.File
	stopOnce sync.Once
}

// Start initialises the cluster on first use, clears what a crashed run left
// behind, starts the server and waits until it accepts connections.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bin, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("data dir %q: %w", opts.Dir, err)
	}
	c := &Cluster{
		pgdata:  filepath.Join(dir, "pg"),
		logPath: filepath.Join(dir, "postgres.log"),
		log:     log,
	}
	if n := len(filepath.Join(c.pgdata, ".s.PGSQL.5432")); n > unixSocketMax {
		return nil, fmt.Errorf("data dir %s is too deep for PostgreSQL's Unix socket (%d bytes, at most %d): choose a shorter SCIFLOW_DATA_DIR", dir, n, unixSocketMax)
	}
	owner, err := clusterOwner(log)
	if err != nil {
		return nil, err
	}
	reachable, err := prepareDir(dir, owner)
	if err != nil {
		return nil, err
	}
	if !reachable {
		if err := c.relocate(dir, owner); err != nil {
			return nil, err
		}
	}
	lock, err := lockDir(dir)
	if errors.Is(err, errLocked) {
		// Another sciflow (a running server, say) owns the cluster: use it.
		// c.exited stays nil: its process is not ours to watch.
		if err := c.waitReady(ctx); err != nil {
			return nil, fmt.Errorf("data dir %s belongs to another running sciflow, but its PostgreSQL does not answer: %w", dir, err)
		}
		log.Info("using the PostgreSQL cluster of the sciflow that owns the data dir", "dir", c.pgdata)
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	c.lock = lock
	c.exited = make(chan struct{})
	if err := c.initdb(ctx, bin, owner, opts.NoSync); err != nil {
		lock.Close()
		return nil, err
	}
	if err := c.clearStale(ctx); err != nil {
		lock.Close()
		return nil, err
	}
	if err := c.start(bin, owner, opts.Settings); err != nil {
		lock.Close()
		return nil, err
	}
	if err := c.waitReady(ctx); err != nil {
		_ = c.Stop(context.Background())
		return nil, err
	}
	log.Info("PostgreSQL started", "dir", c.pgdata, "pid", c.cmd.Process.Pid)
	return c, nil
}

// debianBinGlob is where Debian's packages put each major version's binaries.
var debianBinGlob = "/usr/lib/postgresql/*/bin"

// FindBinDir finds the directory of the PostgreSQL server binaries: PATH first,
// then the newest /usr/lib/postgresql/*/bin.
func FindBinDir() (string, error) {
	if p, err := exec.LookPath("postgres"); err == nil {
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob(debianBinGlob)
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries not found (looked in PATH and /usr/lib/postgresql/*/bin): install the Debian package postgresql (apt-get install postgresql) or set DATABASE_URL")
}

func versionOf(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// osUser is the account the cluster runs as; nil means this process's own.
type osUser struct {
	name     string
	uid, gid uint32
}

// clusterOwner picks the account for the server. PostgreSQL refuses to run as
// root, so a root process hands the cluster to the postgres system account
// (created by Debian's packages), or to nobody when that is missing.
func clusterOwner(log *slog.Logger) (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		log.Info("running as root: PostgreSQL will run as an unprivileged system user", "user", name)
		return &osUser{name: name, uid: uint32(uid), gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root and no unprivileged account (postgres or nobody) exists to run PostgreSQL: create one or run sciflow as a normal user")
}

// prepareDir creates dir and checks that the cluster's owner can reach it:
// reachable is false when a directory above it is closed to others (as
// /root is), which we leave as the operator set it.
func prepareDir(dir string, owner *osUser) (reachable bool, err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return false, fmt.Errorf("create data dir: %w", err)
	}
	probe, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return false, fmt.Errorf("data dir %s is not writable: %w", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	if owner == nil {
		return true, nil
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return false, fmt.Errorf("data dir parent: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return false, nil
		}
		if p == filepath.Dir(p) {
			break
		}
	}
	// Only the data dir itself is opened up, and only for traversal (no
	// listing): the unprivileged owner must pass through it to its cluster.
	fi, err := os.Stat(dir)
	if err != nil {
		return false, fmt.Errorf("data dir: %w", err)
	}
	if fi.Mode().Perm()&0o001 == 0 {
		if err := os.Chmod(dir, fi.Mode().Perm()|0o001); err != nil {
			return false, fmt.Errorf("let %s traverse data dir: %w", owner.name, err)
		}
	}
	return true, nil
}

// relocatedRoot is where clusters go whose data dir the unprivileged owner
// cannot reach; one subdirectory per data dir, named by its path's hash.
var relocatedRoot = "/var/lib/sciflow/clusters"

// relocate keeps the cluster of an unreachable data dir (a checkout under
// /root, say) in relocatedRoot instead, leaving a symlink in the data dir
// so people find it. The lock, the secret and the log stay in the data dir.
func (c *Cluster) relocate(dir string, owner *osUser) error {
	if fi, err := os.Lstat(c.pgdata); err == nil && fi.IsDir() {
		return fmt.Errorf("PostgreSQL runs as %s, which cannot reach %s: allow it to enter the directories above (chmod o+x) or choose another SCIFLOW_DATA_DIR", owner.name, c.pgdata)
	}
	sum := sha256.Sum256([]byte(dir))
	home := filepath.Join(relocatedRoot, hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(home, 0o755); err != nil {
		return fmt.Errorf("PostgreSQL runs as %s, which cannot reach %s, and %s cannot be created: %w", owner.name, dir, home, err)
	}
	link := c.pgdata
	c.pgdata = filepath.Join(home, "pg")
	if target, err := os.Readlink(link); err != nil || target != c.pgdata {
		os.Remove(link)
		if err := os.Symlink(c.pgdata, link); err != nil {
			return fmt.Errorf("link the relocated cluster: %w", err)
		}
	}
	c.log.Warn("the data dir is closed to the PostgreSQL account: keeping the cluster outside it",
		"user", owner.name, "data_dir", dir, "cluster", c.pgdata)
	return nil
}

func (c *Cluster) initdb(ctx context.Context, bin string, owner *osUser, noSync bool) error {
	if _, err := os.Stat(filepath.Join(c.pgdata, "PG_VERSION")); err == nil {
		return nil
	}
	// A directory without PG_VERSION is an initdb that did not finish; it holds
	// nothing worth keeping.
	if err := os.RemoveAll(c.pgdata); err != nil {
		return fmt.Errorf("remove unfinished cluster: %w", err)
	}
	if err := os.Mkdir(c.pgdata, 0o700); err != nil {
		return fmt.Errorf("create cluster dir: %w", err)
	}
	if owner != nil {
		if err := os.Chown(c.pgdata, int(owner.uid), int(owner.gid)); err != nil {
			return fmt.Errorf("give cluster dir to %s: %w", owner.name, err)
		}
	}
	c.log.Info("initialising PostgreSQL cluster", "dir", c.pgdata)
	args := []string{"-D", c.pgdata, "-U", Superuser, "-E", "UTF8", "--no-locale",
		// Only the owner of the private socket directory can connect at all;
		// TCP is off, and refused if someone turns it on.
		"--auth-local=trust", "--auth-host=reject"}
	if noSync {
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), args...)
	cmd.Dir = c.pgdata
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	runAs(cmd, owner)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb failed: %w: %s", err, lastLines(out, 3))
	}
	return nil
}

// clearStale deals with what a killed sciflow left behind. A postmaster still
// running on our directory is an orphan (the caller holds the data dir lock,
// so no other sciflow owns it): stop it so the new server is our child. A
// postmaster.pid naming a dead process, or one that is not PostgreSQL (the pid
// was reused after a reboot), is removed so it cannot block the start.
func (c *Cluster) clearStale(ctx context.Context) error {
	pidFile := filepath.Join(c.pgdata, "postmaster.pid")
	raw, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read postmaster.pid: %w", err)
	}
	lines := strings.Split(string(raw), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(lines[0]))
	if pid > 0 && isPostgres(pid) {
		c.log.Warn("stopping PostgreSQL left running by an earlier sciflow", "pid", pid)
		if err := stopPID(ctx, pid); err != nil {
			return fmt.Errorf("stop orphaned PostgreSQL (pid %d): %w", pid, err)
		}
		return nil
	}
	c.log.Info("removing stale postmaster.pid", "pid", pid)
	if err := os.Remove(pidFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale postmaster.pid: %w", err)
	}
	os.Remove(filepath.Join(c.pgdata, ".s.PGSQL.5432.lock"))
	return nil
}

func isPostgres(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return false
	}
	return strings.HasPrefix(strings.TrimSpace(string(comm)), "postgres")
}

// stopPID asks a postmaster for a fast shutdown, then an immediate one.
func stopPID(ctx context.Context, pid int) error {
	for _, step := range []struct {
		sig  syscall.Signal
		wait time.Duration
	}{{syscall.SIGINT, 30 * time.Second}, {syscall.SIGQUIT, 10 * time.Second}} {
		if err := syscall.Kill(pid, step.sig); err != nil {
			if errors.Is(err, syscall.ESRCH) {
				return nil
			}
			return err
		}
		deadline := time.Now().Add(step.wait)
		for time.Now().Before(deadline) {
			if !isPostgres(pid) {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return errors.New("it did not exit")
}

func (c *Cluster) start(bin string, owner *osUser, settings map[string]string) error {
	logFile, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open PostgreSQL log: %w", err)
	}
	args := []string{"-D", c.pgdata, "-k", c.pgdata,
		"-c", "listen_addresses=", "-c", "unix_socket_permissions=0700"}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Dir = c.pgdata
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group, so a Ctrl-C meant for sciflow does not reach
		// PostgreSQL first: sciflow drains its requests, then stops the cluster.
		Setpgid: true,
		// If sciflow dies without stopping it (kill -9), the kernel tells the
		// postmaster to shut down fast instead of leaving an orphan.
		Pdeathsig: syscall.SIGINT,
	}
	runAs(cmd, owner)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start postgres: %w", err)
	}
	c.cmd, c.logFile = cmd, logFile
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	return nil
}

func runAs(cmd *exec.Cmd, owner *osUser) {
	if owner == nil {
		return
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: owner.uid, Gid: owner.gid}
	// The child keeps root's environment otherwise; HOME matters to nothing in
	// PostgreSQL but should not point into /root.
	cmd.Env = append(os.Environ(), "HOME="+filepath.Dir(cmd.Dir))
}

func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	db, err := sql.Open("postgres", c.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer db.Close()
	for {
		pingCtx, cancelPing := context.WithTimeout(ctx, time.Second)
		err := db.PingContext(pingCtx)
		cancelPing()
		if err == nil {
			return nil
		}
		select {
		case <-c.exited:
			return fmt.Errorf("PostgreSQL exited during start-up (see %s): %s", c.logPath, c.logTail())
		case <-ctx.Done():
			return fmt.Errorf("PostgreSQL did not accept connections within 60 s (see %s): %w", c.logPath, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// DSN is a lib/pq connection string for dbname over the cluster's socket,
// as the superuser.
func (c *Cluster) DSN(dbname string) string { return c.DSNAs(Superuser, dbname) }

// DSNAs is DSN for another role.
func (c *Cluster) DSNAs(role, dbname string) string {
	return fmt.Sprintf("host=%s port=5432 user=%s dbname=%s sslmode=disable", quote(c.pgdata), quote(role), quote(dbname))
}

func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// EnsureDatabase creates dbname when it does not exist yet.
func (c *Cluster) EnsureDatabase(ctx context.Context, dbname string) error {
	db, err := sql.Open("postgres", c.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer db.Close()
	var exists bool
	const q = `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`
	if err := db.QueryRowContext(ctx, q, dbname).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", dbname, err)
	}
	if exists {
		return nil
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(dbname)); err != nil {
		return fmt.Errorf("create database %s: %w", dbname, err)
	}
	return nil
}

// Exited is closed when the server process has ended, for whatever reason.
func (c *Cluster) Exited() <-chan struct{} { return c.exited }

// Stop shuts the server down (fast mode: open sessions are ended, committed
// work is safe) and waits for it to exit.
func (c *Cluster) Stop(ctx context.Context) error {
	if c.lock == nil {
		return nil
	}
	c.stopOnce.Do(func() {
		defer c.lock.Close()
		if c.cmd == nil {
			return
		}
		defer c.logFile.Close()
		select {
		case <-c.exited:
			return
		default:
		}
		_ = c.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-c.exited:
		case <-time.After(30 * time.Second):
			_ = c.cmd.Process.Signal(syscall.SIGQUIT)
			<-c.exited
		case <-ctx.Done():
			_ = c.cmd.Process.Signal(syscall.SIGQUIT)
			<-c.exited
		}
		c.log.Info("PostgreSQL stopped", "dir", c.pgdata)
	})
	return nil
}

func (c *Cluster) logTail() string {
	f, err := os.Open(c.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > 4096 {
		f.Seek(-4096, io.SeekEnd)
	}
	raw, _ := io.ReadAll(f)
	return lastLines(raw, 3)
}

// lastLines joins the last n non-empty lines of out into one line, so that a
// start-up failure stays a single clear line.
func lastLines(out []byte, n int) string {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

var errLocked = errors.New("data dir locked")

// lockDir takes the data dir's lock file. The kernel drops the lock when the
// process dies, however it dies, so a crash never leaves the dir locked.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "sciflow.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open data dir lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errLocked
		}
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	return f, nil
}

// StartThrowaway starts a cluster in a new temporary directory, tuned for
// tests: durability is off, since nothing in it outlives the run. The returned
// function stops it and removes the directory.
func StartThrowaway(ctx context.Context, log *slog.Logger) (*Cluster, func(), error) {
	// A short path under the system temp dir keeps the socket path legal.
	dir, err := os.MkdirTemp("", "sfpg-")
	if err != nil {
		return nil, nil, fmt.Errorf("temp dir for test cluster: %w", err)
	}
	c, err := Start(ctx, Options{
		Dir:    dir,
		NoSync: true,
		Logger: log,
		Settings: map[string]string{
			"fsync":              "off",
			"synchronous_commit": "off",
			"full_page_writes":   "off",
			"max_connections":    "300",
		},
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return c, func() {
		_ = c.Stop(context.Background())
		os.RemoveAll(dir)
	}, nil
}

// Processes lists the live PostgreSQL processes whose command line names
// dir: the way to prove that stopping left nothing behind.
func Processes(dir string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if strings.Contains(string(stat), ") Z ") { // a zombie holds nothing
			continue
		}
		if strings.Contains(string(cmdline), "postgres") && strings.Contains(string(cmdline), dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}
