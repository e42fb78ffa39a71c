package probe

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func reader(s string) *bufio.Reader { return newLineReader(strings.NewReader(s)) }

func TestReadLine(t *testing.T) {
	br := reader("one\r\ntwo\nthree")
	for _, want := range []string{"one", "two"} {
		got, err := readLine(br)
		if err != nil || string(got) != want {
			t.Fatalf("readLine = %q, %v; want %q", got, err, want)
		}
	}
	if _, err := readLine(br); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("line cut by EOF: err = %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := readLine(br); !errors.Is(err, io.EOF) {
		t.Fatalf("after the end: err = %v, want io.EOF", err)
	}
}

func TestReadLineTooLong(t *testing.T) {
	_, err := readLine(reader(strings.Repeat("x", maxLine+10) + "\r\n"))
	if !errors.Is(err, errLineTooLong) {
		t.Fatalf("err = %v, want errLineTooLong", err)
	}
	if r := classify(err); r != ReasonProtocol {
		t.Fatalf("classify = %s, want protocol", r)
	}
}

func TestReadSMTPReply(t *testing.T) {
	tests := []struct {
		in      string
		code    int
		lines   []string
		wantErr bool
	}{
		{"220 mx Axigen ESMTP ready\r\n", 220, []string{"mx Axigen ESMTP ready"}, false},
		{"250-mx hello\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n", 250, []string{"mx hello", "STARTTLS", "AUTH PLAIN LOGIN"}, false},
		{"421\r\n", 421, []string{""}, false},
		{"250-a\r\n354 b\r\n", 0, nil, true},
		{"25\r\n", 0, nil, true},
		{"abc hello\r\n", 0, nil, true},
		{"220_x\r\n", 0, nil, true},
		{"999 x\r\n", 0, nil, true},
		{"250-a\r\n", 0, nil, true},
	}
	for _, tt := range tests {
		r, err := readSMTPReply(reader(tt.in))
		if tt.wantErr {
			if err == nil {
				t.Errorf("%q: no error, reply %+v", tt.in, r)
			}
			continue
		}
		if err != nil || r.Code != tt.code || strings.Join(r.Lines, "|") != strings.Join(tt.lines, "|") {
			t.Errorf("%q: got %+v, %v; want %d %q", tt.in, r, err, tt.code, tt.lines)
		}
		// wire() must reproduce something that parses to the same reply.
		again, err := readSMTPReply(reader(string(r.wire())))
		if err != nil || again.Code != r.Code || again.Text() != r.Text() {
			t.Errorf("%q: wire round trip gave %+v, %v", tt.in, again, err)
		}
	}
}

func TestSMTPHasExtension(t *testing.T) {
	r := smtpReply{Code: 250, Lines: []string{"STARTTLS greets you", "SIZE 100", "starttls"}}
	if !smtpHasExtension(r, "STARTTLS") || !smtpHasExtension(r, "size") {
		t.Error("advertised extension not found")
	}
	if smtpHasExtension(smtpReply{Code: 250, Lines: []string{"STARTTLS host"}}, "STARTTLS") {
		t.Error("the greeting line was taken for an extension")
	}
}

func FuzzReadSMTPReply(f *testing.F) {
	f.Add([]byte("220 mx ready\r\n"))
	f.Add([]byte("250-a\r\n250-b\r\n250 c\r\n"))
	f.Add([]byte("250-a\r\n251 c\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := readSMTPReply(newLineReader(bytes.NewReader(in)))
		if err != nil {
			return
		}
		if r.Code < 200 || r.Code > 599 || len(r.Lines) == 0 || len(r.Lines) > maxReplyLines {
			t.Fatalf("accepted reply %+v", r)
		}
		again, err := readSMTPReply(newLineReader(bytes.NewReader(r.wire())))
		if err != nil || again.Code != r.Code || len(again.Lines) != len(r.Lines) {
			t.Fatalf("wire round trip of %+v: %+v, %v", r, again, err)
		}
	})
}

func TestParseIMAPGreeting(t *testing.T) {
	tests := []struct {
		in, status string
		wantErr    bool
	}{
		{"* OK Axigen-10.6.30 (Linux/x64) IMAP4rev1 service is ready", "OK", false},
		{"* ok [CAPABILITY IMAP4rev1] hi", "OK", false},
		{"* PREAUTH welcome", "PREAUTH", false},
		{"* BYE too busy", "BYE", false},
		{"* NO go away", "", true},
		{"a1 OK hi", "", true},
		{"*", "", true},
		{"* ", "", true},
		{"* O\x00K hi", "", true},
		{"+OK POP3 ready", "", true},
	}
	for _, tt := range tests {
		r, err := parseIMAPGreeting(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && r.Status != tt.status) {
			t.Errorf("%q: got %+v, %v; want status %q, error %t", tt.in, r, err, tt.status, tt.wantErr)
		}
		var se *syntaxError
		if err != nil && !errors.As(err, &se) {
			t.Errorf("%q: error %v is not a syntax error", tt.in, err)
		}
	}
}

