package testkit

import (
	"net"
	"sync"
	"testing"
)

// Accept passes every connection ln accepts to handle, one after the other, until the test
// ends; then it closes ln and every connection handle left open, and waits for the loop.
// handle may keep a connection open (a server that never answers) or close it.
func Accept(t testing.TB, ln net.Listener, handle func(net.Conn)) {
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			handle(c)
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
}

// Listen listens on network and address (a Unix socket path, or "127.0.0.1:0") and
// passes the connections to handle as Accept does. It returns the listener's address.
func Listen(t testing.TB, network, address string, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen(network, address)
	if err != nil {
		t.Fatal(err)
	}
	Accept(t, ln, handle)
	return ln.Addr().String()
}
