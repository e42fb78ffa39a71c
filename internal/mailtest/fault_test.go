package mailtest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// lineProto describes one line-based listener for the fault table.
type lineProto struct {
	name     string
	start    func(Options) (*Server, error)
	tls      TLSMode       // what the listener offers under the fault tests
	greet    func(*client) // reads and checks the healthy greeting
	wrong    string
	reject   string
	command  string                    // a harmless first command
	reply    string                    // the start of its reply
	authFail func(*testing.T, *client) // logs in with good credentials, expects refusal
	startTLS func(*client)             // asks for STARTTLS and reads the positive answer; nil: no TLS
}

func lineProtos(t *testing.T) []lineProto {
	return []lineProto{{
		name:    "smtp",
		start:   StartSMTP,
		tls:     TLSStartTLS,
		greet:   func(c *client) { c.expect("220 mail.example.test Axigen ESMTP ready\r\n") },
		wrong:   "220 mx.example.com ESMTP Postfix\r\n",
		reject:  "421 4.3.2 Service not available\r\n",
		command: "NOOP\r\n",
		reply:   "250 ",
		authFail: func(t *testing.T, c *client) {
			c.send("EHLO x\r\n")
			c.until("250 ")
			c.send("AUTH PLAIN " + plainAuth("admin", "adminpw") + "\r\n")
			c.expect("535 5.7.8 Authentication failed\r\n")
		},
		startTLS: func(c *client) {
			c.send("STARTTLS\r\n")
			c.expect("220 2.0.0 Ready to start TLS\r\n")
		},
	}, {
		name:    "imap",
		start:   StartIMAP,
		tls:     TLSStartTLS,
		greet:   func(c *client) { c.expect(imapGreeting) },
		wrong:   "* OK Dovecot ready.\r\n",
		reject:  "* BYE Axigen IMAP service not available\r\n",
		command: "a0 NOOP\r\n",
		reply:   "a0 OK",
		authFail: func(t *testing.T, c *client) {
			c.send("a1 LOGIN admin adminpw\r\n")
			c.expect("a1 NO [AUTHENTICATIONFAILED] Authentication failed\r\n")
		},
		startTLS: func(c *client) {
			c.send("a9 STARTTLS\r\n")
			c.expect("a9 OK Begin TLS negotiation now\r\n")
		},
	}, {
		name:  "pop3",
		start: StartPOP3,
		tls:   TLSStartTLS,
		greet: func(c *client) {
			if g := c.line(); !pop3Greeting.MatchString(g) {
				c.t.Fatalf("greeting %q", g)
			}
		},
		wrong:   "+OK Dovecot ready.\r\n",
		reject:  "-ERR Service not available\r\n",
		command: "NOOP\r\n",
		reply:   "+OK",
		authFail: func(t *testing.T, c *client) {
			c.send("USER admin\r\n")
			c.line()
			c.send("PASS adminpw\r\n")
			c.expect("-ERR [AUTH] Authentication failed\r\n")
		},
		startTLS: func(c *client) {
			c.send("STLS\r\n")
			c.expect("+OK Begin TLS negotiation\r\n")
		},
	}, {
		name:    "cli",
		start:   StartCLI,
		tls:     TLSNone,
		greet:   func(c *client) { c.exact(CLIWelcome + "<login> ") },
		wrong:   "220 mx.example.com ESMTP Postfix\r\n",
		reject:  "-ERR: Service not available\r\n",
		command: "GET VERSION\r\n",
		reply:   "10.6.30|Linux|x86_64",
		authFail: func(t *testing.T, c *client) {
			c.send("USER admin\r\n")
			c.exact("<password> ")
			c.send("adminpw\r\n")
			c.exact("-ERR: Authentication failed\r\n<login> ")
		},
	}}
}