func TestIMAPGreetingCapabilities(t *testing.T) {
	tests := []struct {
		greeting string
		starttls bool
		some     bool // a capability list was found
	}{
		{"* OK [CAPABILITY IMAP4rev1 SASL-IR STARTTLS LOGINDISABLED] Dovecot ready.", true, true},
		{"* OK [capability IMAP4rev1 starttls] hi", true, true},
		{"* OK [CAPABILITY IMAP4rev1] hi", false, true},
		{"* OK Axigen-10.6.30 (Linux/x64) IMAP4rev1 service is ready", false, false},
		{"* OK [CAPABILITY IMAP4rev1 STARTTLS no closing bracket", false, false},
		{"* OK [CAPABILITYX STARTTLS] not the code", false, false},
		{"* OK STARTTLS [CAPABILITY STARTTLS] not at the start", false, false},
		{"* OK [ALERT] STARTTLS", false, false},
	}
	for _, tt := range tests {
		r, err := parseIMAPGreeting(tt.greeting)
		if err != nil {
			t.Fatalf("%q: %v", tt.greeting, err)
		}
		caps := imapGreetingCapabilities(r)
		if (caps != nil) != tt.some || imapHasCapability(caps, "STARTTLS") != tt.starttls {
			t.Errorf("%q: capabilities %+v; want a list %t, STARTTLS %t", tt.greeting, caps, tt.some, tt.starttls)
		}
	}
}

func TestIMAPCommand(t *testing.T) {
	var sent bytes.Buffer
	br := reader("* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n* OK noise\r\na1 OK done\r\n")
	done, untagged, err := imapCommand(&sent, br, "a1", "CAPABILITY")
	if err != nil || done.Status != "OK" || len(untagged) != 2 {
		t.Fatalf("got %+v %+v %v", done, untagged, err)
	}
	if sent.String() != "a1 CAPABILITY\r\n" {
		t.Errorf("sent %q", sent.String())
	}
	if !imapHasCapability(untagged, "starttls") || imapHasCapability(untagged, "IMAP4") {
		t.Error("capability lookup wrong")
	}
	if _, _, err := imapCommand(io.Discard, reader("b9 OK other\r\n"), "a1", "NOOP"); err == nil {
		t.Error("a foreign tag was accepted")
	}
}

func FuzzIMAPCommand(f *testing.F) {
	f.Add([]byte("* CAPABILITY IMAP4rev1 STARTTLS\r\na1 OK done\r\n"))
	f.Add([]byte("* OK hi\r\n"))
	f.Add([]byte("* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n"))
	f.Add([]byte("a1 BAD\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if g, err := parseIMAPGreeting(string(in)); err == nil {
			_ = imapHasCapability(imapGreetingCapabilities(g), "STARTTLS")
		}
		done, untagged, err := imapCommand(io.Discard, newLineReader(bytes.NewReader(in)), "a1", "CAPABILITY")
		if err != nil {
			return
		}
		if done.Tag != "a1" || len(untagged) > maxReplyLines {
			t.Fatalf("accepted %+v after %d untagged", done, len(untagged))
		}
		_ = imapHasCapability(untagged, "STARTTLS")
	})
}

func TestParsePOP3Status(t *testing.T) {
	tests := []struct {
		in      string
		ok      bool
		text    string
		wantErr bool
	}{
		{"+OK AXIGEN POP3 server on mx ready <1.2@mx>", true, "AXIGEN POP3 server on mx ready <1.2@mx>", false},
		{"+OK", true, "", false},
		{"-ERR no", false, "no", false},
		{"+OKAY", false, "", true},
		{"", false, "", true},
		{"* OK imap", false, "", true},
	}
	for _, tt := range tests {
		ok, text, err := parsePOP3Status(tt.in)
		if (err != nil) != tt.wantErr || ok != tt.ok || text != tt.text {
			t.Errorf("%q: got %t %q %v", tt.in, ok, text, err)
		}
	}
}

