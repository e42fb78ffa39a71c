package testkit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that keeps what would fail the test, for checking that the
// helpers report what they must.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestRunStopsAndReports(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		wantErr string // "" for none reported
	}{
		{"clean return", nil, ""},
		{"an error", errors.New("listener broke"), "server: listener broke"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{TB: t}
			ended := make(chan struct{})
			stop := Run(r, "server", func(ctx context.Context) error {
				<-ctx.Done()
				close(ended)
				return tc.err
			})
			stop()
			<-ended // stop returned: serve has seen its context end
			stop()  // again: nothing more happens
			if got := strings.Join(r.errors, "; "); got != tc.wantErr {
				t.Errorf("reported %q, want %q", got, tc.wantErr)
			}
		})
	}
}
