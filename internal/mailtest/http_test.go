package mailtest

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func httpGet(t *testing.T, cl *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := cl.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp, string(body)
}

func testHTTPClient(t *testing.T) *http.Client {
	// No keep-alive: faults are decided per connection, so every request needs a new one.
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: ioTimeout}
}

func TestHTTPKinds(t *testing.T) {
	for _, tc := range []struct {
		kind, server, body string
		paths              []string
	}{
		{KindWebMail, "Axigen-Webmail", "Axigen WebMail", []string{"/", "/index.hsp"}},
		{KindWebAdmin, "Axigen-Webadmin", "<title>Axigen WebAdmin</title>", []string{"/"}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			s := start(t, func(o Options) (*Server, error) { return StartHTTP(o, tc.kind) }, Options{})
			cl := testHTTPClient(t)
			for _, p := range tc.paths {
				resp, body := httpGet(t, cl, "http://"+s.Addr()+p)
				if resp.StatusCode != 200 || resp.Header.Get("Server") != tc.server || !strings.Contains(body, tc.body) {
					t.Errorf("GET %s: %d Server %q body %q", p, resp.StatusCode, resp.Header.Get("Server"), body)
				}
			}
			resp, _ := httpGet(t, cl, "http://"+s.Addr()+"/nope")
			if resp.StatusCode != 404 || resp.Header.Get("Server") != tc.server {
				t.Errorf("GET /nope: %d Server %q", resp.StatusCode, resp.Header.Get("Server"))
			}
		})
	}
}

func TestHTTPImplicitTLS(t *testing.T) {
	certs := testCerts(t)
	s := start(t, func(o Options) (*Server, error) { return StartHTTP(o, KindWebAdmin) }, Options{TLS: TLSImplicit, Cert: certs})
	tr := &http.Transport{TLSClientConfig: certs.ClientTLSConfig("127.0.0.1")}
	defer tr.CloseIdleConnections()
	resp, body := httpGet(t, &http.Client{Transport: tr, Timeout: ioTimeout}, "https://"+s.Addr()+"/")
	if resp.StatusCode != 200 || resp.Header.Get("Server") != WebAdminServer || body != WebAdminPage {
		t.Fatalf("%d %q %q", resp.StatusCode, resp.Header.Get("Server"), body)
	}
}

func TestHTTPBadOptions(t *testing.T) {
	if _, err := StartHTTP(Options{}, "webmial"); err == nil || !strings.Contains(err.Error(), `"webmial"`) {
		t.Errorf("bad kind: err = %v", err)
	}
	if _, err := StartHTTP(Options{TLS: TLSStartTLS, Cert: testCerts(t)}, KindWebMail); err == nil {
		t.Error("starttls HTTP: no error")
	}
	if _, err := StartHTTP(Options{TLS: TLSImplicit}, KindWebMail); err == nil || !strings.Contains(err.Error(), "Cert") {
		t.Errorf("TLS without Cert: err = %v", err)
	}
}
