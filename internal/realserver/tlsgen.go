package realserver

import (
	"fmt"

	"github.com/axprobe/axprobe/internal/mailtest"
)

// tlsFiles are the PEM files writeTLS produces.
type tlsFiles struct {
	CA   string // the CA certificate; give it to clients as their CA file
	Cert string // the server certificate (leaf only)
	Key  string // the server's private key, mode 0600
}

// writeTLS creates a fresh CA and a server certificate signed by it, valid for "localhost",
// 127.0.0.1 and ::1, and writes them under dir. Nothing is reused between runs, so a test
// that trusts the CA trusts only the servers of this run. The real servers use the same
// certificate factory as the fake ones.
func writeTLS(dir string) (tlsFiles, error) {
	certs, err := mailtest.NewCerts(dir, "localhost", "127.0.0.1", "::1")
	if err != nil {
		return tlsFiles{}, fmt.Errorf("tls: %w", err)
	}
	return tlsFiles{CA: certs.CAFile, Cert: certs.CertFile, Key: certs.KeyFile}, nil
}
