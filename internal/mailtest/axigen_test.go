package mailtest

import (
	"errors"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestStartAxigen(t *testing.T) {
	a, err := StartAxigen(AxigenOptions{Dir: t.TempDir(), Users: testUsers})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := a.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	servers := a.Servers()
	var names []string
	for name, s := range servers {
		names = append(names, name)
		if host, _, _ := net.SplitHostPort(s.Addr()); host != "127.0.0.1" {
			t.Errorf("%s listens on %s", name, s.Addr())
		}
	}
	slices.Sort(names)
	if want := []string{"cli", "imap", "pop3", "smtp", "webadmin", "webmail"}; !slices.Equal(names, want) {
		t.Fatalf("Servers() = %v, want %v", names, want)
	}

	// SMTP, IMAP and POP3 offer STARTTLS with the bundle's certificate.
	c := dial(t, a.SMTP.Addr())
	c.line()
	c.send("EHLO x\r\nSTARTTLS\r\n")
	c.until("250 ")
	c.expect("220 2.0.0 Ready to start TLS\r\n")
	c.startTLS(a.Certs)

	c = dial(t, a.IMAP.Addr())
	c.expect(imapGreeting)
	c.send("a STARTTLS\r\n")
	c.line()
	c.startTLS(a.Certs)

	c = dial(t, a.POP3.Addr())
	c.line()
	c.send("STLS\r\n")
	c.line()
	c.startTLS(a.Certs)

	dial(t, a.CLI.Addr()).exact(CLIWelcome + "<login> ")
	cl := testHTTPClient(t)
	if resp, _ := httpGet(t, cl, "http://"+a.WebAdmin.Addr()+"/"); resp.Header.Get("Server") != WebAdminServer {
		t.Errorf("webadmin Server %q", resp.Header.Get("Server"))
	}
	if resp, _ := httpGet(t, cl, "http://"+a.WebMail.Addr()+"/"); resp.Header.Get("Server") != WebMailServer {
		t.Errorf("webmail Server %q", resp.Header.Get("Server"))
	}

	// One listener's fault leaves the others alone.
	a.IMAP.SetFault(FaultRefuse)
	if _, err := net.Dial("tcp", a.IMAP.Addr()); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("IMAP under refuse: %v", err)
	}
	dial(t, a.POP3.Addr()).line()
}

func TestStartAxigenErrors(t *testing.T) {
	if _, err := StartAxigen(AxigenOptions{}); err == nil || !strings.Contains(err.Error(), "Dir") {
		t.Errorf("no Dir, no Certs: %v", err)
	}
	if _, err := StartAxigen(AxigenOptions{IP: "localhost", Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), `"localhost"`) {
		t.Errorf("IP not an address: %v", err)
	}
	// An IP this host does not have: the first listener fails and nothing is left running
	// (goleak in TestMain checks that).
	_, err := StartAxigen(AxigenOptions{IP: "192.0.2.1", Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "smtp") {
		t.Errorf("unassigned IP: %v", err)
	}
}

// TestAxigenPartialClose checks Servers and Close on a bundle that holds only some
// listeners, as StartAxigen's clean-up after a failure sees it.
func TestAxigenPartialClose(t *testing.T) {
	certs := testCerts(t)
	a := &Axigen{Certs: certs}
	s, err := StartPOP3(Options{})
	if err != nil {
		t.Fatal(err)
	}
	a.POP3 = s
	if got := a.Servers(); len(got) != 1 || got["pop3"] != s {
		t.Fatalf("Servers() of a partial bundle = %v", got)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", s.Addr()); err == nil {
		t.Error("POP3 still listening after Close")
	}
}

func TestFaulter(t *testing.T) {
	f := startFaulter(t)
	ax := f.Axigen
	if got, want := strings.Join(f.Listeners(), ","), "smtp,imap,pop3,webmail,webadmin,cli"; got != want {
		t.Fatalf("Listeners = %s, want %s", got, want)
	}
	if len(f.Faults()) != len(Faults()) {
		t.Fatalf("Faults = %v", f.Faults())
	}
	if err := f.SetFault("imap", "hang"); err != nil {
		t.Fatal(err)
	}
	if got := f.Fault("imap"); got != "hang" || ax.IMAP.Fault() != FaultHang {
		t.Fatalf("imap fault = %q / %q, want hang", got, ax.IMAP.Fault())
	}
	if err := f.SetFault("imap", "none"); err != nil || ax.IMAP.Fault() != FaultNone {
		t.Fatalf("clearing: err %v, fault %q", err, ax.IMAP.Fault())
	}
	if err := f.SetFault("imap4", "hang"); err == nil || !strings.Contains(err.Error(), `"imap4"`) {
		t.Fatalf("unknown listener: err %v", err)
	}
	if err := f.SetFault("imap", "explode"); err == nil || !strings.Contains(err.Error(), "explode") {
		t.Fatalf("unknown fault: err %v", err)
	}
	if f.Fault("nope") != "" {
		t.Fatal("unknown listener has a fault")
	}
}
