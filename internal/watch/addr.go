package watch

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Addresses calls changed after every change of this node's IPv4 or IPv6 addresses (in the
// daemon's network namespace) until ctx ends, when it returns nil. It returns an error only
// when the netlink socket cannot be opened or read.
//
// It subscribes to RTM_NEWADDR and RTM_DELADDR and does not parse them: any message means
// "re-read the addresses", which the vip gate does. When the kernel reports that the socket
// overran (ENOBUFS: events were dropped), changed is called as well, so a lost event costs
// one full re-read, never a missed VIP change.
func Addresses(ctx context.Context, changed func()) error {
	w, err := openAddresses(0)
	if err != nil {
		return err
	}
	return w.run(ctx, changed)
}

// addrSocket is a netlink socket subscribed to address changes, opened in the network
// namespace of the calling thread.
type addrSocket struct{ f *os.File }

// openAddresses opens the socket; rcvbuf > 0 sets its receive buffer (tests make it tiny
// to force an overrun).
func openAddresses(rcvbuf int) (*addrSocket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("address events: open netlink socket: %w", err)
	}
	if rcvbuf > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("address events: set receive buffer: %w", err)
		}
	}
	sa := &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("address events: bind netlink socket: %w", err)
	}
	return &addrSocket{f: os.NewFile(uintptr(fd), "rtnetlink")}, nil
}

// run reads events until ctx ends and closes the socket.
func (w *addrSocket) run(ctx context.Context, changed func()) error {
	defer w.f.Close()
	stop := context.AfterFunc(ctx, func() { w.f.Close() }) // ends a blocked Read
	defer stop()
	buf := make([]byte, 64<<10)
	return readEvents(ctx, func() error {
		_, err := w.f.Read(buf)
		return err
	}, changed)
}

// readEvents calls read until ctx ends or read fails for another reason than an overrun,
// and calls changed after every message and every overrun.
func readEvents(ctx context.Context, read func() error, changed func()) error {
	for {
		err := read()
		switch {
		case err == nil, errors.Is(err, unix.ENOBUFS):
			changed()
		case ctx.Err() != nil:
			return nil
		default:
			return fmt.Errorf("address events: read netlink socket: %w", err)
		}
	}
}
