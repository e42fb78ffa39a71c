package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
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
	tr := httpTransport(t, *spec)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
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

// httpTransport returns a transport for one run whose dialer records the connect, tls and
// banner phases in t and honours spec's TLS settings. It keeps no connection alive.
func httpTransport(t *Trace, spec Spec) *http.Transport {
	return &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dial(ctx, t, network, addr)
			if err != nil {
				return nil, err
			}
			t.BeginBanner()
			return conn, nil
		},
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dial(ctx, t, network, addr)
			if err != nil {
				return nil, err
			}
			spec := spec
			spec.Address = addr // a redirect may lead elsewhere; ServerName still wins
			tc, err := upgradeTLS(ctx, t, &spec, conn)
			if err != nil {
				_ = conn.Close()
				return nil, err
			}
			t.BeginBanner()
			return tc, nil
		},
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: 64 << 10,
	}
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
