// Package realserver runs real Dovecot, Postfix and nginx servers for integration tests:
// each as a foreground child in its own process group, with its own configuration under a
// fresh directory, on free ports of 127.0.0.1, with TLS from a CA made for the run.
//
// Axigen itself cannot be installed here; these servers speak the same protocols, so the
// probers can be tested against real implementations. Everything Start starts, Stop (run
// by t.Cleanup) kills and reaps.
//
// Tests that use Start run only when AXPROBE_INTEGRATION=1 and skip otherwise; with it set,
// a missing server binary or a server that does not start fails the test. The servers need
// root (they switch users, and the mail is owned by uid VmailUID);
// scripts/install-test-deps.sh installs them.
package realserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/secret"
)

// EnvVar enables the integration tests when set to "1".
const EnvVar = "AXPROBE_INTEGRATION"

// VmailUID owns the test mailbox (uid and gid); no passwd entry is needed for it.
const VmailUID = 5000

// What the nginx server (the WebMail stand-in) serves.
const (
	HeaderName   = "X-Served-By"    // set on every response, errors included
	HeaderValue  = "Axigen-WebMail" // the value of HeaderName
	PageTitle    = "Axigen WebMail" // the <title> of the page at "/"
	PathDown     = "/down"          // answers 503
	PathRedirect = "/moved"         // answers 302 to "/"
)

// The test mailbox.
const (
	testUser     = "probe"
	testPassword = "probe-Pa55-word"
	testDomain   = "example.test"
)

// How long the harness waits for things, at most.
const (
	readyTimeout = 20 * time.Second // all servers answering
	killTimeout  = 5 * time.Second  // every process of a server to be gone after SIGKILL
)

// Service selects servers to start.
type Service uint8

// The servers Start can start.
const (
	Dovecot Service = 1 << iota // IMAP and POP3
	Postfix                     // SMTP; brings Dovecot along for SASL and the mailbox
	Nginx                       // HTTP and HTTPS
	All     = Dovecot | Postfix | Nginx
)

// Options says what to start.
type Options struct {
	Services Service // zero means All
}

// Servers is a running set of servers. Addresses are "127.0.0.1:port"; those of servers
// not started are empty, as are their *Process fields.
type Servers struct {
	Dir    string // the run's directory: configuration, logs, mail; removed at cleanup
	CAFile string // PEM of the CA that signed every server's certificate
	// CertFile and KeyFile are the certificate and key every server uses; a fault test may
	// overwrite CertFile and make the servers reload it.
	CertFile, KeyFile string

	User     string        // the test mailbox's login
	Password secret.Secret // its password
	Mailbox  string        // its mail address; Postfix delivers mail for it into Maildir
	Maildir  string        // its Maildir, the one Dovecot serves

	IMAP  string // Dovecot IMAP, plain with STARTTLS offered
	IMAPS string // Dovecot IMAP, implicit TLS
	POP3  string // Dovecot POP3, plain with STLS offered
	POP3S string // Dovecot POP3, implicit TLS
	SMTP  string // Postfix smtpd, plain with STARTTLS offered (AUTH only after it)
	SMTPS string // Postfix smtpd, implicit TLS (smtpd_tls_wrappermode)
	HTTP  string // nginx
	HTTPS string // nginx over TLS

	Dovecot *Process
	Postfix *Process
	Nginx   *Process

	logDir   string
	stopOnce sync.Once
	stopErr  error
}

