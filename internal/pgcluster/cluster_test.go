package pgcluster

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

func shortTempDir(t *testing.T) string {
	t.Helper()
	// t.TempDir's paths can be too long for a Unix socket.
	dir, err := os.MkdirTemp("", "sfpgt-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func query(t *testing.T, c *Cluster, q string, args ...any) string {
	t.Helper()
	db, err := sql.Open("postgres", c.DSN("postgres"))
	require.NoError(t, err)
	defer db.Close()
	var out string
	require.NoError(t, db.QueryRow(q, args...).Scan(&out))
	return out
}

func exec1(t *testing.T, c *Cluster, q string) {
	t.Helper()
	db, err := sql.Open("postgres", c.DSN("postgres"))
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(q)
	require.NoError(t, err)
}

func TestStartKeepsDataAcrossRestarts(t *testing.T) {
	dir := shortTempDir(t)
	ctx := context.Background()

	c, err := Start(ctx, Options{Dir: dir})
	require.NoError(t, err)
	require.NoError(t, c.EnsureDatabase(ctx, "keep"))
	exec1(t, c, `CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')`)
	if os.Geteuid() == 0 {
		// As root the server must have been handed to an unprivileged account.
		fi, err := os.Stat(filepath.Join(dir, "pg"))
		require.NoError(t, err)
		require.NotEqual(t, uint32(0), fi.Sys().(*syscall.Stat_t).Uid, "cluster dir must not belong to root")
	}
	require.NoError(t, c.Stop(ctx))
	require.Empty(t, Processes(dir), "Stop must leave no PostgreSQL process")

	start := time.Now()
	c, err = Start(ctx, Options{Dir: dir})
	require.NoError(t, err)
	t.Logf("second start took %s", time.Since(start))
	defer c.Stop(ctx)
	require.Equal(t, "still here", query(t, c, `SELECT v FROM kept`))
	require.True(t, query(t, c, `SELECT current_setting('listen_addresses')`) == "", "no TCP listener")
}

func TestStartClearsStalePidFile(t *testing.T) {
	dir := shortTempDir(t)
	ctx := context.Background()
	c, err := Start(ctx, Options{Dir: dir, NoSync: true})
	require.NoError(t, err)
	require.NoError(t, c.Stop(ctx))

	// What a crash of the whole machine leaves: a pid file naming a process
	// that is not PostgreSQL (here: this test, which is alive).
	pidFile := filepath.Join(dir, "pg", "postmaster.pid")
	content := fmt.Sprintf("%d\n%s\n", os.Getpid(), filepath.Join(dir, "pg"))
	require.NoError(t, os.WriteFile(pidFile, []byte(content), 0o600))

	c, err = Start(ctx, Options{Dir: dir, NoSync: true})
	require.NoError(t, err)
	defer c.Stop(ctx)
	require.Equal(t, "1", query(t, c, `SELECT '1'`))
}

func TestStartStopsAnOrphanedServer(t *testing.T) {
	dir := shortTempDir(t)
	ctx := context.Background()
	c, err := Start(ctx, Options{Dir: dir, NoSync: true})
	require.NoError(t, err)
	require.NoError(t, c.Stop(ctx))

	// Start a postmaster on the same directory that is not our child, as if
	// an earlier sciflow had been killed and the parent-death signal lost.
	bin, err := FindBinDir()
	require.NoError(t, err)
	orphan := exec.Command(filepath.Join(bin, "postgres"), "-D", filepath.Join(dir, "pg"), "-k", filepath.Join(dir, "pg"), "-c", "listen_addresses=")
	orphan.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	owner, err := clusterOwner(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	if owner != nil {
		orphan.SysProcAttr.Credential = &syscall.Credential{Uid: owner.uid, Gid: owner.gid}
	}
	require.NoError(t, orphan.Start())
	go orphan.Wait()
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(dir, "pg", ".s.PGSQL.5432"))
		return err == nil
	}, 30*time.Second, 50*time.Millisecond)

	c, err = Start(ctx, Options{Dir: dir, NoSync: true})
	require.NoError(t, err)
	defer c.Stop(ctx)
	require.NotEqual(t, orphan.Process.Pid, c.cmd.Process.Pid)
	require.Equal(t, "1", query(t, c, `SELECT '1'`))
	require.False(t, isPostgres(orphan.Process.Pid), "the orphan must have been stopped")
}

func TestSecondProcessIsAGuest(t *testing.T) {
	dir := shortTempDir(t)
	ctx := context.Background()
	owner, err := Start(ctx, Options{Dir: dir, NoSync: true})
	require.NoError(t, err)
	defer owner.Stop(ctx)

	// flock is per open file, so a second Start in this process contends
	// exactly as a second sciflow process would.
	guest, err := Start(ctx, Options{Dir: dir, NoSync: true})
	require.NoError(t, err)
	require.Nil(t, guest.lock)
	require.NoError(t, guest.Stop(ctx))
	require.Equal(t, "1", query(t, owner, `SELECT '1'`), "a guest's Stop must not stop the owner's server")
}

func TestMissingBinariesNameThePackage(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	old := debianBinGlob
	debianBinGlob = filepath.Join(t.TempDir(), "*", "bin")
	defer func() { debianBinGlob = old }()
	_, err := Start(context.Background(), Options{Dir: shortTempDir(t)})
	require.Error(t, err)
	require.Contains(t, err.Error(), "apt-get install postgresql")
	require.NotContains(t, err.Error(), "\n")
}

func TestUnwritableDataDir(t *testing.T) {
	file := filepath.Join(shortTempDir(t), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, err := Start(context.Background(), Options{Dir: filepath.Join(file, "data")})
	require.ErrorContains(t, err, "create data dir")
}

// A data dir under a directory closed to others (a checkout in /root) cannot
// hold a cluster that runs as postgres; as root the cluster moves out and
// the data dir keeps a link to it.
func TestUnreachableDataDir(t *testing.T) {
	closed := shortTempDir(t) // MkdirTemp makes it 0700
	dir := filepath.Join(closed, "data")
	old := relocatedRoot
	relocatedRoot = filepath.Join(shortTempDir(t), "clusters")
	defer func() { relocatedRoot = old }()
	require.NoError(t, os.Chmod(filepath.Dir(relocatedRoot), 0o755))

	c, err := Start(context.Background(), Options{Dir: dir, NoSync: true})
	require.NoError(t, err)
	defer c.Stop(context.Background())
	require.Equal(t, "1", query(t, c, `SELECT '1'`))
	if os.Geteuid() == 0 {
		require.True(t, strings.HasPrefix(c.pgdata, relocatedRoot), "cluster at %s", c.pgdata)
		target, err := os.Readlink(filepath.Join(dir, "pg"))
		require.NoError(t, err)
		require.Equal(t, c.pgdata, target)
	} else {
		require.Equal(t, filepath.Join(dir, "pg"), c.pgdata, "a normal user runs the cluster itself, in place")
	}
}
