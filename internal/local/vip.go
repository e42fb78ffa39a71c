package local

import (
	"fmt"
	"net/netip"
	"syscall"
)

// VIPPresent reports whether ip (IPv4 or IPv6, an IPv6 zone is ignored) is configured on
// one of this node's interfaces. It returns an error naming ip when ip is not an address,
// and an error when the addresses cannot be read; it never reports true on error.
//
// It asks the kernel for the addresses of ip's family only (one rtnetlink RTM_GETADDR
// dump; net.InterfaceAddrs would also dump every link): the daemon runs it at the moment of
// every answer (docs/SCORING.md, "Live facts").
func VIPPresent(ip string) (bool, error) {
	want, err := netip.ParseAddr(ip)
	if err != nil {
		return false, fmt.Errorf("vip %q is not an IP address", ip)
	}
	want = want.WithZone("").Unmap()
	family := syscall.AF_INET6
	if want.Is4() {
		family = syscall.AF_INET
	}
	rib, err := syscall.NetlinkRIB(syscall.RTM_GETADDR, family)
	if err != nil {
		return false, fmt.Errorf("vip %s: list local addresses: %w", ip, err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return false, fmt.Errorf("vip %s: parse local addresses: %w", ip, err)
	}
	for _, m := range msgs {
		if m.Header.Type != syscall.RTM_NEWADDR {
			continue
		}
		if addrMessageIs(&m, want) {
			return true, nil
		}
	}
	return false, nil
}

// addrMessageIs reports whether the RTM_NEWADDR message m carries want as its local
// address: IFA_LOCAL when present (on a point-to-point link IFA_ADDRESS is the peer's), else
// IFA_ADDRESS — the rule the net package follows.
func addrMessageIs(m *syscall.NetlinkMessage, want netip.Addr) bool {
	attrs, err := syscall.ParseNetlinkRouteAttr(m)
	if err != nil {
		return false
	}
	var local, address []byte
	for _, a := range attrs {
		switch a.Attr.Type {
		case syscall.IFA_LOCAL:
			local = a.Value
		case syscall.IFA_ADDRESS:
			address = a.Value
		}
	}
	if local == nil {
		local = address
	}
	got, ok := netip.AddrFromSlice(local)
	return ok && got.Unmap() == want
}
