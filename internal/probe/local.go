package probe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/axprobe/axprobe/internal/local"
)

// The local gates are thin Probers over internal/local. Each runs in one phase named after
// it ("vip", "process", "storage") and fails only with ReasonLocal: the service does not run
// on this node, whatever the network says.

// vipGate checks that the service's virtual IP is plumbed on this node.
type vipGate struct{ ip string }

func newVIPGate(spec Spec) (Prober, error) {
	if spec.VIP == "" {
		return nil, errors.New("vip: required for the vip gate")
	}
	if _, err := netip.ParseAddr(spec.VIP); err != nil {
		return nil, fmt.Errorf("vip: %q is not an IP address", spec.VIP)
	}
	return vipGate{ip: spec.VIP}, nil
}

// Probe fails when the VIP is not on any local interface.
func (g vipGate) Probe(_ context.Context, t *Trace) error {
	t.Begin("vip")
	ok, err := local.VIPPresent(g.ip)
	if err != nil {
		return Fail(t, ReasonLocal, 0, err)
	}
	if !ok {
		return Fail(t, ReasonLocal, 0, fmt.Errorf("vip %s is not configured on this node", g.ip))
	}
	return nil
}

// processGate checks that the service's process runs on this node.
type processGate struct{ pidfile, name string }

func newProcessGate(spec Spec) (Prober, error) {
	if spec.PidFile == "" && spec.ProcessName == "" {
		return nil, errors.New("pid_file, process_name: the process gate needs at least one")
	}
	return processGate{pidfile: spec.PidFile, name: spec.ProcessName}, nil
}

// Probe fails when the pidfile's pid (or, without a pidfile, any process with the name) is
// not a live process of that name.
func (g processGate) Probe(_ context.Context, t *Trace) error {
	t.Begin("process")
	if _, err := local.CheckProcess(g.pidfile, g.name); err != nil {
		return Fail(t, ReasonLocal, 0, err)
	}
	return nil
}

// storageGate checks that the shared storage is writable on this node and, when the Spec
// says RequireMount, mounted (a plain directory there means the shared filesystem is not).
// It keeps one local.Storage so that a write stuck on a hung filesystem is never joined by
// another.
type storageGate struct{ storage *local.Storage }

func newStorageGate(spec Spec) (Prober, error) {
	if spec.StoragePath == "" {
		return nil, errors.New("storage_path: required for the storage gate")
	}
	return storageGate{storage: &local.Storage{Path: spec.StoragePath, Canary: spec.StorageCanary, RequireMount: spec.RequireMount}}, nil
}

// Probe fails when the path is not a mount point (if required), is not writable, or the
// canary write does not finish before ctx's deadline.
func (g storageGate) Probe(ctx context.Context, t *Trace) error {
	t.Begin("storage")
	if err := g.storage.Check(ctx); err != nil {
		return Fail(t, ReasonLocal, 0, err)
	}
	return nil
}
