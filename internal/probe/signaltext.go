package probe

import (
	"fmt"
	"strconv"
	"strings"
)

// String is the series for people: "queue_size 150 (+12.5/min)".
func (s SeriesValue) String() string {
	out := s.Name + " " + strconv.FormatFloat(s.Value, 'g', 6, 64)
	if s.HasGrowth {
		out += fmt.Sprintf(" (%+.3g/min)", s.Growth)
	}
	return out
}

// SeriesText joins the series for people: "queue_size 150 (+12.5/min), uptime 3600".
func SeriesText(series []SeriesValue) string {
	parts := make([]string, len(series))
	for i, s := range series {
		parts[i] = s.String()
	}
	return strings.Join(parts, ", ")
}

// String is the capacity for people: "free 45.0% (4.5 GiB of 10.0 GiB), inodes 90.0% free".
func (c Capacity) String() string {
	out := "size unknown"
	if c.SizeBytes > 0 {
		out = fmt.Sprintf("free %.1f%% (%s of %s)", 100*float64(c.FreeBytes)/float64(c.SizeBytes), bytesText(c.FreeBytes), bytesText(c.SizeBytes))
	}
	if c.Inodes > 0 {
		out += fmt.Sprintf(", inodes %.1f%% free", 100*float64(c.FreeInodes)/float64(c.Inodes))
	}
	return out
}

// bytesText writes n in binary units: 512 B, 4.0 KiB, 1.5 GiB.
func bytesText(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