func TestLineFaults(t *testing.T) {
	certs := testCerts(t)
	for _, p := range lineProtos(t) {
		t.Run(p.name, func(t *testing.T) {
			s := start(t, p.start, Options{TLS: p.tls, Cert: certs})
			set := func(f Fault) {
				t.Helper()
				if err := s.ApplyFault(f); err != nil {
					t.Fatal(err)
				}
				if s.Fault() != f {
					t.Fatalf("Fault() = %q after setting %q", s.Fault(), f)
				}
			}

			// greeted dials and reads the healthy greeting.
			greeted := func(t *testing.T) *client {
				t.Helper()
				c := dial(t, s.Addr())
				p.greet(c)
				return c
			}
			// answers sends the harmless command on c and checks the start of the reply.
			answers := func(t *testing.T, c *client, after string) {
				t.Helper()
				c.send(p.command)
				if l := c.line(); !strings.HasPrefix(l, p.reply) {
					t.Fatalf("%s%q answered %q", after, p.command, l)
				}
			}

			t.Run("none", func(t *testing.T) { answers(t, greeted(t), "") })
			t.Run("refuse", func(t *testing.T) {
				held := greeted(t) // an open connection survives the fault
				set(FaultRefuse)
				_, err := net.DialTimeout("tcp", s.Addr(), ioTimeout)
				if !errors.Is(err, syscall.ECONNREFUSED) {
					t.Fatalf("dial under refuse: %v, want ECONNREFUSED", err)
				}
				answers(t, held, "on the held connection ")
				set(FaultNone)
				greeted(t)
			})
			for _, f := range []struct {
				fault Fault
				check func(t *testing.T)
			}{
				{FaultHang, func(t *testing.T) {
					c := dial(t, s.Addr())
					c.send(p.command)
					c.silent()
				}},
				{FaultSlowBanner, func(t *testing.T) {
					s.SetSlowDelay(time.Hour)
					dial(t, s.Addr()).silent()
					s.SetSlowDelay(time.Millisecond)
					answers(t, greeted(t), "after a slow banner ")
				}},
				{FaultWrongBanner, func(t *testing.T) {
					c := dial(t, s.Addr())
					c.expect(p.wrong)
					answers(t, c, "after a wrong banner ")
				}},
				{FaultRejectBanner, func(t *testing.T) {
					c := dial(t, s.Addr())
					c.expect(p.reject)
					c.closed()
				}},
				{FaultRejectAuth, func(t *testing.T) { p.authFail(t, greeted(t)) }},
				{FaultDrop, func(t *testing.T) {
					c := greeted(t)
					c.send(p.command)
					c.closed()
				}},
				{FaultStallTLS, func(t *testing.T) {
					c := greeted(t)
					if p.startTLS == nil { // nothing to stall: the listener behaves normally
						answers(t, c, "")
						return
					}
					p.startTLS(c)
					expectStalledHandshake(t, c.nc, certs)
				}},
				{FaultHugeLine, func(t *testing.T) { expectHugeLine(t, dial(t, s.Addr())) }},
				{FaultTrickle, func(t *testing.T) {
					s.SetTrickleInterval(time.Hour)
					c := dial(t, s.Addr())
					first, err := c.r.ReadByte()
					if err != nil {
						t.Fatal(err)
					}
					if c.r.Buffered() != 0 {
						t.Fatalf("first read gave %d bytes, want 1", 1+c.r.Buffered())
					}
					c.silent()
					s.SetTrickleInterval(time.Microsecond)
					c = dial(t, s.Addr())
					if b, _ := c.r.Peek(1); len(b) != 1 || b[0] != first {
						t.Fatalf("trickled banner starts %q, first trickle byte was %q", b, first)
					}
					p.greet(c)
				}},
			} {
				t.Run(string(f.fault), func(t *testing.T) {
					set(f.fault)
					defer set(FaultNone)
					f.check(t)
				})
			}
		})
	}
}

// expectStalledHandshake asserts that a TLS handshake on nc does not complete before a
// short deadline.
func expectStalledHandshake(t *testing.T, nc net.Conn, certs *Certs) {
	t.Helper()
	nc.SetDeadline(time.Now().Add(quiet))
	err := tls.Client(nc, certs.ClientTLSConfig("127.0.0.1")).Handshake()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("handshake under stall_tls: %v, want a timeout", err)
	}
}

// expectHugeLine reads HugeLineSize bytes without a newline, then nothing more.
func expectHugeLine(t *testing.T, c *client) {
	t.Helper()
	n, err := io.CopyN(io.Discard, &noNewline{r: c.r}, HugeLineSize)
	if err != nil {
		t.Fatalf("after %d bytes: %v", n, err)
	}
	c.silent()
}

// noNewline fails on the first '\n'.
type noNewline struct{ r io.Reader }

func (n *noNewline) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	if i := bytes.IndexByte(p[:k], '\n'); i >= 0 {
		return i, errors.New("newline in the huge line")
	}
	return k, err
}

func TestImplicitTLSStall(t *testing.T) {
	certs := testCerts(t)
	for name, startFn := range map[string]func(Options) (*Server, error){
		"imap":     StartIMAP,
		"webadmin": func(o Options) (*Server, error) { return StartHTTP(o, KindWebAdmin) },
	} {
		t.Run(name, func(t *testing.T) {
			s := start(t, startFn, Options{TLS: TLSImplicit, Cert: certs})
			s.SetFault(FaultStallTLS)
			expectStalledHandshake(t, dial(t, s.Addr()).nc, certs)
		})
	}
}

// TestImplicitTLSBannerFaults checks that banner faults come after the TLS handshake.
func TestImplicitTLSBannerFaults(t *testing.T) {
	certs := testCerts(t)
	s := start(t, StartIMAP, Options{TLS: TLSImplicit, Cert: certs})
	s.SetFault(FaultWrongBanner)
	c := dial(t, s.Addr())
	c.startTLS(certs)
	c.expect("* OK Dovecot ready.\r\n")
}

