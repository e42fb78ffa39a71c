package probe

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/mailtest"
)

// tlsServer is an HTTPS server that records the key-exchange groups each ClientHello
// offers, in the client's order, and chooses only among groups.
type tlsServer struct {
	*httptest.Server
	mu     sync.Mutex
	hellos [][]tls.CurveID
}

func startTLSServer(t *testing.T, groups ...tls.CurveID) *tlsServer {
	t.Helper()
	s := &tlsServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	s.TLS = &tls.Config{CurvePreferences: groups, GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		s.mu.Lock()
		s.hellos = append(s.hellos, slices.Clone(h.SupportedCurves))
		s.mu.Unlock()
		return nil, nil
	}}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func (s *tlsServer) hello(i int) []tls.CurveID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hellos[i]
}

func httpsSpec(s *tlsServer) Spec {
	return Spec{Protocol: "http", Address: s.Listener.Addr().String(), TLS: TLSImplicit, InsecureSkipVerify: true}
}

// TestKeySharesFollowTheServer: once a server has chosen a classic group, the prober offers
// that group first and no hybrid (so it computes only that group's key share, not the
// ML-KEM one the server would not use); a server that chose the post-quantum hybrid keeps
// getting it.
func TestKeySharesFollowTheServer(t *testing.T) {
	for _, c := range []struct {
		name   string
		server tls.CurveID
	}{{"x25519", tls.X25519}, {"p256", tls.CurveP256}, {"hybrid", tls.X25519MLKEM768}} {
		t.Run(c.name, func(t *testing.T) {
			s := startTLSServer(t, c.server)
			p, err := New(httpsSpec(s))
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				tr, err := runWith(t, p)
				wantOK(t, tr, err)
			}
			if first := s.hello(0)[0]; first != tls.X25519MLKEM768 {
				t.Fatalf("first ClientHello prefers %v, want Go's default X25519MLKEM768", first)
			}
			for i := 1; i < 3; i++ {
				got := s.hello(i)
				hybrid := slices.Contains(got, tls.X25519MLKEM768)
				if got[0] != c.server || hybrid != (c.server == tls.X25519MLKEM768) {
					t.Errorf("ClientHello %d offers %v, want %v first and the hybrid only if the server chose it", i+1, got, c.server)
				}
			}
		})
	}
}

