package mailtest

import (
	"bufio"
	"net"
	"testing"
)

// BenchmarkGreeting measures connect + greeting + hang-up against each line listener.
func BenchmarkGreeting(b *testing.B) {
	for name, startFn := range map[string]func(Options) (*Server, error){
		"smtp": StartSMTP, "imap": StartIMAP, "pop3": StartPOP3, "cli": StartCLI,
	} {
		b.Run(name, func(b *testing.B) {
			s, err := startFn(Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			for b.Loop() {
				nc, err := net.Dial("tcp", s.Addr())
				if err != nil {
					b.Fatal(err)
				}
				if _, err := bufio.NewReader(nc).ReadString('\n'); err != nil {
					b.Fatal(err)
				}
				nc.Close()
			}
		})
	}
}
