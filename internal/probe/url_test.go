package probe

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		raw  string
		want Spec
	}{
		{"smtp://mx.example.com", Spec{Protocol: "smtp", Address: "mx.example.com:25", TLS: TLSNone}},
		{"smtps://10.0.0.5", Spec{Protocol: "smtp", Address: "10.0.0.5:465", TLS: TLSImplicit}},
		{"SMTP://10.0.0.5:587", Spec{Protocol: "smtp", Address: "10.0.0.5:587", TLS: TLSNone}},
		{"imap://probe@10.0.0.5", Spec{Protocol: "imap", Address: "10.0.0.5:143", TLS: TLSNone, Username: "probe"}},
		{"imaps://probe@[::1]/Sent%20Items", Spec{Protocol: "imap", Address: "[::1]:993", TLS: TLSImplicit, Username: "probe", Mailbox: "Sent Items"}},
		{"imap://h/INBOX", Spec{Protocol: "imap", Address: "h:143", TLS: TLSNone, Mailbox: "INBOX"}},
		{"pop3://u@h", Spec{Protocol: "pop3", Address: "h:110", TLS: TLSNone, Username: "u"}},
		{"pop3s://h", Spec{Protocol: "pop3", Address: "h:995", TLS: TLSImplicit}},
		{"http://h", Spec{Protocol: "http", Address: "h:80", TLS: TLSNone, Path: "/"}},
		{"https://h:9443/index.hsp?a=b", Spec{Protocol: "http", Address: "h:9443", TLS: TLSImplicit, Path: "/index.hsp?a=b"}},
		{"axigen-cli://admin@127.0.0.1", Spec{Protocol: "cli", Address: "127.0.0.1:7000", TLS: TLSNone, Username: "admin"}},
		{"tcp://h:21", Spec{Protocol: "tcp", Address: "h:21", TLS: TLSNone}},
	}
	for _, tt := range tests {
		got, err := ParseURL(tt.raw)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", tt.raw, got, err, tt.want)
		}
	}
}

func TestParseURLErrors(t *testing.T) {
	tests := []struct{ raw, wantInErr string }{
		{"ftp://h", `scheme "ftp"`},
		{"tcp://h", "needs a port"},
		{"imap://h:0", "port"},
		{"imap://h:70000", "port"},
		{"imap:h", "not followed by //"},
		{"imap:///INBOX", "no host"},
		{"smtp://h/path", "no path"},
		{"pop3://h?x=1", "no path or query"},
		{"http://u@h", "do not log in"},
		{"tcp://u@h:1", "do not log in"},
		{"imap://h#frag", "fragment"},
		{"imap://a%0d%0aLOGOUT@h", "line break"},
		{"imap://h/IN%0aBOX", "line break"},
		{"imap://h:port", "url"},
	}
	for _, tt := range tests {
		_, err := ParseURL(tt.raw)
		if err == nil || !strings.Contains(err.Error(), tt.wantInErr) {
			t.Errorf("ParseURL(%q) error = %v, want it to mention %q", tt.raw, err, tt.wantInErr)
		}
	}
}

func TestParseURLRejectsPasswordWithoutRepeatingIt(t *testing.T) {
	for _, raw := range []string{
		"imap://probe:hunter2@10.0.0.5",
		"imap://probe:hunter2@10.0.0.5:bad",
		"imap://probe:hunter2@10.0.0.5:99999",
		"bogus://probe:hunter2@h",
		"imap://probe:hunter2@h/%zz",
		// Opaque URLs: the scheme is the user, the password sits in the opaque part
		// (issue 13: "u:pw@host:port" echoed the password).
		"probe:hunter2@10.0.0.5:143",
		"imap:hunter2@h",
	} {
		_, err := ParseURL(raw)
		if err == nil {
			t.Errorf("ParseURL(%q) accepted a password", raw)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseURL(%q) error repeats the password: %v", raw, err)
		}
	}
	_, err := ParseURL("imap://probe:hunter2@10.0.0.5")
	if err == nil || !strings.Contains(err.Error(), "--password-file") {
		t.Errorf("error %v does not point to --password-file", err)
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"imap://probe@h/INBOX", "https://h:9443/x?y", "tcp://[::1]:1", "smtp://u:p@h", "axigen-cli://h", "u:pw@host:25",
		"roundtrip://u@h:587?imap=h:993&to=a@b.test&from=c@d.test&mailbox=INBOX"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		spec, err := ParseURL(raw)
		if err != nil {
			// What follows "scheme:" without "//" may be "password@host": never repeated.
			scheme, rest, _ := strings.Cut(raw, ":")
			if pw, _, ok := strings.Cut(rest, "@"); ok && isScheme(scheme) && len(pw) >= 6 &&
				!strings.ContainsAny(pw, "/?#") && strings.Contains(err.Error(), pw) {
				t.Fatalf("ParseURL(%q) error repeats %q: %v", raw, pw, err)
			}
			return
		}
		// Whatever ParseURL accepts, New must accept too: the URL is the whole probe.
		if _, err := New(spec); err != nil {
			t.Fatalf("ParseURL(%q) = %+v, but New rejects it: %v", raw, spec, err)
		}
	})
}

// isScheme reports whether s is a URL scheme (RFC 3986: a letter, then letters, digits, + - .).
func isScheme(s string) bool {
	if s == "" || !('a' <= s[0]|0x20 && s[0]|0x20 <= 'z') {
		return false
	}
	return strings.Trim(strings.ToLower(s), "abcdefghijklmnopqrstuvwxyz0123456789+-.") == ""
}
