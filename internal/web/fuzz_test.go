package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzHandler sends arbitrary methods, paths, queries, headers and bodies to every route
// (the demo's included) and checks that the server answers with a sane status and that a
// refused demo request changes nothing.
func FuzzHandler(f *testing.F) {
	f.Add("GET", "/status.json?target=axigen", "", "", "")
	f.Add("POST", "/demo/fault", "listener=imap&fault=hang", "1", "")
	f.Add("POST", "/demo/fault", "listener=imap&fault=hang", "", "http://evil.test")
	f.Add("POST", "/demo/process", "action=kill", "1", "")
	f.Add("GET", "/static/../../etc/passwd", "", "", "")
	f.Add("GET", "/status.json?target=%00%ff", "", "", "")
	ff := &fakeFaults{faults: map[string]string{}, running: true}
	s, err := New(Options{Source: fixedSource{offlineSnapshot(time.Now())}, Metrics: NewMetrics("fuzz"), Faults: ff})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, method, target, body, demoHdr, origin string) {
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(method, " \t\r\n") || method == "" {
			return
		}
		req, err := http.NewRequest(method, "http://127.0.0.1:9728"+target, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(demoHeader, demoHdr)
		req.Header.Set("Origin", origin)
		before := ff.Fault("imap") + ff.Fault("smtp")
		running := ff.ProcessRunning()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code < 200 || rec.Code > http.StatusServiceUnavailable || rec.Code == http.StatusInternalServerError {
			t.Fatalf("%s %s: status %d", method, target, rec.Code)
		}
		if rec.Code == http.StatusForbidden && (ff.Fault("imap")+ff.Fault("smtp") != before || ff.ProcessRunning() != running) {
			t.Fatalf("%s %s refused but changed the demo state", method, target)
		}
	})
}
