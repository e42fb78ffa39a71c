package probe

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"time"
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
// expiry) is recorded in the trace even when verification fails, and so that a chain
// verified before is not verified again (tlsClient.verify).
func tlsConfig(spec *Spec, t *Trace) (*tls.Config, error) {
	var roots *x509.CertPool
	if spec.CAFile != "" {
		var err error
		if roots, err = caPool(spec.CAFile); err != nil {
			return nil, err
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
			err := spec.tlsClient.verify(cs, roots, serverName, time.Now())
			t.SetTLS(cs, err == nil)
			if skip {
				return nil
			}
			return err
		},
	}, nil
}

// caPool returns the certificates of the PEM file at path, parsed once and again only
// when the file changes (size or modification time): reading and parsing the CA file on
// every probe was 4 % of the daemon's CPU (docs/BENCHMARKS.md, "Profiling and fixes").
func caPool(path string) (*x509.CertPool, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	caCache.mu.Lock()
	e, ok := caCache.pools[path]
	caCache.mu.Unlock()
	if ok && e.size == fi.Size() && e.mod.Equal(fi.ModTime()) {
		return e.pool, nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s: no PEM certificate found", path)
	}
	caCache.mu.Lock()
	caCache.pools[path] = caEntry{pool: pool, size: fi.Size(), mod: fi.ModTime()}
	caCache.mu.Unlock()
	return pool, nil
}

type caEntry struct {
	pool *x509.CertPool
	size int64
	mod  time.Time
}

var caCache = struct {
	mu    sync.Mutex
	pools map[string]caEntry
}{pools: map[string]caEntry{}}

// tlsClient is what a prober remembers between its TLS handshakes: the key-exchange group
// the server chose, the certificate chain it verified last, and, when the check resumes
// sessions (Spec.TLSFullEvery > 1), its session cache and when the next full handshake is
// due. Safe for concurrent use; a nil *tlsClient remembers nothing.
type tlsClient struct {
	mu            sync.Mutex
	curve         tls.CurveID // the server's choice last time; 0 until known
	handshakes    int
	sessions      tls.ClientSessionCache // nil: every handshake is full
	sinceFull     int                    // resumed handshakes since the last full one
	notAfter      time.Time              // certificate expiry seen at the last full handshake
	failed        bool                   // the last handshake failed
	verified      verifiedChain          // the last chain verify accepted
	verifications int                    // chains verified in full, for tests
}

// verifiedChain is a certificate chain that passed verification: the server's
// certificates as sent, the roots and name they were verified against, and the window
// in which every certificate of the chain x509 built from them is valid.
type verifiedChain struct {
	raw                 [][]byte
	roots               *x509.CertPool
	name                string
	notBefore, notAfter time.Time
}

// vouchesFor reports whether v answers for certs verified against roots and name at now.
func (v *verifiedChain) vouchesFor(certs []*x509.Certificate, roots *x509.CertPool, name string, now time.Time) bool {
	if v.raw == nil || v.roots != roots || v.name != name || len(certs) != len(v.raw) ||
		now.Before(v.notBefore) || now.After(v.notAfter) {
		return false
	}
	for i, c := range certs {
		if !bytes.Equal(c.Raw, v.raw[i]) {
			return false
		}
	}
	return true
}

func newTLSClient(spec *Spec) *tlsClient {
	c := &tlsClient{}
	if spec.TLSFullEvery > 1 {
		c.sessions = tls.NewLRUClientSessionCache(1)
	}
	return c
}

// relearnEvery: every this many handshakes the client offers Go's default key shares again,
// so that a server that starts to support a post-quantum hybrid group gets it.
const relearnEvery = 64

// classicGroups are the classic key-exchange groups in crypto/tls's own preference order.
var classicGroups = []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384, tls.CurveP521}

