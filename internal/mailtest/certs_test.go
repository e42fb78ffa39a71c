package mailtest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// handshake connects to an implicit-TLS WebAdmin fake serving certs and returns the
// client's verification error.
func handshake(t *testing.T, certs *Certs, serverName string) error {
	t.Helper()
	s := start(t, func(o Options) (*Server, error) { return StartHTTP(o, KindWebAdmin) }, Options{TLS: TLSImplicit, Cert: certs})
	c := dial(t, s.Addr())
	tc := tls.Client(c.nc, certs.ClientTLSConfig(serverName))
	return tc.Handshake()
}

func TestCertsVerify(t *testing.T) {
	certs := testCerts(t)
	for _, name := range []string{"127.0.0.1", "mail.example.test"} {
		if err := handshake(t, certs, name); err != nil {
			t.Errorf("handshake for %s: %v", name, err)
		}
	}
	pem, err := os.ReadFile(certs.CAFile)
	if err != nil || string(pem) != string(certs.CAPEM) {
		t.Fatalf("CAFile %s: %v (content differs: %v)", certs.CAFile, err, string(pem) != string(certs.CAPEM))
	}
	if fi, err := os.Stat(certs.KeyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("KeyFile: %v, mode %v", err, fi.Mode())
	}
}

func TestCertsWrongName(t *testing.T) {
	certs := testCerts(t)
	err := handshake(t, certs, "other.example.test")
	var hostErr x509.HostnameError
	if !errors.As(err, &hostErr) {
		t.Fatalf("handshake for a wrong name: %v, want x509.HostnameError", err)
	}
}

func TestCertsExpired(t *testing.T) {
	now := time.Now()
	certs, err := NewCertsWith(t.TempDir(), CertOptions{
		Hosts:     []string{"127.0.0.1"},
		NotBefore: now.Add(-48 * time.Hour),
		NotAfter:  now.Add(-24 * time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	err = handshake(t, certs, "127.0.0.1")
	var invalid x509.CertificateInvalidError
	if !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
		t.Fatalf("handshake with an expired certificate: %v, want x509 Expired", err)
	}
}

func TestCertsBadOptions(t *testing.T) {
	if _, err := NewCerts(""); err == nil {
		t.Error("NewCerts with no dir: no error")
	}
	now := time.Now()
	_, err := NewCertsWith(t.TempDir(), CertOptions{NotBefore: now, NotAfter: now.Add(-time.Hour)})
	if err == nil || !strings.Contains(err.Error(), "NotAfter") {
		t.Errorf("NotAfter before NotBefore: %v", err)
	}
	if _, err := StartSMTP(Options{TLS: "sometimes"}); err == nil || !strings.Contains(err.Error(), `"sometimes"`) {
		t.Errorf("bad TLS mode: %v", err)
	}
}
