package probe

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
)

// TLSMode says how a prober reaches TLS.
type TLSMode string

const (
	TLSNone     TLSMode = "none"     // plain text all the way
	TLSStartTLS TLSMode = "starttls" // plain text, then STARTTLS / STLS
	TLSImplicit TLSMode = "implicit" // TLS from the first byte (465, 993, 995, 443, 9443)
)

// tlsConfig builds the client TLS configuration for spec. Verification is done in
// VerifyConnection rather than by crypto/tls itself so that the peer certificate (and its
// expiry) is recorded in the trace even when verification fails.
func tlsConfig(spec *Spec, t *Trace) (*tls.Config, error) {
	var roots *x509.CertPool
	if spec.CAFile != "" {
		pem, err := os.ReadFile(spec.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate found", spec.CAFile)
		}
	}
	serverName := spec.ServerName
	if serverName == "" {
		host, _, err := net.SplitHostPort(spec.Address)
		if err != nil {
			host = spec.Address
		}
		serverName = host
	}
	skip := spec.InsecureSkipVerify
	return &tls.Config{
		ServerName:         serverName,
		InsecureSkipVerify: true, // verified below, after the certificate is recorded
		MinVersion:         tls.VersionTLS12,
		VerifyConnection: func(cs tls.ConnectionState) error {
			err := verifyPeer(cs, roots, serverName)
			t.SetTLS(cs, err == nil)
			if skip {
				return nil
			}
			return err
		},
	}, nil
}

func verifyPeer(cs tls.ConnectionState, roots *x509.CertPool, serverName string) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("server sent no certificate")
	}
	opts := x509.VerifyOptions{Roots: roots, DNSName: serverName, Intermediates: x509.NewCertPool()}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(opts)
	return err
}
