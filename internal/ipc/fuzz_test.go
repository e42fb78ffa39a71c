package ipc

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzParseRequest: whatever a client sends, the parser returns a request whose wire form
// parses back to itself, or an error; it never panics.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{"PING\n", "MONITOR axigen\n", "status\r\n", "VERSION", "MONITOR  a", "\x00", "MONITOR a b"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ParseRequest(b)
		if err != nil {
			return
		}
		again, err := ParseRequest([]byte(req.String() + "\n"))
		if err != nil || again != req {
			t.Fatalf("ParseRequest(%q) = %+v, but its wire form %q parses to %+v, %v", b, req, req.String(), again, err)
		}
	})
}

// FuzzParseAnswer: a reply accepted by ParseAnswer is well-formed: formatting it gives one
// line that parses back to the same answer (after FormatAnswer's rounding).
func FuzzParseAnswer(f *testing.F) {
	f.Add(`axprobe/1 code=110 state=online confidence=0.97 age=1.2s max_age=30s target=axigen reason="all checks healthy"`)
	f.Add(`axprobe/1 code=100 state=offline confidence=0 age=0s max_age=0s target=a reason=x extra="\x01"`)
	f.Add(`axprobe/1 ERR no target "x"`)
	f.Add(`axprobe/2 code=110`)
	f.Fuzz(func(t *testing.T, line string) {
		a, err := ParseAnswer(line)
		if err != nil {
			return
		}
		out, err := FormatAnswer(a)
		if err != nil {
			t.Fatalf("ParseAnswer(%q) = %+v, which FormatAnswer rejects: %v", line, a, err)
		}
		if !isASCIIPrintable(out) {
			t.Fatalf("FormatAnswer(%+v) = %q: not printable ASCII", a, out)
		}
		b, err := ParseAnswer(out)
		if err != nil {
			t.Fatalf("FormatAnswer output %q does not parse: %v", out, err)
		}
		out2, _ := FormatAnswer(b)
		if out2 != out {
			t.Fatalf("format is not stable: %q then %q", out, out2)
		}
	})
}

// FuzzParseFallback: a fallback file the reader accepts can be written and read back to
// the same targets; one it refuses gets an error that quotes none of its content (the
// hostile cases: /etc/shadow or a key planted in the fallback file's place).
func FuzzParseFallback(f *testing.F) {
	f.Add([]byte("axprobe-fallback=1\ntarget=axigen\nvip=10.0.0.5\npidfile=/run/a.pid\nprocess=axigen\nport=10.0.0.5:25\ninterval=10s\n"))
	f.Add([]byte("axprobe-fallback=1\r\ntarget=a\r\nx=y\r\ntarget=b\r\nport=[::1]:1\r\n"))
	f.Add([]byte("# c\naxprobe-fallback=1\n"))
	f.Add([]byte("root:$6$s3cr3t-hash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"))
	f.Add([]byte("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA=\n"))
	f.Add([]byte("axprobe-fallback=1\ntarget=a\nvip=s3cr3t-value-here\n"))
	f.Add([]byte("axprobe-fallback=1\ntarget=a\ninterval=s3cr3t-value-here\n"))
	f.Add([]byte("axprobe-fallback=1\ntarget=s3cr3t$value\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		targets, err := parseFallback(data)
		if err != nil {
			msg := err.Error()
			for _, line := range strings.Split(string(data), "\n") {
				for _, part := range strings.FieldsFunc(line, func(r rune) bool { return r == '=' || r == '\r' }) {
					if len(part) >= 12 && strings.Contains(msg, part) && !strings.Contains(fallbackHeader+" axprobe-fallback", part) {
						t.Fatalf("error %q quotes content %q", msg, part)
					}
				}
			}
			return
		}
		path := t.TempDir() + "/f"
		if err := WriteFallback(path, targets); err != nil {
			t.Fatalf("parsed %+v from %q but cannot write it: %v", targets, data, err)
		}
		again, err := ReadFallback(path)
		if err != nil {
			t.Fatalf("cannot read back %+v: %v", targets, err)
		}
		if len(targets) == 0 && len(again) == 0 {
			return
		}
		if !reflect.DeepEqual(again, targets) {
			t.Fatalf("round trip changed\n%+v\ninto\n%+v", targets, again)
		}
	})
}
