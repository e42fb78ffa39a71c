package testkit

import (
	"fmt"
	"io"
	"testing"
)

func TestFirstLineAndWaitForLog(t *testing.T) {
	pr, pw := io.Pipe()
	go func() {
		fmt.Fprintln(pw, "ready 3")
		fmt.Fprintln(pw, "more output, read and dropped")
		pw.Close()
	}()
	FirstLine(t, pr, "ready", "the writer")

	var log SyncBuffer
	go fmt.Fprintln(&log, "level=INFO msg=\"config reloaded\"")
	WaitForLog(t, Bound, &log, "config reloaded")
}
