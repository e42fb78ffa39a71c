package mailtest

import (
	"errors"
	"fmt"
	"net"
)

// AxigenOptions configure StartAxigen.
type AxigenOptions struct {
	IP       string            // every listener binds here; "127.0.0.1" when empty
	Hostname string            // greetings; "mail.example.test" when empty
	Users    map[string]string // login → password, for every listener
	Certs    *Certs            // nil: generate a CA and a certificate for IP and Hostname into Dir
	Dir      string            // where generated certificates go; required when Certs is nil
	Version  string            // reported by the CLI and the IMAP greeting; DefaultVersion when empty
}

// Axigen is the six listeners of one fake Axigen node, on one IP with ephemeral ports.
type Axigen struct {
	SMTP, IMAP, POP3, WebMail, WebAdmin, CLI *Server
	Certs                                    *Certs
	// Reporting is the node's own state: the version its CLI reports and the metrics its
	// WebAdmin serves at /metrics (basic auth of the users). Turn its knobs at run time.
	Reporting *Reporting
}

// StartAxigen starts SMTP, IMAP and POP3 (each offering STARTTLS/STLS), WebMail and
// WebAdmin (plain HTTP, with /metrics) and the CLI on o.IP, sharing one Reporting. On any error it stops what it started.
func StartAxigen(o AxigenOptions) (*Axigen, error) {
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	if o.Hostname == "" {
		o.Hostname = DefaultHostname
	}
	if net.ParseIP(o.IP) == nil {
		return nil, fmt.Errorf("axigen: IP %q is not an IP address", o.IP)
	}
	a := &Axigen{Certs: o.Certs, Reporting: NewReporting(o.Version)}
	if a.Certs == nil {
		if o.Dir == "" {
			return nil, errors.New("axigen: Dir is required when Certs is nil")
		}
		var err error
		if a.Certs, err = NewCerts(o.Dir, o.IP, o.Hostname); err != nil {
			return nil, fmt.Errorf("axigen: %w", err)
		}
	}
	opts := func(tls TLSMode) Options {
		return Options{
			Addr:      net.JoinHostPort(o.IP, "0"),
			Hostname:  o.Hostname,
			TLS:       tls,
			Cert:      a.Certs,
			Users:     o.Users,
			Version:   a.Reporting.Version(),
			Reporting: a.Reporting,
		}
	}
	steps := []struct {
		name  string
		dst   **Server
		start func() (*Server, error)
	}{
		{"smtp", &a.SMTP, func() (*Server, error) { return StartSMTP(opts(TLSStartTLS)) }},
		{"imap", &a.IMAP, func() (*Server, error) { return StartIMAP(opts(TLSStartTLS)) }},
		{"pop3", &a.POP3, func() (*Server, error) { return StartPOP3(opts(TLSStartTLS)) }},
		{"webmail", &a.WebMail, func() (*Server, error) { return StartHTTP(opts(TLSNone), KindWebMail) }},
		{"webadmin", &a.WebAdmin, func() (*Server, error) { return StartHTTP(opts(TLSNone), KindWebAdmin) }},
		{"cli", &a.CLI, func() (*Server, error) { return StartCLI(opts(TLSNone)) }},
	}
	for _, st := range steps {
		s, err := st.start()
		if err != nil {
			return nil, errors.Join(fmt.Errorf("axigen: %s: %w", st.name, err), a.Close())
		}
		*st.dst = s
	}
	return a, nil
}

// Servers returns the listeners by name: "smtp", "imap", "pop3", "webmail", "webadmin",
// "cli". Listeners that did not start are left out.
func (a *Axigen) Servers() map[string]*Server {
	m := make(map[string]*Server, 6)
	for name, s := range map[string]*Server{
		"smtp": a.SMTP, "imap": a.IMAP, "pop3": a.POP3,
		"webmail": a.WebMail, "webadmin": a.WebAdmin, "cli": a.CLI,
	} {
		if s != nil {
			m[name] = s
		}
	}
	return m
}

// Close closes every listener and returns their errors joined.
func (a *Axigen) Close() error {
	var errs []error
	for name, s := range a.Servers() {
		if err := s.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Faulter switches the faults of an Axigen's listeners by name, for a user interface such
// as the demo's status page. It is safe for concurrent use.
type Faulter struct{ Axigen *Axigen }

// Listeners names the listeners that run, in display order.
func (f Faulter) Listeners() []string {
	servers := f.Axigen.Servers()
	var names []string
	for _, n := range []string{"smtp", "imap", "pop3", "webmail", "webadmin", "cli"} {
		if servers[n] != nil {
			names = append(names, n)
		}
	}
	return names
}

// Faults names every fault a listener can be given.
func (f Faulter) Faults() []string {
	var names []string
	for _, x := range Faults() {
		names = append(names, string(x))
	}
	return names
}

// Fault returns the listener's current fault, "" for none or an unknown listener.
func (f Faulter) Fault(listener string) string {
	if s := f.Axigen.Servers()[listener]; s != nil {
		return string(s.Fault())
	}
	return ""
}

// DemoQueueGrowth is how fast the queue grows, in messages a minute, while the
// "queue_stuck" signal is on: fast enough to cross a demo's thresholds in seconds.
const DemoQueueGrowth = 3000

// Signals names the faults of the node's own state (its Reporting) rather than of a
// listener: "queue_stuck", delivery stops and the mail queue grows.
func (f Faulter) Signals() []string { return []string{"queue_stuck"} }

// Signal returns the signal fault on, "" for none.
func (f Faulter) Signal() string {
	if f.Axigen.Reporting.QueueGrowth() > 0 {
		return "queue_stuck"
	}
	return ""
}

// SetSignal turns a signal fault on ("queue_stuck": the queue grows by DemoQueueGrowth a
// minute) or, with "" or "none", off (the queue is delivered: empty again). An unknown name
// is an error naming it.
func (f Faulter) SetSignal(name string) error {
	switch name {
	case "", "none":
		f.Axigen.Reporting.SetQueue(0)
	case "queue_stuck":
		f.Axigen.Reporting.GrowQueue(DemoQueueGrowth)
	default:
		return fmt.Errorf("signal %q is not one of none, %v", name, f.Signals())
	}
	return nil
}

// SetFault gives the listener a fault ("" or "none" clears it). An unknown listener or
// fault is an error naming it.
func (f Faulter) SetFault(listener, fault string) error {
	s := f.Axigen.Servers()[listener]
	if s == nil {
		return fmt.Errorf("listener %q is not one of %v", listener, f.Listeners())
	}
	parsed, err := ParseFault(fault)
	if err != nil {
		return err
	}
	return s.ApplyFault(parsed)
}
