package probe

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/axprobe/axprobe/internal/mailtest"
	"github.com/axprobe/axprobe/internal/secret"
	"github.com/axprobe/axprobe/internal/testkit"
)

// capsServer is a scripted IMAP listener for the capability exchange. It greets with
// greeting; answers CAPABILITY with plain before STARTTLS and with secure after it (or
// with BAD when secure is "BAD", never when it is "HANG"); starts TLS on STARTTLS; accepts LOGIN (its OK carries
// the capabilities, as Dovecot's does: imapclient asks again after a LOGIN whose OK does
// not, which is the library's doing, not the probe's), EXAMINE and LOGOUT; and counts
// every command it is sent, by name.
type capsServer struct {
	greeting, plain, secure string
	tls                     *tls.Config // for STARTTLS; nil when not offered

	mu     sync.Mutex
	counts map[string]int
}

func (s *capsServer) start(t *testing.T) string {
	t.Helper()
	s.counts = map[string]int{}
	return testkit.Listen(t, "tcp", "127.0.0.1:0", s.serve)
}

func (s *capsServer) count(command string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[command]
}

func (s *capsServer) serve(conn net.Conn) {
	defer func() { conn.Close() }()
	say := func(lines ...string) bool {
		_, err := conn.Write([]byte(strings.Join(lines, "\r\n") + "\r\n"))
		return err == nil
	}
	br := bufio.NewReader(conn)
	caps := s.plain
	if !say(s.greeting) {
		return
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		tag, rest, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		command, _, _ := strings.Cut(rest, " ")
		command = strings.ToUpper(command)
		s.mu.Lock()
		s.counts[command]++
		s.mu.Unlock()
		var ok bool
		switch command {
		case "CAPABILITY":
			if caps == "HANG" {
				_, _ = io.Copy(io.Discard, br) // never answers; reads until the probe hangs up
				return
			}
			if caps == "BAD" {
				ok = say(tag + " BAD not now")
			} else {
				ok = say("* CAPABILITY "+caps, tag+" OK done")
			}
		case "STARTTLS":
			if ok = say(tag + " OK begin TLS"); ok {
				tc := tls.Server(conn, s.tls)
				conn, br, caps = tc, bufio.NewReader(tc), s.secure
			}
		case "LOGIN":
			ok = say(tag + " OK [CAPABILITY IMAP4rev1] logged in")
		case "EXAMINE":
			ok = say("* FLAGS (\\Seen)", "* 0 EXISTS", "* OK [UIDVALIDITY 1] ok", tag+" OK [READ-ONLY] done")
		case "LOGOUT":
			say("* BYE bye", tag+" OK done")
			return
		default:
			ok = say(tag + " BAD unknown command")
		}
		if !ok {
			return
		}
	}
}

// TestIMAPAsksCapabilitiesOncePerState: the probe asks CAPABILITY only when nobody has
// told it the capabilities for the connection's current state (before TLS, after it):
// not when the greeting carries them, never twice after TLS. It asked twice after TLS
// (imapclient asks by itself on a greeting without the code, then the probe asked
// again), and before STARTTLS even when the greeting had the answer. Past STARTTLS the
// plain-text greeting's capabilities are not used: its LOGINDISABLED must not refuse
// the login.
func TestIMAPAsksCapabilitiesOncePerState(t *testing.T) {
	certs := newCerts(t, mailtest.CertOptions{})
	login := func(spec Spec) Spec {
		spec.Username, spec.Password = testUser, secret.New(testPassword)
		return spec
	}
	for _, tc := range []struct {
		name string
		srv  *capsServer
		spec Spec
		want int // CAPABILITY commands sent
	}{
		{"no code in the greeting, no TLS", &capsServer{greeting: "* OK Axigen ready", plain: "IMAP4rev1 AUTH=PLAIN"},
			login(Spec{}), 1},
		{"the code in the greeting, no TLS", &capsServer{greeting: "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready", plain: "IMAP4rev1 AUTH=PLAIN"},
			login(Spec{}), 0},
		{"no code in the greeting, STARTTLS", &capsServer{greeting: "* OK Axigen ready",
			plain: "IMAP4rev1 STARTTLS LOGINDISABLED", secure: "IMAP4rev1 AUTH=PLAIN", tls: certs.ServerTLSConfig()},
			login(Spec{TLS: TLSStartTLS, CAFile: certs.CAFile}), 2},
		{"the code in the greeting, STARTTLS", &capsServer{greeting: "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready",
			plain: "IMAP4rev1 STARTTLS LOGINDISABLED", secure: "IMAP4rev1 AUTH=PLAIN", tls: certs.ServerTLSConfig()},
			login(Spec{TLS: TLSStartTLS, CAFile: certs.CAFile}), 1},
		// A greeting whose list lacks STARTTLS is not the last word: CAPABILITY is asked.
		{"the code in the greeting without STARTTLS, STARTTLS", &capsServer{greeting: "* OK [CAPABILITY IMAP4rev1] ready",
			plain: "IMAP4rev1 STARTTLS LOGINDISABLED", secure: "IMAP4rev1 AUTH=PLAIN", tls: certs.ServerTLSConfig()},
			login(Spec{TLS: TLSStartTLS, CAFile: certs.CAFile}), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec
			spec.Protocol, spec.Address = "imap", tc.srv.start(t)
			tr, err := runProbe(t, spec, probeTimeout)
			wantOK(t, tr, err)
			if n := tc.srv.count("CAPABILITY"); n != tc.want {
				t.Errorf("CAPABILITY sent %d times, want %d (phases %v)", n, tc.want, phaseNames(tr))
			}
			if n := tc.srv.count("LOGIN"); n != 1 {
				t.Errorf("LOGIN sent %d times, want once", n)
			}
		})
	}
}

// TestIMAPCapabilityRefusedAfterTLS: when the CAPABILITY imapclient sends by itself
// is refused, the probe fails in the capability phase as a protocol error, as it did
// when it asked itself.
func TestIMAPCapabilityRefusedAfterTLS(t *testing.T) {
	certs := newCerts(t, mailtest.CertOptions{})
	srv := &capsServer{greeting: "* OK Axigen ready", plain: "IMAP4rev1 STARTTLS", secure: "BAD", tls: certs.ServerTLSConfig()}
	spec := Spec{Protocol: "imap", Address: srv.start(t), TLS: TLSStartTLS, CAFile: certs.CAFile,
		Username: testUser, Password: secret.New(testPassword)}
	_, err := runProbe(t, spec, probeTimeout)
	wantFail(t, err, ReasonProtocol, "capability")
	if n := srv.count("LOGIN"); n != 0 {
		t.Errorf("LOGIN sent %d times after CAPABILITY failed", n)
	}
}

// TestIMAPCapabilityHangsAfterTLS: when the CAPABILITY imapclient sends by itself is
// never answered, the probe ends at its timeout in the capability phase (imapclient's own
// wait for it is 30 s).
func TestIMAPCapabilityHangsAfterTLS(t *testing.T) {
	certs := newCerts(t, mailtest.CertOptions{})
	srv := capsServer{greeting: "* OK Axigen ready", plain: "IMAP4rev1 STARTTLS", secure: "HANG", tls: certs.ServerTLSConfig()}
	spec := Spec{Protocol: "imap", Address: srv.start(t), TLS: TLSStartTLS, CAFile: certs.CAFile,
		Username: testUser, Password: secret.New(testPassword)}
	_, err := runProbe(t, spec, hangTimeout)
	wantFail(t, err, ReasonTimeout, "capability")
}
