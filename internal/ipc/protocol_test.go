package ipc

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseRequest(t *testing.T) {
	good := map[string]Request{
		"PING\n":              {Command: CmdPing},
		"ping":                {Command: CmdPing},
		"VERSION\r\n":         {Command: CmdVersion},
		"MONITOR\n":           {Command: CmdMonitor},
		"MONITOR axigen\n":    {Command: CmdMonitor, Target: "axigen"},
		"monitor a.b_c-d:1\n": {Command: CmdMonitor, Target: "a.b_c-d:1"},
		"STATUS\n":            {Command: CmdStatus},
		"STATUS axigen":       {Command: CmdStatus, Target: "axigen"},
	}
	for in, want := range good {
		got, err := ParseRequest([]byte(in))
		if err != nil || got != want {
			t.Errorf("ParseRequest(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":                                    "empty request",
		"\n":                                  "empty request",
		"PING x\n":                            "takes no argument",
		"MONITOR  axigen\n":                   "not allowed",
		"MONITOR a b\n":                       "not allowed",
		"MONITOR a\"b\n":                      "not allowed",
		"MONITOR " + strings.Repeat("a", 129): "1 to 128",
		"HELLO\n":                             `unknown command "HELLO"`,
		"PING\x00\n":                          "byte 0x00",
		"MONITOR \xff\n":                      "byte 0xff",
		"PING\n\n":                            "byte 0x0a",
		strings.Repeat("A", 257):              "longer than 256 bytes",
	}
	for in, want := range bad {
		_, err := ParseRequest([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRequest(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}

func TestFormatAnswer(t *testing.T) {
	line, err := FormatAnswer(healthy("axigen"))
	if err != nil {
		t.Fatal(err)
	}
	want := `axprobe/1 code=110 state=online confidence=0.97 age=1.2s max_age=30s target=axigen reason="all checks healthy"`
	if line != want {
		t.Errorf("FormatAnswer =\n%s\nwant\n%s", line, want)
	}
}

func TestAnswerRoundTrip(t *testing.T) {
	answers := []Answer{
		healthy("axigen"),
		{Target: "t", Code: 100, State: "offline", Reason: "vip 10.0.0.5 is not configured on this node"},
		{Target: "t", Code: 200, State: "intentional_offline", Confidence: 1},
		{Target: "t", Code: 99, State: "starting", Age: 0, MaxAge: 0},
		{Target: "t", Code: 105, State: "online", Confidence: 0.5, Reason: "line\nbreak \"quoted\" \\ tab\t unicode é \xff"},
		{Target: "t", Code: 101, State: "online", Confidence: 0.1, Age: 90 * time.Minute, MaxAge: time.Hour, Reason: "x"},
	}
	for _, a := range answers {
		line, err := FormatAnswer(a)
		if err != nil {
			t.Errorf("FormatAnswer(%+v): %v", a, err)
			continue
		}
		if strings.ContainsAny(line, "\r\n") || !isASCIIPrintable(line) {
			t.Errorf("FormatAnswer(%+v) = %q: not one printable ASCII line", a, line)
		}
		got, err := ParseAnswer(line + "\n")
		if err != nil {
			t.Errorf("ParseAnswer(%q): %v", line, err)
			continue
		}
		if got != a {
			t.Errorf("round trip changed the answer:\n got %+v\nwant %+v", got, a)
		}
	}
}

func TestFormatAnswerRounds(t *testing.T) {
	a := healthy("t")
	a.Confidence = 2.0 / 3
	a.Age = 1234567 * time.Microsecond
	a.Reason = strings.Repeat("r", 5000)
	line, err := FormatAnswer(a)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseAnswer(line)
	if err != nil {
		t.Fatal(err)
	}
	if got.Confidence != 0.667 || got.Age != 1235*time.Millisecond || len(got.Reason) != maxReason {
		t.Errorf("got confidence %v age %v reason length %d", got.Confidence, got.Age, len(got.Reason))
	}
	if len(line) > MaxAnswerLine {
		t.Errorf("line is %d bytes, over MaxAnswerLine", len(line))
	}
}

func TestFormatAnswerRejects(t *testing.T) {
	for _, tc := range []struct {
		mutate func(*Answer)
		want   string
	}{
		{func(a *Answer) { a.Code = 0 }, "code 0"},
		{func(a *Answer) { a.Code = 111 }, "code 111"},
		{func(a *Answer) { a.Code = 1 }, "code 1"},
		{func(a *Answer) { a.State = "" }, "state"},
		{func(a *Answer) { a.State = "on line" }, "state"},
		{func(a *Answer) { a.Confidence = math.NaN() }, "confidence"},
		{func(a *Answer) { a.Confidence = 1.01 }, "confidence"},
		{func(a *Answer) { a.Age = -time.Second }, "age"},
		{func(a *Answer) { a.MaxAge = -time.Second }, "max_age"},
		{func(a *Answer) { a.Target = "" }, "target"},
		{func(a *Answer) { a.Target = "a b" }, "target"},
	} {
		a := healthy("t")
		tc.mutate(&a)
		if _, err := FormatAnswer(a); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("FormatAnswer(%+v) = %v, want an error containing %q", a, err, tc.want)
		}
	}
}

func TestParseAnswerRejects(t *testing.T) {
	const ok = `axprobe/1 code=110 state=online confidence=0.97 age=1.2s max_age=30s target=axigen reason="all checks healthy"`
	if _, err := ParseAnswer(ok); err != nil {
		t.Fatalf("the valid line itself: %v", err)
	}
	bad := map[string]string{
		"":                   "does not start with",
		"code=110":           "does not start with",
		"axprobe/2 code=110": `speaks protocol "axprobe/2"`,
		"AXPROBE/1 code=110": "does not start with",
		strings.Replace(ok, " state=online", "", 1):                 "no state field",
		strings.Replace(ok, "code=110", "code=110 code=100", 1):     "appears twice",
		strings.Replace(ok, "code=110", "code=x", 1):                `code "x"`,
		strings.Replace(ok, "code=110", "code=1", 1):                "code 1",
		strings.Replace(ok, "age=1.2s", "age=-1s", 1):               "age -1s",
		strings.Replace(ok, "age=1.2s", "age=1", 1):                 `age "1"`,
		strings.Replace(ok, "confidence=0.97", "confidence=NaN", 1): "confidence",
		strings.Replace(ok, "confidence=0.97", "confidence=2", 1):   "confidence",
		strings.Replace(ok, " state", "  state", 1):                 "not a lowercase word",
		ok + " ": "expected one space",
		strings.Replace(ok, `"all checks healthy"`, `"unterminated`, 1):   "unterminated",
		strings.Replace(ok, `"all checks healthy"`, `"bad \q escape"`, 1): "bad quoted value",
		strings.Replace(ok, `"all checks healthy"`, "\"tab\there\"", 1):   "printable ASCII",
		strings.Replace(ok, `"all checks healthy"`, `"x"y`, 1):            "expected one space",
		strings.Replace(ok, "target=axigen", "target=a\"b", 1):            "must be quoted",
		strings.Replace(ok, "target=axigen", `target="a b"`, 1):           "target",
		strings.Replace(ok, "state=online", "State=online", 1):            "not a lowercase word",
		strings.Replace(ok, "state=online", "=online", 1):                 "not key=value",
		strings.Replace(ok, "state=online", "state=", 1):                  "must be quoted",
		ok + " " + strings.Repeat("x", MaxAnswerLine):                     "longer than",
	}
	for in, want := range bad {
		_, err := ParseAnswer(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseAnswer(%q) = %v, want an error containing %q", in, err, want)
		}
	}
	// A newer daemon's extra field is ignored; an ERR reply is a *ServerError.
	if a, err := ParseAnswer(ok + " source=cache"); err != nil || a.Code != 110 {
		t.Errorf("unknown field: %+v, %v", a, err)
	}
	if _, err := ParseAnswer("axprobe/1 ERR no target \"x\""); !isServerError(err, `no target "x"`) {
		t.Errorf("ERR reply: got %v, want a *ServerError", err)
	}
}
