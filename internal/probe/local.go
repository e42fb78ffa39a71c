package probe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"

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
	if err := checkVIP(g.ip); err != nil {
		return Fail(t, ReasonLocal, 0, err)
	}
	return nil
}

func checkVIP(ip string) error {
	ok, err := local.VIPPresent(ip)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("vip %s is not configured on this node", ip)
	}
	return nil
}

// processGate checks that the service's process runs on this node.
type processGate struct {
	pidfile, name string
	reads         *local.Bounded
}

func newProcessGate(spec Spec) (Prober, error) {
	if spec.PidFile == "" && spec.ProcessName == "" {
		return nil, errors.New("pid_file, process_name: the process gate needs at least one")
	}
	return processGate{pidfile: spec.PidFile, name: spec.ProcessName, reads: new(local.Bounded)}, nil
}

// Probe fails when the pidfile's pid (or, without a pidfile, any process with the name) is
// not a live process of that name, or when reading the pidfile does not finish by ctx's
// deadline (a pidfile on a hung filesystem).
func (g processGate) Probe(ctx context.Context, t *Trace) error {
	t.Begin("process")
	err := g.reads.Do(ctx, "process gate", func() error {
		_, err := local.CheckProcess(g.pidfile, g.name)
		return err
	})
	if err != nil {
		return Fail(t, ReasonLocal, 0, err)
	}
	return nil
}

// storageGate checks that the shared storage is writable on this node and, when the Spec
// says RequireMount, mounted (a plain directory there means the shared filesystem is not).
// It keeps one local.Storage so that a write stuck on a hung filesystem is never joined by
// another. It also measures the filesystem's free space and inodes (capacity.go in
// internal/local), records them in the trace and grades them: degraded under
// DegradedFreePercent, failed under FailedFreePercent.
type storageGate struct {
	storage  *local.Storage
	capacity *local.CapacityProbe
	degraded float64
	failed   float64
}

func newStorageGate(spec Spec) (Prober, error) {
	if spec.StoragePath == "" {
		return nil, errors.New("storage_path: required for the storage gate")
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"degraded_free_percent", spec.DegradedFreePercent}, {"failed_free_percent", spec.FailedFreePercent}} {
		if !(p.v >= 0 && p.v <= 100) {
			return nil, fmt.Errorf("%s: %v is not in 0-100", p.name, p.v)
		}
	}
	return storageGate{
		storage:  &local.Storage{Path: spec.StoragePath, Canary: spec.StorageCanary, RequireMount: spec.RequireMount},
		capacity: &local.CapacityProbe{Path: spec.StoragePath},
		degraded: spec.DegradedFreePercent,
		failed:   spec.FailedFreePercent,
	}, nil
}

// Probe fails when the path is not a mount point (if required), is not writable, the
// canary write does not finish before ctx's deadline, or free space or inodes are under
// the failed percentage; it degrades the trace when they are under the degraded one.
func (g storageGate) Probe(ctx context.Context, t *Trace) error {
	t.Begin("storage")
	if err := g.storage.Check(ctx); err != nil {
		fail := Fail(t, ReasonLocal, 0, err)
		if errors.Is(err, syscall.ENOSPC) {
			// Full: the canary could not be written. Still show how full.
			if c, cerr := g.capacity.Measure(ctx); cerr == nil {
				t.SetCapacity(g.record(c))
			}
		}
		return fail
	}
	t.Begin("capacity")
	c, err := g.capacity.Measure(ctx)
	if err != nil {
		return Fail(t, ReasonLocal, 0, err)
	}
	t.SetCapacity(g.record(c))
	return g.grade(t, c)
}

// record is what the trace keeps of a measure: the figures and the gate's thresholds.
func (g storageGate) record(c local.Capacity) Capacity {
	return Capacity{SizeBytes: c.SizeBytes, FreeBytes: c.FreeBytes, Inodes: c.Inodes, FreeInodes: c.FreeInodes,
		DegradedFreePercent: g.degraded, FailedFreePercent: g.failed}
}

// grade compares the free space and inodes with the gate's percentages.
func (g storageGate) grade(t *Trace, c local.Capacity) error {
	type room struct {
		what    string
		percent float64
		free    string
	}
	rooms := []room{{"space", c.FreeBytesPercent(), fmt.Sprintf("%d of %d bytes", c.FreeBytes, c.SizeBytes)}}
	if p, ok := c.FreeInodesPercent(); ok {
		rooms = append(rooms, room{"inodes", p, fmt.Sprintf("%d of %d inodes", c.FreeInodes, c.Inodes)})
	}
	var degraded []string
	for _, r := range rooms {
		switch {
		case g.failed > 0 && r.percent < g.failed:
			return Fail(t, ReasonLocal, 0, fmt.Errorf("storage %s: free %s %.2f%% (%s), below failed_free_percent %v", g.storage.Path, r.what, r.percent, r.free, g.failed))
		case g.degraded > 0 && r.percent < g.degraded:
			degraded = append(degraded, fmt.Sprintf("free %s %.2f%% (%s), below degraded_free_percent %v", r.what, r.percent, r.free, g.degraded))
		}
	}
	if len(degraded) > 0 {
		t.Degrade("storage_low", fmt.Sprintf("storage %s: %s", g.storage.Path, strings.Join(degraded, "; ")))
	}
	return nil
}

// LiveCheck returns the part of a local gate that is cheap enough to run at the moment the
// daemon answers (docs/SCORING.md, "Live facts"), or nil when the Spec is not a gate or
// has no such part:
//   - vip: the VIP is on a local interface (one netlink address dump);
//   - process: the pidfile's pid is a live process of the configured name (a pidfile
//     read and /proc/<pid>); without a pidfile, a scan of /proc;
//   - storage with require_mount: the path is a mount point in /proc/self/mountinfo (or,
//     when it is not listed under that name, by the scheduled gate's full check). The
//     canary write stays scheduled: it can block on a hung SAN.
//
// The returned func's error is the gate's failure detail, the same text the scheduled
// gate reports. Reads that may block in the kernel (a pidfile on NFS) are the caller's to
// bound.
func LiveCheck(spec Spec) func() error {
	switch spec.Protocol {
	case "vip":
		return func() error { return checkVIP(spec.VIP) }
	case "process":
		return func() error {
			_, err := local.CheckProcess(spec.PidFile, spec.ProcessName)
			return err
		}
	case "storage":
		if !spec.RequireMount {
			return nil
		}
		return func() error {
			ok, err := local.MountListed(spec.StoragePath)
			if err == nil && !ok {
				// Not listed under that name: maybe a path through a symlink. The full
				// check resolves it (and touches the filesystem, so it is bounded too).
				ok, err = local.IsMountPoint(spec.StoragePath)
			}
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("storage %s: not a mount point (the shared filesystem is not mounted here)", spec.StoragePath)
			}
			return nil
		}
	}
	return nil
}