// prepare adjusts cfg for the next handshake:
//
//   - Key shares. By default Go offers the post-quantum hybrids too and sends two key
//     shares, X25519MLKEM768 and X25519; generating the ML-KEM one was 9 % of the daemon's
//     CPU against servers that always choose X25519 (Dovecot and Postfix on OpenSSL 3.0
//     do). Once a server has chosen a classic group, the prober offers that group and the
//     classic ones crypto/tls prefers less (its order, not the list's, decides the share it
//     sends), so only that group's share is computed. A failed handshake, and every
//     relearnEvery-th one, offers the defaults again, so a server that starts to support a
//     hybrid gets it.
//   - Sessions (TLSFullEvery > 1): a resumed handshake, except every TLSFullEvery-th, after
//     a failure, before the first full one and while the certificate seen last expires
//     within CertWarnBefore (so that its renewal shows at once): then the cached session is
//     dropped and the handshake is full (docs/CONFIG.md, tls_full_handshake_every).
func (c *tlsClient) prepare(spec *Spec, cfg *tls.Config, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.handshakes++
	if i := slices.Index(classicGroups, c.curve); i >= 0 && c.handshakes%relearnEvery != 0 {
		cfg.CurvePreferences = classicGroups[i:]
	}
	if c.sessions == nil {
		return
	}
	cfg.ClientSessionCache = c.sessions
	full := c.failed || c.notAfter.IsZero() || c.sinceFull+1 >= spec.TLSFullEvery ||
		(spec.CertWarnBefore > 0 && c.notAfter.Sub(now) < spec.CertWarnBefore)
	if full {
		c.sessions.Put(cfg.ServerName, nil) // no session to offer: a full handshake
	}
}

// done records the outcome of a handshake.
func (c *tlsClient) done(cs tls.ConnectionState, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failed = err != nil
	if err != nil {
		c.curve = 0 // offer the defaults again
		return
	}
	c.curve = cs.CurveID
	if cs.DidResume {
		c.sinceFull++
		return
	}
	c.sinceFull = 0
	if len(cs.PeerCertificates) > 0 {
		c.notAfter = cs.PeerCertificates[0].NotAfter
	}
}

// verify checks the server's certificate chain against roots for serverName at now. A
// chain identical byte for byte to the last one this client accepted, against the same
// roots (caPool returns the same pool until the CA file changes) and name, is accepted
// without verifying it again while now is inside the validity window of the chain
// verification built: x509 verification depends on nothing else, so the answer would be
// the same, and it cost 66 µs of CPU per handshake (BenchmarkVerifyChain;
// docs/BENCHMARKS.md, "Footprint at scale", item 12). What makes a handshake a proof of
// the server's key, its signature over the handshake with the certificate's key,
// crypto/tls checks on every handshake; a failure is never remembered.
func (c *tlsClient) verify(cs tls.ConnectionState, roots *x509.CertPool, serverName string, now time.Time) error {
	if c == nil { // a Spec that did not come through New
		_, err := verifyPeer(cs, roots, serverName, now)
		return err
	}
	c.mu.Lock()
	known := c.verified.vouchesFor(cs.PeerCertificates, roots, serverName, now)
	c.mu.Unlock()
	if known {
		return nil
	}
	chain, err := verifyPeer(cs, roots, serverName, now)
	if err != nil {
		return err
	}
	v := verifiedChain{roots: roots, name: serverName, notBefore: chain[0].NotBefore, notAfter: chain[0].NotAfter}
	for _, cert := range chain[1:] {
		if cert.NotBefore.After(v.notBefore) {
			v.notBefore = cert.NotBefore
		}
		if cert.NotAfter.Before(v.notAfter) {
			v.notAfter = cert.NotAfter
		}
	}
	for _, cert := range cs.PeerCertificates {
		v.raw = append(v.raw, cert.Raw)
	}
	c.mu.Lock()
	c.verified = v
	c.verifications++
	c.mu.Unlock()
	return nil
}

// verifyPeer verifies the server's certificate chain against roots (the system's when
// nil) for serverName at now, and returns the first chain x509 built.
func verifyPeer(cs tls.ConnectionState, roots *x509.CertPool, serverName string, now time.Time) ([]*x509.Certificate, error) {
	if len(cs.PeerCertificates) == 0 {
		return nil, fmt.Errorf("server sent no certificate")
	}
	opts := x509.VerifyOptions{Roots: roots, DNSName: serverName, Intermediates: x509.NewCertPool(), CurrentTime: now}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	chains, err := cs.PeerCertificates[0].Verify(opts)
	if err != nil {
		return nil, err
	}
	return chains[0], nil
}