// Start starts the servers opts asks for and returns once every listener answers. It skips
// t unless AXPROBE_INTEGRATION=1, and fails t (never skips) when a server cannot be
// started. t.Cleanup stops the servers, prints their logs if t failed, and removes Dir.
func Start(t testing.TB, opts Options) *Servers {
	t.Helper()
	if os.Getenv(EnvVar) != "1" {
		t.Skipf("integration test against real Dovecot, Postfix and nginx: run with %s=1 "+
			"(as root, after scripts/install-test-deps.sh)", EnvVar)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("realserver: must run as root (euid is %d): Dovecot and Postfix switch users "+
			"and the test mail is owned by uid %d", os.Geteuid(), VmailUID)
	}
	want := opts.Services
	if want == 0 {
		want = All
	}
	if want&Postfix != 0 {
		want |= Dovecot
	}

	// A short directory of our own rather than t.TempDir(): Unix socket paths must stay
	// under 108 bytes, and the servers' unprivileged users must be able to traverse it.
	dir, err := os.MkdirTemp("/tmp", "axrs-")
	if err != nil {
		t.Fatalf("realserver: %v", err)
	}
	s := &Servers{Dir: dir, logDir: filepath.Join(dir, "log")}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("realserver: %v", err)
		}
		if t.Failed() {
			s.logLogs(t)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("realserver: remove %s: %v", dir, err)
		}
	})
	if err := s.start(want); err != nil {
		t.Fatalf("realserver: %v", err)
	}
	return s
}

// readiness is one check that a server answers on one listener.
type readiness struct {
	p     *Process
	ready func(ctx context.Context) error
}

// start starts the servers in two waves: Dovecot and nginx, then, once Dovecot answers,
// Postfix. A Postfix smtpd that starts before Dovecot's auth socket exists dies ("no SASL
// authentication mechanisms"), and the master then throttles the service.
func (s *Servers) start(want Service) error {
	bins, err := findBinaries(want)
	if err != nil {
		return err
	}
	if err := os.Chmod(s.Dir, 0o755); err != nil {
		return err
	}
	if err := becomeSubreaper(); err != nil {
		return err
	}
	l, err := s.prepare(want)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	caPEM, err := os.ReadFile(l.TLS.CA)
	if err != nil || !roots.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("read back CA %s: %v", l.TLS.CA, err)
	}
	tlsCfg := &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()

	var first []readiness
	if want&Dovecot != 0 {
		s.Dovecot, err = startProcess("dovecot", filepath.Join(s.logDir, "dovecot.out"),
			[]string{bins.dovecot, "-F", "-c", l.DovecotConf})
		if err != nil {
			return err
		}
		first = append(first,
			readiness{s.Dovecot, lineReady(s.IMAP, nil, "", "* OK")},
			readiness{s.Dovecot, lineReady(s.IMAPS, tlsCfg, "", "* OK")},
			readiness{s.Dovecot, lineReady(s.POP3, nil, "", "+OK")},
			readiness{s.Dovecot, lineReady(s.POP3S, tlsCfg, "", "+OK")},
			readiness{s.Dovecot, socketReady(l.AuthSocket)})
	}
	if want&Nginx != 0 {
		const get = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
		s.Nginx, err = startProcess("nginx", filepath.Join(s.logDir, "nginx.out"),
			[]string{bins.nginx, "-p", l.NginxPrefix, "-c", l.NginxConf,
				"-e", filepath.Join(s.logDir, "nginx-error.log"), "-g", "daemon off;"})
		if err != nil {
			return err
		}
		first = append(first,
			readiness{s.Nginx, lineReady(s.HTTP, nil, get, "HTTP/1.1 200 ")},
			readiness{s.Nginx, lineReady(s.HTTPS, tlsCfg, get, "HTTP/1.1 200 ")})
	}
	if err := waitAll(ctx, first); err != nil {
		return err
	}
	if want&Postfix == 0 {
		return nil
	}
	// The master runs in the foreground: it does not fork itself away.
	s.Postfix, err = startProcess("postfix", filepath.Join(s.logDir, "postfix.out"),
		[]string{bins.postfixMaster, "-c", l.PostfixConfDir})
	if err != nil {
		return err
	}
	return waitAll(ctx, []readiness{
		{s.Postfix, lineReady(s.SMTP, nil, "", "220 ")},
		{s.Postfix, lineReady(s.SMTPS, tlsCfg, "", "220 ")},
	})
}

