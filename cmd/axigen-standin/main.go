// Command axigen-standin plays the Axigen binary in deployment tests and samples: it serves
// the six fake Axigen listeners of internal/mailtest (SMTP, IMAP and POP3 with STARTTLS,
// WebMail, WebAdmin, CLI) on fixed ports of one IP, writes a pidfile once every listener
// is up, and on SIGTERM or SIGINT closes them, removes its pidfile and exits 0.
//
// Its process name is "axigen-standin": give that name to axprobe's process gate (with
// the pidfile) so that the gate fails the moment the stand-in stops, as it would for Axigen.
//
// Like Axigen, its WebAdmin serves Prometheus metrics at /metrics to the --user (HTTP basic
// auth): queue_size (set with --queue-size, growing by --queue-growth messages a minute to
// play stuck delivery), load_average, uptime and users_count; its CLI answers GET VERSION
// with --axigen-version.
//
// It is a test tool, not a mail server: nothing it receives is kept beyond the process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/axprobe/axprobe/internal/mailtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr, nil))
}

// listener is one of the six fake Axigen services and its offset from --base-port.
type listener struct {
	name   string
	offset int
	start  func(mailtest.Options) (*mailtest.Server, error)
	tls    mailtest.TLSMode
}

// listeners returns the six services in start order; their ports are --base-port plus
// offset.
func listeners() []listener {
	return []listener{
		{"smtp", 0, mailtest.StartSMTP, mailtest.TLSStartTLS},
		{"imap", 1, mailtest.StartIMAP, mailtest.TLSStartTLS},
		{"pop3", 2, mailtest.StartPOP3, mailtest.TLSStartTLS},
		{"webmail", 3, startHTTP(mailtest.KindWebMail), mailtest.TLSNone},
		{"webadmin", 4, startHTTP(mailtest.KindWebAdmin), mailtest.TLSNone},
		{"cli", 5, mailtest.StartCLI, mailtest.TLSNone},
	}
}

// startHTTP adapts mailtest.StartHTTP for one kind of HTTP listener.
func startHTTP(kind string) func(mailtest.Options) (*mailtest.Server, error) {
	return func(o mailtest.Options) (*mailtest.Server, error) { return mailtest.StartHTTP(o, kind) }
}

// numListeners is how many services listeners returns; maxBasePort leaves room for them.
const (
	numListeners = 6
	maxBasePort  = 65535 - numListeners + 1
)

// options is the parsed command line.
type options struct {
	ip           string
	hostname     string
	pidfile      string
	certDir      string
	control      string         // control socket; "" for none
	ports        map[string]int // listener name → port; 0 = ephemeral
	version      string         // GET VERSION and the IMAP greeting
	user         string         // login of every listener and of WebAdmin's /metrics; "" for none
	passwordFile string
	queueSize    float64
	queueGrowth  float64 // messages a minute
}

// usage is the help text; it is printed for -h and after a usage error.
const usage = `axigen-standin serves fake Axigen listeners for deployment tests.

Usage:
  axigen-standin [--ip IP] [--base-port N | --smtp-port N --imap-port N ...] [--pidfile PATH]
                 [--user NAME --password-file PATH] [--axigen-version V]
                 [--queue-size N] [--queue-growth N]
                 [--control SOCKET]

With --base-port N the listeners take N (smtp), N+1 (imap), N+2 (pop3), N+3 (webmail),
N+4 (webadmin) and N+5 (cli); a --<name>-port flag overrides one of them. Without either,
every listener takes an ephemeral port. Each listener's address is logged to stderr.

With --user and --password-file, that login works on SMTP, IMAP, POP3 and the CLI, and
fetches WebAdmin's /metrics (HTTP basic auth), where queue_size starts at --queue-size and
grows by --queue-growth messages a minute (a stuck delivery for axprobe's metrics check).

With --control, a Unix socket (mode 0600) takes one line per connection, "<listener>
<fault>" (faults: none, refuse, hang, slow_banner, ...), and answers "ok" or "error: ...":
  printf 'imap hang\n' | socat - UNIX-CONNECT:/run/standin.ctl

The pidfile is written once every listener accepts connections and removed on SIGTERM or
SIGINT. Exit status: 0 after a clean stop, 1 when a listener or the pidfile fails, 2 for a
usage error.

Flags:
`

