package faults

import (
	"errors"
	"net"
	"sync"
)

// connSet is the bookkeeping Proxy and Hostile share: their listener, the connections
// open on their behalf and the goroutines serving them, so that close ends all of it.
type connSet struct {
	ln   net.Listener
	stop chan struct{} // closed by close: ends every wait on it
	wg   sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func newConnSet(ln net.Listener) *connSet {
	return &connSet{ln: ln, stop: make(chan struct{}), conns: map[net.Conn]struct{}{}}
}

// accept runs the accept loop, in a goroutine of the set, until the listener closes. Each
// connection goes to admit first (when not nil), in the loop itself and so never
// concurrently: when it returns false, admit has dealt with the connection. Otherwise
// handle serves it in a goroutine of its own; it is closed when handle returns.
func (s *connSet) accept(admit func(net.Conn) bool, handle func(net.Conn)) {
	s.wg.Go(func() {
		for {
			c, err := s.ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue // a transient accept error (EMFILE): the next Accept may succeed
			}
			if admit != nil && !admit(c) {
				continue
			}
			if !s.track(c) {
				return
			}
			s.wg.Go(func() {
				defer s.untrack(c)
				handle(c)
			})
		}
	})
}

// track registers c so that close closes it; it reports false (and closes c) once the
// set is closed.
func (s *connSet) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

// untrack forgets c and closes it.
func (s *connSet) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

// close stops accepting, closes every connection and returns once every goroutine of the
// set has returned.
func (s *connSet) close() error {
	s.mu.Lock()
	var err error
	if !s.closed {
		s.closed = true
		close(s.stop)
		err = s.ln.Close()
		for c := range s.conns {
			c.Close()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}