// waitAll runs every check concurrently until it passes, and joins the failures.
func waitAll(ctx context.Context, checks []readiness) error {
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() { errs[i] = waitReady(ctx, c.p, c.ready) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// prepare writes the TLS files, the configurations, the user database and the Maildir,
// and picks the ports.
func (s *Servers) prepare(want Service) (*layout, error) {
	root := s.Dir
	ports, err := freePorts(8)
	if err != nil {
		return nil, err
	}
	l := &layout{
		LogDir:         s.logDir,
		MailRoot:       filepath.Join(root, "mail"),
		VmailUID:       VmailUID,
		DovecotConf:    filepath.Join(root, "dovecot", "dovecot.conf"),
		DovecotBase:    filepath.Join(root, "dovecot", "run"),
		DovecotState:   filepath.Join(root, "dovecot", "state"),
		UsersFile:      filepath.Join(root, "dovecot", "users"),
		PostfixConfDir: filepath.Join(root, "postfix", "etc"),
		PostfixQueue:   filepath.Join(root, "postfix", "queue"),
		PostfixData:    filepath.Join(root, "postfix", "data"),
		NginxPrefix:    filepath.Join(root, "nginx"),
		NginxConf:      filepath.Join(root, "nginx", "nginx.conf"),
		User:           testUser,
		Password:       testPassword,
		Domain:         testDomain,
		IMAP:           ports[0], IMAPS: ports[1], POP3: ports[2], POP3S: ports[3],
		SMTP: ports[4], SMTPS: ports[5], HTTP: ports[6], HTTPS: ports[7],
	}
	l.AuthSocket = filepath.Join(l.DovecotBase, "auth-postfix")
	if n := len(l.AuthSocket); n >= 108 {
		return nil, fmt.Errorf("auth socket path %s is %d bytes, over the Unix socket limit", l.AuthSocket, n)
	}

	tlsDir := filepath.Join(root, "tls")
	for _, d := range []string{s.logDir, tlsDir, filepath.Dir(l.DovecotConf), l.PostfixConfDir,
		filepath.Join(l.NginxPrefix, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if l.TLS, err = writeTLS(tlsDir); err != nil {
		return nil, err
	}
	s.CAFile, s.CertFile, s.KeyFile = l.TLS.CA, l.TLS.Cert, l.TLS.Key

	s.User, s.Password = testUser, secret.New(testPassword)
	s.Mailbox = testUser + "@" + testDomain
	s.Maildir = filepath.Join(l.MailRoot, testUser, "Maildir")
	for _, d := range []string{l.MailRoot, filepath.Dir(s.Maildir), s.Maildir,
		filepath.Join(s.Maildir, "cur"), filepath.Join(s.Maildir, "new"), filepath.Join(s.Maildir, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
		if err := os.Chown(d, VmailUID, VmailUID); err != nil {
			return nil, err
		}
	}

	addr := func(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
	var files []configFile
	if want&Dovecot != 0 {
		s.IMAP, s.IMAPS, s.POP3, s.POP3S = addr(l.IMAP), addr(l.IMAPS), addr(l.POP3), addr(l.POP3S)
		files = append(files,
			configFile{l.DovecotConf, dovecotConf, 0o644},
			// Readable by Dovecot's auth process, which runs as the dovecot user. The
			// password is a throwaway for a loopback-only server.
			configFile{l.UsersFile, "{{.User}}:{PLAIN}{{.Password}}::::::\n", 0o644})
	}
	if want&Postfix != 0 {
		s.SMTP, s.SMTPS = addr(l.SMTP), addr(l.SMTPS)
		files = append(files,
			configFile{filepath.Join(l.PostfixConfDir, "main.cf"), postfixMain, 0o644},
			configFile{filepath.Join(l.PostfixConfDir, "master.cf"), postfixMaster, 0o644})
	}
	if want&Nginx != 0 {
		s.HTTP, s.HTTPS = addr(l.HTTP), addr(l.HTTPS)
		files = append(files, configFile{l.NginxConf, nginxConf, 0o644})
	}
	for _, f := range files {
		if err := f.write(l); err != nil {
			return nil, err
		}
	}
	if want&Postfix != 0 {
		if err := makePostfixDirs(l.PostfixQueue, l.PostfixData); err != nil {
			return nil, err
		}
	}
	return l, nil
}