// parseArgs reads the command line. It returns flag.ErrHelp for -h and an error naming the
// bad value otherwise.
func parseArgs(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("axigen-standin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	var o options
	fs.StringVar(&o.ip, "ip", "127.0.0.1", "IP address every listener binds")
	fs.StringVar(&o.hostname, "hostname", mailtest.DefaultHostname, "host name in the greetings and the certificate")
	fs.StringVar(&o.pidfile, "pidfile", "", "write the process id here once listening; removed on stop")
	fs.StringVar(&o.control, "control", "", "Unix socket taking \"<listener> <fault>\" lines to switch a listener's fault, e.g. \"imap hang\", \"imap none\" (default: none)")
	fs.StringVar(&o.certDir, "cert-dir", "", "directory for the generated CA and certificate (default: a temporary directory removed on stop)")
	fs.StringVar(&o.version, "axigen-version", mailtest.DefaultVersion, "version the CLI's GET VERSION reports")
	fs.StringVar(&o.user, "user", "", "login accepted by every listener and by WebAdmin's /metrics (needs --password-file)")
	fs.StringVar(&o.passwordFile, "password-file", "", "file holding --user's password (one trailing newline is removed)")
	fs.Float64Var(&o.queueSize, "queue-size", 0, "messages in the mail queue at start (WebAdmin /metrics queue_size)")
	fs.Float64Var(&o.queueGrowth, "queue-growth", 0, "messages a minute the queue grows by (0: still)")
	base := fs.Int("base-port", 0, "first of six consecutive ports (0: per-listener flags or ephemeral)")
	explicit := make(map[string]*int, numListeners)
	for _, l := range listeners() {
		explicit[l.name] = fs.Int(l.name+"-port", 0, fmt.Sprintf("%s port (default: --base-port+%d, or ephemeral)", l.name, l.offset))
	}
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if net.ParseIP(o.ip) == nil {
		return options{}, fmt.Errorf("--ip %q: not an IP address", o.ip)
	}
	if *base < 0 || *base > maxBasePort {
		return options{}, fmt.Errorf("--base-port %d: must be 0 or 1-%d (six consecutive ports)", *base, maxBasePort)
	}
	o.ports = make(map[string]int, numListeners)
	for _, l := range listeners() {
		p := *explicit[l.name]
		if p < 0 || p > 65535 {
			return options{}, fmt.Errorf("--%s-port %d: must be 0-65535", l.name, p)
		}
		if p == 0 && *base > 0 {
			p = *base + l.offset
		}
		o.ports[l.name] = p
	}
	if (o.user == "") != (o.passwordFile == "") {
		return options{}, errors.New("--user and --password-file go together")
	}
	if !versionRE.MatchString(o.version) {
		return options{}, fmt.Errorf("--axigen-version %q: want digits and dots, e.g. 10.6.30", o.version)
	}
	if !(o.queueSize >= 0 && o.queueSize < 1e12) {
		return options{}, fmt.Errorf("--queue-size %v: must be 0 or more", o.queueSize)
	}
	if !(o.queueGrowth > -1e9 && o.queueGrowth < 1e9) {
		return options{}, fmt.Errorf("--queue-growth %v: out of range", o.queueGrowth)
	}
	for _, p := range []struct{ flag, path string }{{"--pidfile", o.pidfile}, {"--cert-dir", o.certDir}, {"--password-file", o.passwordFile}, {"--control", o.control}} {
		if p.path != "" && !filepath.IsAbs(p.path) {
			return options{}, fmt.Errorf("%s %q: must be an absolute path", p.flag, p.path)
		}
	}
	return o, nil
}

// run starts the listeners, writes the pidfile and serves until ctx ends; then it closes
// everything and removes the pidfile. ready, when not nil, receives the listeners'
// addresses once the pidfile is written (tests use it; main passes nil). It returns the
// exit status.
func run(ctx context.Context, args []string, stderr io.Writer, ready chan<- map[string]string) int {
	o, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "axigen-standin: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := serve(ctx, o, log, ready); err != nil {
		log.Error("axigen-standin failed", "err", err)
		return 1
	}
	return 0
}

