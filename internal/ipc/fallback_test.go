package ipc

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func sampleTargets() []FallbackTarget {
	return []FallbackTarget{
		{Name: "axigen", VIP: "10.0.0.5", PidFile: "/var/opt/axigen/run/axigen.pid", Process: "axigen",
			Ports: []string{"10.0.0.5:25", "10.0.0.5:143", "[fd00::5]:993"}, Interval: 10 * time.Second},
		{Name: "second", VIP: "fd00::6", Process: "axigen"},
	}
}

func TestFallbackRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "axprobe.sock"+FallbackSuffix)
	want := sampleTargets()
	if err := WriteFallback(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFallback(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back\n%+v\nwant\n%+v", got, want)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v; want 0644", fi.Mode(), err)
	}
	// Rewriting replaces the file and leaves no temp file behind.
	if err := WriteFallback(path, want[:1]); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d files after rewrite, want 1", len(entries))
	}
	if got, _ := ReadFallback(path); len(got) != 1 {
		t.Errorf("rewrite: read %d targets, want 1", len(got))
	}

	first, err := FindFallback(want, "")
	if err != nil || first.Name != "axigen" {
		t.Errorf("FindFallback(\"\") = %+v, %v", first, err)
	}
	if second, err := FindFallback(want, "second"); err != nil || second.VIP != "fd00::6" {
		t.Errorf("FindFallback(second) = %+v, %v", second, err)
	}
	if _, err := FindFallback(want, "nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("FindFallback(nope) = %v", err)
	}
	if _, err := FindFallback(nil, ""); err == nil {
		t.Error("FindFallback(no targets) succeeded")
	}
}

func TestWriteFallbackRejects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	for _, tc := range []struct {
		target FallbackTarget
		want   string
	}{
		{FallbackTarget{Name: "a b"}, "target \"a b\""},
		{FallbackTarget{Name: "a", VIP: "10.0.0"}, `vip "10.0.0"`},
		{FallbackTarget{Name: "a", PidFile: "/x\n/y"}, "control character"},
		{FallbackTarget{Name: "a", Ports: []string{"10.0.0.1"}}, `port "10.0.0.1" is not host:port`},
		{FallbackTarget{Name: "a", Ports: []string{"10.0.0.1:0"}}, "1-65535"},
		{FallbackTarget{Name: "a", Ports: []string{":25"}}, "not host:port"},
		{FallbackTarget{Name: "a", Interval: -time.Second}, "negative"},
	} {
		err := WriteFallback(path, []FallbackTarget{tc.target})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("WriteFallback(%+v) = %v, want an error containing %q", tc.target, err, tc.want)
		}
	}
	if err := WriteFallback(path, []FallbackTarget{{Name: "a"}, {Name: "a"}}); err == nil {
		t.Error("duplicate targets written")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a rejected write left a file: %v", err)
	}
}

func TestReadFallbackRejects(t *testing.T) {
	const head = "axprobe-fallback=1\n"
	for _, tc := range []struct{ content, want string }{
		{"", "no \"axprobe-fallback=1\" header"},
		{"# only a comment\n", "no \"axprobe-fallback=1\" header"},
		{"target=a\n", ":1: first line must be"},
		{"axprobe-fallback=2\ntarget=a\n", `:1: format version not supported`},
		{head + "vip=10.0.0.1\n", ":2: vip before the first target="},
		{head + "target=a\nvip=1.2.3.4\nvip=1.2.3.5\n", ":4: vip given twice for one target"},
		{head + "target=a\ntarget=a\n", ":3: a target listed twice"},
		{head + "target=a\nno equals sign\n", `:3: not a key=value line`},
		{head + "target=a\ninterval=soon\n", `:3: interval is not a positive duration`},
		{head + "target=a\ninterval=0s\n", `:3: interval is not a positive duration`},
		{head + "target=a\nport=x\n", `:4: target 1: bad port`},
		{head + "target=a\npidfile=/a\x00b\n", ":3: contains a control character"},
		{head + "target=\n", `:3: target 1: bad target`},
		{head + "target=a\n" + strings.Repeat("#", maxFallbackFile), "larger than"},
	} {
		path := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := ReadFallback(path)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "fallback "+path) {
			t.Errorf("ReadFallback(%.60q) = %v, want an error naming the file and containing %q", tc.content, err, tc.want)
		}
	}
	if _, err := ReadFallback(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("ReadFallback(missing) succeeded")
	}
	// Unknown keys (from a newer daemon) and CRLF line ends are accepted.
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte(head+"target=a\r\nweight=3\r\nprocess=axigen\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFallback(path)
	if err != nil || len(got) != 1 || got[0].Process != "axigen" {
		t.Errorf("ReadFallback with an unknown key = %+v, %v", got, err)
	}
}

// TestReadFallbackHostileFiles is issue 13's "the shim trusts whatever sits beside the
// socket": a symlink (to a secret), a FIFO, a device, a hard link, a file others can write
// and one owned by another user are refused, quickly, and no error quotes their content.
func TestReadFallbackHostileFiles(t *testing.T) {
	const secretLine = "root:$6$s3cr3t-hash:19000:0:99999:7:::"
	dir := t.TempDir()
	secret := filepath.Join(dir, "shadow")
	if err := os.WriteFile(secret, []byte(secretLine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	valid := "axprobe-fallback=1\ntarget=a\nprocess=axigen\n"
	me := os.Geteuid()
	cases := []struct {
		name  string
		setup func(path string) error
		want  string
	}{
		{"symlink to a secret", func(p string) error { return os.Symlink(secret, p) }, "symbolic link"},
		{"symlink to /dev/zero", func(p string) error { return os.Symlink("/dev/zero", p) }, "symbolic link"},
		{"FIFO", func(p string) error { return syscall.Mkfifo(p, 0o644) }, "not a regular file"},
		{"directory", func(p string) error { return os.Mkdir(p, 0o755) }, "not a regular file"},
		{"hard link to a secret", func(p string) error { return os.Link(secret, p) }, "2 hard links"},
		{"group-writable", func(p string) error { return writeMode(p, valid, 0o664) }, "mode 0664"},
		{"world-writable", func(p string) error { return writeMode(p, valid, 0o646) }, "mode 0646"},
		{"a secret that is not a fallback file", func(p string) error { return writeMode(p, secretLine+"\n", 0o644) }, ":1: not a key=value line"},
	}
	if me == 0 {
		cases = append(cases, struct {
			name  string
			setup func(path string) error
			want  string
		}{"owned by nobody", func(p string) error {
			if err := writeMode(p, valid, 0o644); err != nil {
				return err
			}
			return os.Chown(p, 65534, 65534)
		}, "owned by uid 65534"})
	} else {
		t.Log("not root: the foreign-owner case runs only as root (CI runs it)")
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.sock.fallback")
			if err := c.setup(path); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { _, err := ReadFallback(path, 0, me); done <- err }()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("ReadFallback hangs")
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("ReadFallback = %v, want an error containing %q", err, c.want)
			}
			if err != nil && (strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "root:")) {
				t.Errorf("the error quotes the file's content: %v", err)
			}
		})
	}
	// The same file, owned by a trusted uid and not writable by others, is read.
	path := filepath.Join(dir, "good")
	if err := writeMode(path, valid, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadFallback(path, 0, me); err != nil || len(got) != 1 {
		t.Errorf("a good fallback file: %+v, %v", got, err)
	}
}

func writeMode(path, content string, mode os.FileMode) error {
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}
