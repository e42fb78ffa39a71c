package ipc

import (
	"net"
	"syscall"
)

// peerCred returns the pid and uid of the process at the other end of a Unix socket
// connection (SO_PEERCRED: the credentials it had when it connected or listened), and
// false when they cannot be told.
func peerCred(conn net.Conn) (pid, uid int, ok bool) {
	uc, isUnix := conn.(*net.UnixConn)
	if !isUnix {
		return 0, -1, false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, -1, false
	}
	_ = raw.Control(func(fd uintptr) {
		if cred, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED); err == nil {
			pid, uid, ok = int(cred.Pid), int(cred.Uid), true
		}
	})
	if !ok {
		return 0, -1, false
	}
	return pid, uid, true
}

// peerPID returns the pid of the peer, or 0 when it cannot be told.
func peerPID(conn net.Conn) int {
	pid, _, _ := peerCred(conn)
	return pid
}

// peerUID returns the uid of the peer, or -1 when it cannot be told.
func peerUID(conn net.Conn) int {
	_, uid, _ := peerCred(conn)
	return uid
}
