package mailtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Certs is a throw-away certificate authority and one server certificate it signed, in
// memory and as PEM files in a directory.
type Certs struct {
	CAPEM    []byte // the CA certificate, PEM
	CAFile   string // CAPEM written to disk: what a prober's CAFile points at
	CertPEM  []byte // the server certificate, PEM
	CertFile string
	KeyFile  string // the server's private key, PEM, mode 0600
	Hosts    []string
	NotAfter time.Time // the server certificate's

	cert tls.Certificate
	pool *x509.CertPool
}

// CertOptions shape the server certificate, so that tests can make an expired one or one
// for the wrong name.
type CertOptions struct {
	Hosts     []string  // DNS names and IP addresses; "127.0.0.1", "::1", "localhost" when empty
	NotBefore time.Time // one hour ago when zero
	NotAfter  time.Time // one year from now when zero: longer than any cert_warn_before
}

// NewCerts makes a fresh CA and a server certificate for hosts (IPs and names), valid now,
// and writes ca.pem, cert.pem and key.pem into dir. Keys are ECDSA P-256.
func NewCerts(dir string, hosts ...string) (*Certs, error) {
	return NewCertsWith(dir, CertOptions{Hosts: hosts})
}

// NewCertsWith is NewCerts with the server certificate's names and validity chosen. The CA
// itself is valid from before NotBefore to ten years from now, so only the server
// certificate can be the problem.
func NewCertsWith(dir string, o CertOptions) (*Certs, error) {
	if dir == "" {
		return nil, errors.New("certs: dir is empty; give a directory to write ca.pem into")
	}
	now := time.Now()
	if len(o.Hosts) == 0 {
		o.Hosts = []string{"127.0.0.1", "::1", "localhost"}
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = now.Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = now.AddDate(1, 0, 0)
	}
	if !o.NotAfter.After(o.NotBefore) {
		return nil, fmt.Errorf("certs: NotAfter %s is not after NotBefore %s", o.NotAfter, o.NotBefore)
	}

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "mailtest CA", Organization: []string{"axprobe mailtest"}},
		NotBefore:             earliest(o.NotBefore, now).Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("certs: CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("certs: CA certificate: %w", err)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: server key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: o.Hosts[0]},
		NotBefore:    o.NotBefore,
		NotAfter:     o.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range o.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("certs: server certificate for %v: %w", o.Hosts, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("certs: server key: %w", err)
	}

	c := &Certs{
		CAPEM:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		CertPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		CAFile:   filepath.Join(dir, "ca.pem"),
		CertFile: filepath.Join(dir, "cert.pem"),
		KeyFile:  filepath.Join(dir, "key.pem"),
		Hosts:    append([]string(nil), o.Hosts...),
		NotAfter: o.NotAfter,
		pool:     x509.NewCertPool(),
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	c.pool.AddCert(caCert)
	if c.cert, err = tls.X509KeyPair(c.CertPEM, keyPEM); err != nil {
		return nil, fmt.Errorf("certs: key pair: %w", err)
	}
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{c.CAFile, c.CAPEM, 0o644}, {c.CertFile, c.CertPEM, 0o644}, {c.KeyFile, keyPEM, 0o600}} {
		if err := os.WriteFile(f.path, f.data, f.mode); err != nil {
			return nil, fmt.Errorf("certs: %w", err)
		}
	}
	return c, nil
}

// ServerTLSConfig returns a new server configuration presenting the server certificate.
func (c *Certs) ServerTLSConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.cert}, MinVersion: tls.VersionTLS12}
}

// ClientTLSConfig returns a new client configuration that trusts only the CA and verifies
// serverName.
func (c *Certs) ClientTLSConfig(serverName string) *tls.Config {
	return &tls.Config{RootCAs: c.pool, ServerName: serverName, MinVersion: tls.VersionTLS12}
}

// Pool returns a new pool holding only the CA certificate.
func (c *Certs) Pool() *x509.CertPool { return c.pool.Clone() }

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil { // crypto/rand does not fail on supported platforms
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
