package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const plain = "hunter2-very-secret"

func TestSecretNeverPrintsValue(t *testing.T) {
	s := New(plain)
	type wrapper struct {
		Password Secret
		Ptr      *Secret
	}
	w := wrapper{Password: s, Ptr: &s}

	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
		outputs = append(outputs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, w))
	}
	js, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(js))

	var logBuf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&logBuf, nil), slog.NewJSONHandler(&logBuf, nil)} {
		slog.New(h).Info("login", "password", s, "wrapped", w)
	}
	outputs = append(outputs, logBuf.String())
	outputs = append(outputs, fmt.Errorf("login failed with %v", s).Error())

	for _, out := range outputs {
		if strings.Contains(out, plain) {
			t.Errorf("secret leaked: %s", out)
		}
		if !strings.Contains(out, Redacted) && !strings.Contains(out, fmt.Sprintf("%x", Redacted)) && !strings.Contains(out, fmt.Sprintf("%X", Redacted)) {
			t.Errorf("output does not show %s: %s", Redacted, out)
		}
	}
	if s.Reveal() != plain {
		t.Fatalf("Reveal = %q", s.Reveal())
	}
}

func TestEmptySecretPrintsEmpty(t *testing.T) {
	var s Secret
	if !s.IsZero() || s.String() != "" {
		t.Fatalf("zero secret: IsZero=%v String=%q", s.IsZero(), s.String())
	}
}
