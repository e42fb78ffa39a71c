// Package faults proves axprobe under faults: a matrix of real-server faults (Dovecot,
// Postfix, nginx) driven through the real daemon, its socket and the VCS shim; hostile
// servers; a two-node failover simulated with network namespaces; and a soak through the
// daemon's scheduler. The suites live in this package's _test.go files and write their
// figures to a report directory (see docs/RELIABILITY.md).
//
// The suites run only with AXPROBE_INTEGRATION=1 and need root; without it they skip and
// say how to enable them. With it, anything missing (root, `ip netns`, a binary, a server)
// fails the test instead.
//
// The non-test code here is test tooling: Proxy, a userspace TCP proxy that adds latency or
// resets connections at random (the machine has no tc netem), and Hostile, listeners that
// misbehave in ways internal/mailtest does not offer.
package faults
