package realserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// binaries are the server programs, as absolute paths.
type binaries struct {
	dovecot, postfixMaster, nginx string
}

// findBinaries locates the programs the wanted servers need, in PATH or /usr/sbin (which a
// non-login root shell may lack in PATH). The error names every missing program.
func findBinaries(want Service) (binaries, error) {
	var b binaries
	var missing []string
	find := func(name string) string {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		if p := filepath.Join("/usr/sbin", name); isExecutable(p) {
			return p
		}
		missing = append(missing, name)
		return ""
	}
	if want&Dovecot != 0 {
		b.dovecot = find("dovecot")
	}
	if want&Postfix != 0 {
		if postconf := find("postconf"); postconf != "" {
			out, err := exec.Command(postconf, "-d", "-h", "daemon_directory").Output()
			b.postfixMaster = filepath.Join(strings.TrimSpace(string(out)), "master")
			if err != nil || !isExecutable(b.postfixMaster) {
				missing = append(missing, "postfix master ("+b.postfixMaster+")")
			}
		}
	}
	if want&Nginx != 0 {
		b.nginx = find("nginx")
	}
	if len(missing) > 0 {
		return b, fmt.Errorf("not installed: %s; run scripts/install-test-deps.sh as root",
			strings.Join(missing, ", "))
	}
	return b, nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// makePostfixDirs creates Postfix's data directory and queue tree with the owners and
// modes of /etc/postfix/postfix-files, which is what "postfix check" would do, in a
// fraction of its two seconds.
func makePostfixDirs(queue, data string) error {
	owner, err := lookupID(user.Lookup, "postfix", func(u *user.User) string { return u.Uid })
	if err != nil {
		return err
	}
	postdrop, err := lookupID(user.LookupGroup, "postdrop", func(g *user.Group) string { return g.Gid })
	if err != nil {
		return err
	}
	const root = 0
	type dir struct {
		path     string
		uid, gid int
		mode     os.FileMode
	}
	dirs := []dir{
		{data, owner, root, 0o700},
		{queue, root, root, 0o755},
		{filepath.Join(queue, "pid"), root, root, 0o755},
		{filepath.Join(queue, "maildrop"), owner, postdrop, 0o730},
		{filepath.Join(queue, "public"), owner, postdrop, 0o710},
	}
	for _, name := range []string{"active", "bounce", "corrupt", "defer", "deferred", "flush",
		"hold", "incoming", "private", "saved", "trace"} {
		dirs = append(dirs, dir{filepath.Join(queue, name), owner, root, 0o700})
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d.path, 0o755); err != nil {
			return err
		}
		if err := os.Chown(d.path, d.uid, d.gid); err != nil {
			return err
		}
		if err := os.Chmod(d.path, d.mode); err != nil {
			return err
		}
	}
	return nil
}

// lookupID looks name up with lookup and returns the numeric id that id extracts.
func lookupID[T any](lookup func(string) (T, error), name string, id func(T) string) (int, error) {
	v, err := lookup(name)
	if err != nil {
		return 0, fmt.Errorf("%w (is postfix installed?)", err)
	}
	n, err := strconv.Atoi(id(v))
	if err != nil {
		return 0, fmt.Errorf("%s: id %q is not a number", name, id(v))
	}
	return n, nil
}

// freePorts returns n distinct ports that were free on 127.0.0.1 a moment ago. All are
// held open together so that none is handed out twice.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// lineReady returns a readiness check: connect to addr (over TLS verified by cfg when cfg
// is not nil), send send, and expect the first line of the answer to start with prefix.
func lineReady(addr string, cfg *tls.Config, send, prefix string) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		defer conn.Close()
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(dl)
		}
		if cfg != nil {
			tc := tls.Client(conn, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				return fmt.Errorf("%s: TLS: %w", addr, err)
			}
			conn = tc
		}
		if send != "" {
			if _, err := conn.Write([]byte(send)); err != nil {
				return err
			}
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			return fmt.Errorf("%s: read: %w", addr, err)
		}
		if !strings.HasPrefix(line, prefix) {
			return fmt.Errorf("%s: answered %q, want %q...", addr, strings.TrimSpace(line), prefix)
		}
		return nil
	}
}

// socketReady returns a readiness check that a Unix socket accepts connections.
func socketReady(path string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "unix", path)
		if err != nil {
			return err
		}
		return conn.Close()
	}
}

// waitReady retries ready until it succeeds, p exits, or ctx ends.
func waitReady(ctx context.Context, p *Process, ready func(context.Context) error) error {
	for {
		err := ready(ctx)
		if err == nil {
			return nil
		}
		// The servers give no signal when they are ready; polling is the only way.
		timer := time.NewTimer(20 * time.Millisecond)
		select {
		case <-p.done:
			timer.Stop()
			return fmt.Errorf("%s exited while starting (%v); its output is in %s", p.Name, p.waitErr, p.Log)
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%s not ready after %s: %w", p.Name, readyTimeout, err)
		case <-timer.C:
		}
	}
}

// Stop kills every server (SIGKILL: a graceful stop buys nothing for a throwaway server,
// and Dovecot's costs a second), waits until none of their processes is left, and returns
// what went wrong. It is safe to call more than once; t.Cleanup calls it too. It does not
// remove Dir (the cleanup does, after printing the logs of a failed test).
func (s *Servers) Stop() error {
	s.stopOnce.Do(func() {
		var errs []error
		for _, p := range []*Process{s.Nginx, s.Postfix, s.Dovecot} {
			if p != nil {
				errs = append(errs, p.Kill(killTimeout))
			}
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

// logLogs prints the tail of every log file of the run to t.
func (s *Servers) logLogs(t interface{ Logf(string, ...any) }) {
	const maxTail = 8 << 10
	entries, err := os.ReadDir(s.logDir)
	if err != nil {
		t.Logf("realserver: no logs: %v", err)
		return
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(s.logDir, e.Name()))
		if err != nil || len(b) == 0 {
			continue
		}
		if len(b) > maxTail {
			b = b[len(b)-maxTail:]
		}
		t.Logf("realserver: ---- %s ----\n%s", e.Name(), b)
	}
}
