package local

import (
	"fmt"
	"net"
	"net/netip"
)

// VIPPresent reports whether ip (IPv4 or IPv6, an IPv6 zone is ignored) is configured on
// one of this node's interfaces. It returns an error naming ip when ip is not an address,
// and an error when the interfaces cannot be listed; it never reports true on error.
func VIPPresent(ip string) (bool, error) {
	want, err := netip.ParseAddr(ip)
	if err != nil {
		return false, fmt.Errorf("vip %q is not an IP address", ip)
	}
	want = want.WithZone("").Unmap()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false, fmt.Errorf("vip %s: list local addresses: %w", ip, err)
	}
	for _, a := range addrs {
		if addrIs(a, want) {
			return true, nil
		}
	}
	return false, nil
}

// addrIs reports whether the interface address a is want.
func addrIs(a net.Addr, want netip.Addr) bool {
	var raw net.IP
	switch v := a.(type) {
	case *net.IPNet:
		raw = v.IP
	case *net.IPAddr:
		raw = v.IP
	default:
		return false
	}
	got, ok := netip.AddrFromSlice(raw)
	return ok && got.Unmap() == want
}
