package probe

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// FuzzReadAnswer: whatever a web listener answers, readAnswer returns a final status or an
// error, never a panic or a hang, and reads no more header than maxResponseHeader.
func FuzzReadAnswer(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	f.Add([]byte("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.0 302 Found\r\nLocation: /x\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte("* OK IMAP4rev1\r\n"))
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		resp, err := readAnswer(NewTrace(), bytes.NewReader(in), req)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		if code := resp.StatusCode; code != http.StatusSwitchingProtocols && (code < 200 || code > 999) {
			t.Fatalf("accepted status %d", code)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	})
}