// serve is run after parsing: it returns nil after a clean stop.
func serve(ctx context.Context, o options, log *slog.Logger, ready chan<- map[string]string) (err error) {
	certDir := o.certDir
	if certDir == "" {
		if certDir, err = os.MkdirTemp("", "axigen-standin-"); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, os.RemoveAll(certDir)) }()
	}
	certs, err := mailtest.NewCerts(certDir, o.ip, o.hostname)
	if err != nil {
		return err
	}
	var users map[string]string
	if o.user != "" {
		password, err := readPassword(o.passwordFile)
		if err != nil {
			return err
		}
		users = map[string]string{o.user: password}
	}
	reporting := mailtest.NewReporting(o.version)
	reporting.SetQueue(o.queueSize)
	reporting.GrowQueue(o.queueGrowth)
	servers := make([]*mailtest.Server, 0, numListeners)
	defer func() {
		for _, s := range servers {
			err = errors.Join(err, s.Close())
		}
	}()
	addrs := make(map[string]string, numListeners)
	for _, l := range listeners() {
		s, err := l.start(mailtest.Options{
			Addr:      net.JoinHostPort(o.ip, strconv.Itoa(o.ports[l.name])),
			Hostname:  o.hostname,
			TLS:       l.tls,
			Cert:      certs,
			Users:     users,
			Version:   o.version,
			Reporting: reporting,
		})
		if err != nil {
			return fmt.Errorf("%s on port %d: %w", l.name, o.ports[l.name], err)
		}
		servers = append(servers, s)
		addrs[l.name] = s.Addr()
		log.Info("listening", "service", l.name, "addr", s.Addr())
	}
	if o.control != "" {
		ln, err := listenControl(o.control)
		if err != nil {
			return err
		}
		byName := make(map[string]*mailtest.Server, numListeners)
		for i, l := range listeners() {
			byName[l.name] = servers[i]
		}
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); serveControl(cctx, ln, byName, log) }()
		defer func() {
			cancel()
			<-done
			err = errors.Join(err, removeControl(o.control))
		}()
	}
	if o.pidfile != "" {
		if err := writePidfile(o.pidfile, os.Getpid()); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, removePidfile(o.pidfile, os.Getpid())) }()
	}
	log.Info("ready", "pid", os.Getpid(), "pidfile", o.pidfile)
	if ready != nil {
		ready <- addrs
	}
	<-ctx.Done()
	log.Info("stopping")
	return nil
}

// versionRE is what --axigen-version accepts.
var versionRE = regexp.MustCompile(`^\d+(\.\d+){1,3}$`)

// readPassword reads a password file of at most 4096 bytes and removes one trailing
// newline. The error names the file, never its content.
func readPassword(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("--password-file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4097))
	if err != nil {
		return "", fmt.Errorf("--password-file %s: %w", path, err)
	}
	if len(b) > 4096 {
		return "", fmt.Errorf("--password-file %s: longer than 4096 bytes", path)
	}
	return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), nil
}

// writePidfile writes pid to path atomically (a temporary file renamed into place), so a
// reader never sees a partial pid.
func writePidfile(path string, pid int) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".axigen-standin-pid-")
	if err != nil {
		return fmt.Errorf("pidfile %s: %w", path, err)
	}
	_, werr := fmt.Fprintf(tmp, "%d\n", pid)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), 0o644)); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("pidfile %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("pidfile %s: %w", path, err)
	}
	return nil
}

// removePidfile removes path if it still holds pid: a pidfile a newer instance wrote is
// left alone. A pidfile that is already gone is not an error.
func removePidfile(path string, pid int) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pidfile %s: %w", path, err)
	}
	if string(b) != strconv.Itoa(pid)+"\n" {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pidfile %s: %w", path, err)
	}
	return nil
}