func TestParsePOP3Stat(t *testing.T) {
	if c, s, err := parsePOP3Stat("2 320"); err != nil || c != 2 || s != 320 {
		t.Errorf("got %d %d %v", c, s, err)
	}
	for _, bad := range []string{"", "2", "-1 5", "2 x", "99999999999999999999 1"} {
		if _, _, err := parsePOP3Stat(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestReadPOP3Multi(t *testing.T) {
	lines, err := readPOP3Multi(reader("USER\r\nSTLS\r\n..dot\r\n.\r\nnext\r\n"))
	if err != nil || strings.Join(lines, "|") != "USER|STLS|.dot" {
		t.Fatalf("got %q %v", lines, err)
	}
	if !pop3HasCapability(lines, "stls") || pop3HasCapability(lines, "SASL") {
		t.Error("capability lookup wrong")
	}
	if _, err := readPOP3Multi(reader(strings.Repeat("x\r\n", maxReplyLines+1))); err == nil {
		t.Error("endless listing accepted")
	}
}

func FuzzPOP3(f *testing.F) {
	f.Add([]byte("+OK 2 320\r\n"))
	f.Add([]byte("-ERR nope\r\n"))
	f.Add([]byte("+OK\r\nSTLS\r\n.\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		br := newLineReader(bytes.NewReader(in))
		ok, text, err := pop3Command(io.Discard, br, "")
		if err != nil {
			return
		}
		if ok {
			if c, s, err := parsePOP3Stat(text); err == nil && (c < 0 || s < 0) {
				t.Fatalf("negative STAT %d %d accepted", c, s)
			}
		}
		lines, err := readPOP3Multi(br)
		if err == nil && len(lines) > maxReplyLines {
			t.Fatalf("%d lines accepted", len(lines))
		}
	})
}

func TestSplitCLIPrompt(t *testing.T) {
	tests := []struct {
		in, text, prompt string
		ok               bool
	}{
		{"Welcome to AXIGEN's Command Line Interface\r\nYou must login first.\r\n<login> ", "Welcome to AXIGEN's Command Line Interface\r\nYou must login first.\r\n", "login", true},
		{"+OK: Authentication successful\r\n<#> ", "+OK: Authentication successful\r\n", "#", true},
		{"<server#> ", "", "server#", true},
		{"<login>", "", "", false},
		{"<login> \r\n", "", "", false},
		{"<log in> ", "", "", false},
		{"text <login> more", "", "", false},
		{"<> ", "", "", false},
	}
	for _, tt := range tests {
		text, prompt, ok := splitCLIPrompt([]byte(tt.in))
		if ok != tt.ok || string(text) != tt.text || prompt != tt.prompt {
			t.Errorf("%q: got %q %q %t", tt.in, text, prompt, ok)
		}
	}
}

func TestCLIStatusAndVersion(t *testing.T) {
	text := []byte("10.6.30|Linux|x86_64\r\n+OK: command successful\r\n")
	if ok, line, found := cliStatus(text); !ok || !found || line != "+OK: command successful" {
		t.Errorf("cliStatus = %t %q %t", ok, line, found)
	}
	if v := cliVersion(text); v != "10.6.30" {
		t.Errorf("cliVersion = %q", v)
	}
	if ok, _, found := cliStatus([]byte("-ERR: Invalid username or password\r\n")); ok || !found {
		t.Error("-ERR not seen")
	}
	if _, _, found := cliStatus([]byte("hello\r\n")); found {
		t.Error("status found in plain text")
	}
	if v := cliVersion([]byte("version 10.6|Linux\r\n")); v != "" {
		t.Errorf("cliVersion of garbage = %q", v)
	}
}

func TestReadCLIReplyBounded(t *testing.T) {
	// An endless line with no prompt must stop after maxCLIReply bytes.
	huge := io.LimitReader(zeros{}, 10<<20)
	_, _, err := readCLIReply(huge)
	if !errors.Is(err, errCLIReplyTooLong) || classify(err) != ReasonProtocol {
		t.Fatalf("err = %v, want errCLIReplyTooLong classified as protocol", err)
	}
	text, _, err := readCLIReply(strings.NewReader("+OK: have a nice day\r\n"))
	if !errors.Is(err, io.EOF) || string(text) != "+OK: have a nice day\r\n" {
		t.Fatalf("at EOF got %q, %v", text, err)
	}
}

// zeros is an endless reader of 'x' bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func FuzzCLI(f *testing.F) {
	f.Add([]byte("Welcome\r\n<login> "))
	f.Add([]byte("10.6.30|Linux|x86_64\r\n+OK: done\r\n<login> "))
	f.Add([]byte("-ERR: bad\r\n<password> "))
	f.Fuzz(func(t *testing.T, in []byte) {
		text, prompt, err := readCLIReply(bytes.NewReader(in))
		if err == nil {
			if prompt == "" || len(text) >= len(in) || !bytes.HasPrefix(in, text) {
				t.Fatalf("reply %q split into %q and <%s>", in, text, prompt)
			}
		}
		_, _, _ = cliStatus(in)
		_ = cliVersion(in)
	})
}
