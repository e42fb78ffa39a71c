package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat. It is 100 Hz on every Linux
// this runs on (USER_HZ is fixed by the kernel ABI), so it is not read through sysconf.
const clockTick = 10 * time.Millisecond

// maxTicks bounds a believable tick count (over 300 years of CPU), so that the sum
// never overflows a time.Duration.
const maxTicks = 1 << 40

// procSample is what /proc says about one process at one moment.
type procSample struct {
	At      time.Time
	CPU     time.Duration // user + system time used so far
	RSS     int64         // resident set, bytes (VmRSS)
	Anon    int64         // its anonymous part: heap, stacks, runtime (RssAnon)
	File    int64         // its file-backed part: mostly the executable's pages (RssFile)
	HWM     int64         // peak resident set, bytes (VmHWM)
	Threads int
	FDs     int
}

// sampleProc reads /proc/PID/{stat,status,fd}.
func sampleProc(pid int) (procSample, error) {
	s := procSample{At: time.Now()}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	if s.CPU, err = parseStatCPU(stat); err != nil {
		return s, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	st := parseStatus(status)
	s.RSS, s.HWM, s.Threads = st["VmRSS"], st["VmHWM"], int(st["Threads"])
	s.Anon, s.File = st["RssAnon"], st["RssFile"]
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	s.FDs = len(fds)
	return s, nil
}

// parseStatCPU returns utime + stime from the contents of /proc/PID/stat. The command name
// (field 2) is in parentheses and may hold spaces and parentheses itself, so fields are
// counted from the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("no ')' closing the command name in %.40q", stat)
	}
	// After ")": field 3 (state) is rest[0]; utime and stime are fields 14 and 15.
	rest := strings.Fields(string(stat[end+1:]))
	if len(rest) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(rest))
	}
	var ticks int64
	for _, f := range rest[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n < 0 || n > maxTicks {
			return 0, fmt.Errorf("cpu time %q is not a tick count", f)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// parseStatus returns the numeric fields of /proc/PID/status; sizes ("VmRSS: 1234 kB")
// are converted to bytes. Lines that are not "Name: number [kB]" are skipped.
func parseStatus(status []byte) map[string]int64 {
	out := map[string]int64{}
	for line := range strings.SplitSeq(string(status), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(value)
		if len(f) == 0 || len(f) > 2 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if len(f) == 2 {
			if f[1] != "kB" || n > 1<<50 {
				continue
			}
			n *= 1024
		}
		out[name] = n
	}
	return out
}
