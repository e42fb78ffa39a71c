package ipc

import (
	"context"
	"testing"
)

// BenchmarkMonitorRoundTrip is one MONITOR round trip, client and server in process:
// dial, request, answer, parse.
func BenchmarkMonitorRoundTrip(b *testing.B) {
	srv, err := Listen(b.TempDir()+"/b.sock", 0, "")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, newFakeSource()) }()
	defer func() { cancel(); <-done }()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Monitor(ctx, srv.Path(), "axigen"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseAnswer(b *testing.B) {
	line, _ := FormatAnswer(healthy("axigen"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseAnswer(line); err != nil {
			b.Fatal(err)
		}
	}
}