func TestHTTPFaults(t *testing.T) {
	s := start(t, func(o Options) (*Server, error) { return StartHTTP(o, KindWebMail) }, Options{})
	const request = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	cl := testHTTPClient(t)
	url := "http://" + s.Addr() + "/"

	// ok: a plain request gets the page.
	ok := func(t *testing.T) {
		if resp, _ := httpGet(t, cl, url); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	// ask sends the request on a new connection.
	ask := func(t *testing.T) *client {
		c := dial(t, s.Addr())
		c.send(request)
		return c
	}
	for _, c := range []struct {
		fault Fault
		name  string // the fault's when empty
		check func(t *testing.T)
	}{
		{FaultWrongBanner, "", func(t *testing.T) {
			resp, body := httpGet(t, cl, url)
			if resp.StatusCode != 200 || resp.Header.Get("Server") != "nginx/1.22.1" || strings.Contains(body, "Axigen") {
				t.Fatalf("%d %q %q", resp.StatusCode, resp.Header.Get("Server"), body)
			}
		}},
		{FaultRejectBanner, "", func(t *testing.T) {
			resp, _ := httpGet(t, cl, url)
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Server") != WebMailServer {
				t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Server"))
			}
		}},
		{FaultRejectAuth, "reject_auth is none", ok},
		{FaultHang, "", func(t *testing.T) { ask(t).silent() }},
		{FaultSlowBanner, "", func(t *testing.T) {
			s.SetSlowDelay(time.Hour)
			ask(t).silent()
			s.SetSlowDelay(time.Millisecond)
			ok(t)
		}},
		{FaultDrop, "", func(t *testing.T) { ask(t).closed() }},
		{FaultHugeLine, "", func(t *testing.T) { expectHugeLine(t, dial(t, s.Addr())) }},
		{FaultTrickle, "", func(t *testing.T) {
			s.SetTrickleInterval(time.Hour)
			c := ask(t)
			c.exact("H")
			c.silent()
			s.SetTrickleInterval(time.Microsecond)
			resp, body := httpGet(t, cl, url)
			if resp.StatusCode != 200 || body != WebMailPage {
				t.Fatalf("trickled response: %d %q", resp.StatusCode, body)
			}
		}},
		{FaultRefuse, "", func(t *testing.T) {
			if _, err := net.DialTimeout("tcp", s.Addr(), ioTimeout); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("dial: %v", err)
			}
			s.SetFault(FaultNone)
			ok(t)
		}},
	} {
		name := c.name
		if name == "" {
			name = string(c.fault)
		}
		t.Run(name, func(t *testing.T) {
			s.SetFault(c.fault)
			defer s.SetFault(FaultNone)
			c.check(t)
		})
	}
}

func TestFaultValues(t *testing.T) {
	seen := map[Fault]bool{}
	for _, f := range Faults() {
		if f == FaultNone || seen[f] {
			t.Fatalf("Faults() has %q twice or empty", f)
		}
		seen[f] = true
		if g, err := ParseFault(string(f)); err != nil || g != f {
			t.Errorf("ParseFault(%q) = %q, %v", f, g, err)
		}
	}
	if len(seen) != 10 {
		t.Errorf("Faults() has %d faults, want 10", len(seen))
	}
	if _, err := ParseFault("slow"); err == nil || !strings.Contains(err.Error(), `"slow"`) {
		t.Errorf("ParseFault(slow): %v", err)
	}
	s := start(t, StartPOP3, Options{})
	s.SetFault(FaultHang)
	if err := s.ApplyFault("bogus"); err == nil || s.Fault() != FaultHang {
		t.Errorf("ApplyFault(bogus) = %v, Fault() = %q", err, s.Fault())
	}
}

// TestCloseEndsEverything checks that Close returns while connections sit in every
// holding fault, and that afterwards the server refuses and stays closed.
func TestCloseEndsEverything(t *testing.T) {
	certs := testCerts(t)
	for _, p := range lineProtos(t) {
		s, err := p.start(Options{TLS: p.tls, Cert: certs, Users: testUsers})
		if err != nil {
			t.Fatal(err)
		}
		var clients []*client
		for _, f := range []Fault{FaultHang, FaultSlowBanner, FaultHugeLine, FaultTrickle, FaultDrop, FaultNone, FaultStallTLS} {
			s.SetFault(f)
			s.SetSlowDelay(time.Hour)
			s.SetTrickleInterval(time.Hour)
			clients = append(clients, dial(t, s.Addr()))
		}
		// A client in the middle of a session, and one stalled in STARTTLS.
		c := clients[5]
		p.greet(c)
		if p.startTLS != nil {
			st := clients[6]
			p.greet(st)
			p.startTLS(st)
		}
		if err := s.Close(); err != nil {
			t.Errorf("%s: Close: %v", p.name, err)
		}
		for _, c := range clients {
			io.Copy(io.Discard, c.r) // every connection ends: EOF or reset, never the deadline
			var ne net.Error
			if _, err := c.r.ReadByte(); errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("%s: a connection outlived Close", p.name)
			}
		}
		if _, err := net.DialTimeout("tcp", s.Addr(), ioTimeout); err == nil {
			t.Errorf("%s: dial after Close succeeded", p.name)
		}
		if err := s.ApplyFault(FaultNone); err == nil {
			t.Errorf("%s: ApplyFault after Close succeeded", p.name)
		}
		if err := s.Close(); err != nil {
			t.Errorf("%s: second Close: %v", p.name, err)
		}
	}
}
