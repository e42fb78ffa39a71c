package probe

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// maxBody bounds how much of a response body is read to match ExpectBody.
const maxBody = 1 << 20

// httpProber fetches one page (WebMail, WebAdmin) and checks its status, and optionally a
// header and the body.
type httpProber struct {
	spec       Spec
	url        string
	status     int
	body       *regexp.Regexp
	headerName string
	header     *regexp.Regexp
}

func newHTTP(spec Spec) (Prober, error) {
	if err := checkNetSpec(&spec); err != nil {
		return nil, err
	}
	p := &httpProber{spec: spec, status: spec.ExpectStatus}
	if p.status == 0 {
		p.status = http.StatusOK
	}
	if p.status < 100 || p.status > 599 {
		return nil, fmt.Errorf("expect_status: %d is not an HTTP status", spec.ExpectStatus)
	}
	var err error
	if p.url, err = httpURL(&spec, "/"); err != nil {
		return nil, err
	}
	if p.body, err = compileRegex("expect_body", spec.ExpectBody); err != nil {
		return nil, err
	}
	if spec.ExpectHeader != "" {
		name, expr, ok := strings.Cut(spec.ExpectHeader, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("expect_header: %q is not \"Name: regex\"", spec.ExpectHeader)
		}
		p.headerName = http.CanonicalHeaderKey(name)
		if p.header, err = compileRegex("expect_header", strings.TrimSpace(expr)); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Probe implements Prober. Phases: connect, [tls,] banner (request sent until the first
// byte of the answer), body; repeated per redirect when FollowRedirects is set.
func (p *httpProber) Probe(ctx context.Context, t *Trace) error {
	resp, err := fetch(ctx, t, &p.spec, p.url, p.spec.FollowRedirects, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != p.status {
		return Fail(t, ReasonHTTPStatus, resp.StatusCode, fmt.Errorf("status %d, want %d", resp.StatusCode, p.status))
	}
	if p.header != nil {
		values := resp.Header.Values(p.headerName)
		if !anyMatch(p.header, values) {
			return Fail(t, ReasonHTTPStatus, resp.StatusCode, fmt.Errorf("header %s: %q does not match %q", p.headerName, values, p.header.String()))
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return Wrap(ctx, t, err)
	}
	if p.body != nil && !p.body.Match(body) {
		return Fail(t, ReasonHTTPStatus, resp.StatusCode, fmt.Errorf("body (%d bytes read) does not match expect_body %q", len(body), p.body.String()))
	}
	return nil
}

// httpURL is the URL an http or metrics probe fetches: spec.Path (defaultPath when empty)
// on spec.Address, over https with TLS=implicit. The error names the path field.
func httpURL(spec *Spec, defaultPath string) (string, error) {
	path := spec.Path
	if path == "" {
		path = defaultPath
	}
	if err := checkHTTPPath(path); err != nil {
		return "", fmt.Errorf("path: %w", err)
	}
	scheme := "http"
	if spec.TLS == TLSImplicit {
		scheme = "https"
	}
	url := scheme + "://" + spec.Address + path
	if _, err := http.NewRequest(http.MethodGet, url, nil); err != nil {
		return "", fmt.Errorf("path: %q: %w", spec.Path, err)
	}
	return url, nil
}

// fetch GETs url with spec's TLS settings, following redirects only when follow is set;
// prepare, when not nil, adds to the request (headers, credentials). It returns the response once its
// header is read, with the body phase begun; the caller closes the body. A failure is an
// *Error. Phases: connect, [tls,] banner (request sent until the first byte of the
// answer), body.
func fetch(ctx context.Context, t *Trace, spec *Spec, url string, follow bool, prepare func(*http.Request)) (*http.Response, error) {
	client := &http.Client{Transport: &oneShot{trace: t, spec: *spec}}
	if !follow {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, Fail(t, ReasonInternal, 0, err)
	}
	req.Header.Set("User-Agent", "axprobe")
	if prepare != nil {
		prepare(req)
	}
	resp, err := client.Do(req)
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			return nil, pe
		}
		return nil, Wrap(ctx, t, err)
	}
	t.Begin("body")
	return resp, nil
}

// maxResponseHeader bounds the status line and header of an HTTP answer.
const maxResponseHeader = 64 << 10

// oneShot is the http.RoundTripper of one probe: one connection per request, dialled,
// written and read in the caller's goroutine, closed with the body. net/http's Transport
// would start three goroutines per connection (dial, read loop, write loop) and hand the
// request and the answer between them, which cost more CPU than the request itself
// (docs/BENCHMARKS.md, "Footprint at scale"). The dialer records the connect, tls and
// banner phases and honours the spec's TLS settings.
type oneShot struct {
	trace *Trace
	spec  Spec
}

// RoundTrip implements http.RoundTripper for an HTTP/1.1 GET without a body.
func (o *oneShot) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	var mode TLSMode
	switch req.URL.Scheme {
	case "http":
		mode = TLSNone
	case "https":
		mode = TLSImplicit
	default: // a redirect elsewhere, as net/http's Transport refuses it
		return nil, Fail(o.trace, ReasonProtocol, 0, fmt.Errorf("unsupported URL scheme %q", truncate(req.URL.Scheme)))
	}
	addr := req.URL.Host
	if req.URL.Port() == "" {
		addr = net.JoinHostPort(req.URL.Hostname(), strconv.Itoa(DefaultPort("http", mode)))
	}
	conn, err := dial(ctx, o.trace, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if mode == TLSImplicit {
		spec := o.spec
		spec.Address = addr // a redirect may lead elsewhere; ServerName still wins
		tc, err := upgradeTLS(ctx, o.trace, &spec, conn)
		if err != nil {
			_ = conn.Close()
			return nil, err
		}
		conn = tc
	}
	o.trace.BeginBanner()
	resp, err := exchange(o.trace, conn, req)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	resp.Body = &connBody{ReadCloser: resp.Body, conn: conn}
	return resp, nil
}

// exchange writes req on conn and reads the answer's status line and header (at most
// maxResponseHeader bytes), skipping informational 1xx answers as net/http does. An
// answer that is not HTTP/1.x is ReasonProtocol, its bytes not repeated in the error.
func exchange(t *Trace, conn net.Conn, req *http.Request) (*http.Response, error) {
	r := *req
	r.Close = true // "Connection: close": one request per connection
	if err := r.Write(conn); err != nil {
		return nil, err
	}
	return readAnswer(t, conn, req)
}

// readAnswer reads the answer to req from r as exchange describes.
func readAnswer(t *Trace, r io.Reader, req *http.Request) (*http.Response, error) {
	limit := &headerLimit{r: r, left: maxResponseHeader}
	br := bufio.NewReader(limit)
	for range maxInformational {
		resp, err := http.ReadResponse(br, req)
		switch {
		case errors.Is(limit.err, errHeaderLimit):
			return nil, Fail(t, ReasonProtocol, 0, fmt.Errorf("answer header over %d bytes", maxResponseHeader))
		case err != nil && limit.err != nil:
			// Closed, reset or timed out, maybe mid-line: net/textproto then reports the
			// partial line as malformed, so the connection's own error is the truth.
			return nil, limit.err
		case err != nil:
			return nil, Fail(t, ReasonProtocol, 0, errors.New("answer is not an HTTP/1.x response"))
		case resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols:
			limit.left = -1 // the header is read; the caller bounds the body
			return resp, nil
		}
	}
	return nil, Fail(t, ReasonProtocol, 0, fmt.Errorf("more than %d informational (1xx) answers", maxInformational))
}

// maxInformational bounds the 1xx answers skipped before the real one.
const maxInformational = 5

// headerLimit reads from r until left bytes are read (a negative left lifts the limit) and
// keeps the first error r or the limit returned.
type headerLimit struct {
	r    io.Reader
	left int64
	err  error
}

func (l *headerLimit) Read(p []byte) (int, error) {
	if l.left < 0 {
		return l.r.Read(p)
	}
	if l.left == 0 {
		l.err = cmp.Or(l.err, errHeaderLimit)
		return 0, errHeaderLimit
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if err != nil {
		l.err = cmp.Or(l.err, err)
	}
	return n, err
}

var errHeaderLimit = errors.New("header limit reached")

// connBody closes the connection with the body.
type connBody struct {
	io.ReadCloser
	conn net.Conn
}

func (b *connBody) Close() error {
	err := b.ReadCloser.Close()
	if cerr := b.conn.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkHTTPPath accepts a request target that starts with "/" and holds no blanks or
// control characters (which would break the request line).
func checkHTTPPath(path string) error {
	if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("%q does not start with /", path)
	}
	for _, c := range []byte(path) {
		if c <= ' ' || c == 0x7f {
			return fmt.Errorf("%q holds a blank or control character", path)
		}
	}
	return nil
}

func anyMatch(re *regexp.Regexp, values []string) bool {
	for _, v := range values {
		if re.MatchString(v) {
			return true
		}
	}
	return false
}
