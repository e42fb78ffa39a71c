//go:build !linux

package ipc

import "net"

// peerCred cannot tell the peer's credentials on this system.
func peerCred(net.Conn) (pid, uid int, ok bool) { return 0, -1, false }

// peerPID cannot tell the peer's pid on this system.
func peerPID(net.Conn) int { return 0 }

// peerUID cannot tell the peer's uid on this system.
func peerUID(net.Conn) int { return -1 }
