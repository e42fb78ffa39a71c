package probe

import (
	"context"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/mailtest"
	"github.com/axprobe/axprobe/internal/secret"
)

// benchmarkProbe runs one full probe of spec per iteration against a fake of f started
// with mode, and fails if any probe fails.
func benchmarkProbe(b *testing.B, f fake, mode mailtest.TLSMode, spec Spec) {
	certs, err := mailtest.NewCertsWith(b.TempDir(), mailtest.CertOptions{})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := f.start(mailtest.Options{TLS: mode, Cert: certs, Users: map[string]string{testUser: testPassword}})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	spec.Protocol, spec.Address, spec.CAFile, spec.ServerName = f.protocol, srv.Addr(), certs.CAFile, "localhost"
	p, err := New(spec)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if tr, err := Run(ctx, p, 5*time.Second); err != nil {
			b.Fatalf("probe failed: %v (phases %v)", err, phaseNames(tr))
		}
	}
}

// benchLogin logs in as the fakes' test user.
func benchLogin() Spec { return Spec{Username: testUser, Password: secret.New(testPassword)} }

// BenchmarkIMAPProbe is the daemon's IMAP check as deployed: banner, CAPABILITY,
// STARTTLS, LOGIN, EXAMINE INBOX, LOGOUT, against the in-process fake.
func BenchmarkIMAPProbe(b *testing.B) {
	spec := benchLogin()
	spec.TLS = TLSStartTLS
	benchmarkProbe(b, fakeFor(b, "imap"), mailtest.TLSStartTLS, spec)
}

// BenchmarkIMAPProbePlain is the same without TLS: what the TLS handshake costs.
func BenchmarkIMAPProbePlain(b *testing.B) {
	benchmarkProbe(b, fakeFor(b, "imap"), mailtest.TLSNone, benchLogin())
}

// BenchmarkIMAPProbeResumed is BenchmarkIMAPProbe with tls_full_handshake_every: 10 (one
// full handshake in ten, resumed sessions in between; docs/CONFIG.md).
func BenchmarkIMAPProbeResumed(b *testing.B) {
	spec := benchLogin()
	spec.TLS, spec.TLSFullEvery = TLSStartTLS, 10
	benchmarkProbe(b, fakeFor(b, "imap"), mailtest.TLSStartTLS, spec)
}

// BenchmarkSMTPProbe is the SMTP check as deployed: banner, EHLO, STARTTLS, EHLO, AUTH,
// QUIT.
func BenchmarkSMTPProbe(b *testing.B) {
	spec := benchLogin()
	spec.TLS = TLSStartTLS
	benchmarkProbe(b, fakeFor(b, "smtp"), mailtest.TLSStartTLS, spec)
}

// BenchmarkSMTPProbeBanner is the cheapest SMTP check: banner, EHLO, QUIT.
func BenchmarkSMTPProbeBanner(b *testing.B) {
	benchmarkProbe(b, fakeFor(b, "smtp"), mailtest.TLSNone, Spec{})
}

// BenchmarkVerifyChain is the certificate check of one full handshake (mailtest's ECDSA
// P-256 CA and server certificate): "full" verifies the chain with x509, "remembered" is
// the same chain again, which tlsClient.verify accepts without redoing it.
func BenchmarkVerifyChain(b *testing.B) {
	certs, err := mailtest.NewCerts(b.TempDir(), "localhost")
	if err != nil {
		b.Fatal(err)
	}
	roots, err := caPool(certs.CAFile)
	if err != nil {
		b.Fatal(err)
	}
	cs := peerState(b, certs)
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := (*tlsClient)(nil).verify(cs, roots, "localhost", time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("remembered", func(b *testing.B) {
		c := &tlsClient{}
		b.ReportAllocs()
		for b.Loop() {
			if err := c.verify(cs, roots, "localhost", time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