// TestSessionResumption: with TLSFullEvery 3 the handshakes go full, resumed, resumed,
// full, ...; without it, every handshake is full; a failed probe and a certificate inside
// CertWarnBefore make the next handshake full.
func TestSessionResumption(t *testing.T) {
	resumed := func(t *testing.T, p Prober, n int) []bool {
		t.Helper()
		var out []bool
		for range n {
			tr, err := runWith(t, p)
			wantOK(t, tr, err)
			out = append(out, tr.TLS().Resumed)
		}
		return out
	}
	t.Run("every third full", func(t *testing.T) {
		spec := httpsSpec(startTLSServer(t))
		spec.TLSFullEvery = 3
		p, err := New(spec)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := resumed(t, p, 7), []bool{false, true, true, false, true, true, false}; !slices.Equal(got, want) {
			t.Errorf("resumed = %v, want %v", got, want)
		}
	})
	t.Run("default full", func(t *testing.T) {
		p, err := New(httpsSpec(startTLSServer(t)))
		if err != nil {
			t.Fatal(err)
		}
		if got := resumed(t, p, 3); slices.Contains(got, true) {
			t.Errorf("resumed = %v without tls_full_handshake_every, want every handshake full", got)
		}
	})
	t.Run("certificate due", func(t *testing.T) {
		spec := httpsSpec(startTLSServer(t))
		spec.TLSFullEvery = 3
		spec.CertWarnBefore = 200 * 365 * 24 * time.Hour // httptest's certificate (to 2084) is always "expiring"
		p, err := New(spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := resumed(t, p, 3); slices.Contains(got, true) {
			t.Errorf("resumed = %v with the certificate inside cert_warn_before, want full handshakes", got)
		}
	})
	t.Run("after a failure", func(t *testing.T) {
		s := startTLSServer(t)
		spec := httpsSpec(s)
		spec.TLSFullEvery = 10
		p, err := New(spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := resumed(t, p, 2); !slices.Equal(got, []bool{false, true}) {
			t.Fatalf("resumed = %v, want [false true]", got)
		}
		// A handshake that fails (the server asks for TLS 1.0 only) ...
		s.TLS.MaxVersion, s.TLS.MinVersion = tls.VersionTLS10, tls.VersionTLS10
		if _, err := runWith(t, p); err == nil {
			t.Fatal("a TLS 1.0-only server passed a client that wants 1.2")
		}
		s.TLS.MaxVersion, s.TLS.MinVersion = 0, 0
		// ... makes the next one full.
		if got := resumed(t, p, 2); !slices.Equal(got, []bool{false, true}) {
			t.Errorf("after a failure resumed = %v, want [false true]", got)
		}
	})
}

// TestCAFileReadOnceUntilItChanges: the CA file is parsed once, and again when it changes.
func TestCAFileReadOnceUntilItChanges(t *testing.T) {
	a, b := newCerts(t, mailtest.CertOptions{}), newCerts(t, mailtest.CertOptions{})
	path := filepath.Join(t.TempDir(), "ca.pem")
	copyFile(t, a.CAFile, path)
	p1, err := caPool(path)
	if err != nil {
		t.Fatal(err)
	}
	if p2, _ := caPool(path); p2 != p1 {
		t.Error("the unchanged CA file was parsed again")
	}
	pemB, _ := os.ReadFile(b.CAFile)
	pemA, _ := os.ReadFile(a.CAFile)
	copyFile(t, b.CAFile, path)
	later := time.Now().Add(time.Minute) // a different mtime even on a coarse clock
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	p3, err := caPool(path)
	if err != nil {
		t.Fatal(err)
	}
	if p3 == p1 && string(pemA) != string(pemB) {
		t.Error("the changed CA file was not parsed again")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func runWith(t *testing.T, p Prober) (*Trace, error) {
	t.Helper()
	return Run(t.Context(), p, 10*time.Second)
}

// peerState is the connection state of a handshake with the server certificate of c.
func peerState(t testing.TB, c *mailtest.Certs) tls.ConnectionState {
	t.Helper()
	block, _ := pem.Decode(c.CertPEM)
	if block == nil {
		t.Fatal("server certificate: no PEM block")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}
}

// TestVerifiedChainRemembered: a chain verified once is not verified again for the same
// roots and name while it is valid, and nothing else rides on that: another chain,
// another name, other roots, or a moment outside the chain's validity is verified in
// full and fails as it must; a failure is not remembered.
func TestVerifiedChainRemembered(t *testing.T) {
	now := time.Now()
	good := newCerts(t, mailtest.CertOptions{NotAfter: now.Add(24 * time.Hour)})
	other := newCerts(t, mailtest.CertOptions{}) // another CA, same names
	roots, err := caPool(good.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	otherRoots, err := caPool(other.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	c := &tlsClient{}
	verify := func(cs tls.ConnectionState, roots *x509.CertPool, name string, at time.Time) (int, error) {
		before := c.verifications
		err := c.verify(cs, roots, name, at)
		return c.verifications - before, err
	}
	cs := peerState(t, good)
	if n, err := verify(cs, roots, "localhost", now); err != nil || n != 1 {
		t.Fatalf("first verification: %v, %d full verifications; want nil, 1", err, n)
	}
	if n, err := verify(cs, roots, "localhost", now.Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("the same chain again: %v, %d full verifications; want nil, 0", err, n)
	}
	for _, tc := range []struct {
		name  string
		cs    tls.ConnectionState
		roots *x509.CertPool
		host  string
		at    time.Time
	}{
		{"a chain from another CA", peerState(t, other), roots, "localhost", now},
		{"another name", cs, roots, "mail.example.test", now},
		{"other roots", cs, otherRoots, "localhost", now},
		{"after the certificate expired", cs, roots, "localhost", now.Add(25 * time.Hour)},
		{"before it was valid", cs, roots, "localhost", now.Add(-2 * time.Hour)},
		{"no certificate", tls.ConnectionState{}, roots, "localhost", now},
	} {
		if n, err := verify(tc.cs, tc.roots, tc.host, tc.at); err == nil {
			t.Errorf("%s: accepted (%d full verifications)", tc.name, n)
		}
	}
	if n, err := verify(cs, roots, "localhost", now); err != nil || n != 0 {
		t.Errorf("the good chain after the failures: %v, %d full verifications; want nil, 0", err, n)
	}
}

// TestProbesVerifyTheChainOnce: a prober's probes of one server verify its chain once.
func TestProbesVerifyTheChainOnce(t *testing.T) {
	certs := newCerts(t, mailtest.CertOptions{})
	srv := startFake(t, fakeFor(t, "imap"), mailtest.TLSImplicit, certs)
	p, err := New(Spec{Protocol: "imap", Address: srv.Addr(), TLS: TLSImplicit, CAFile: certs.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if tr, err := runWith(t, p); err != nil || !tr.TLS().Verified {
			t.Fatalf("probe %d: %v, TLS %+v", i, err, tr.TLS())
		}
	}
	c := p.(*imapProber).spec.tlsClient
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.verifications != 1 {
		t.Errorf("3 probes verified the chain %d times, want once", c.verifications)
	}
}
