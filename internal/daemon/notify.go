package daemon

import (
	"net"
	"os"
	"strconv"
	"time"
)

// Notify sends a systemd notification (e.g. "READY=1") to $NOTIFY_SOCKET. It does nothing
// when the daemon does not run under systemd with Type=notify. Twenty lines instead of a
// dependency: go-systemd's daemon package would add nothing we use.
func Notify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' { // abstract socket
		path = "\x00" + path[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(state))
	return err
}

// watchdog pings systemd's watchdog from the daemon loop, at half the configured period, so
// that a wedged loop stops the pings and systemd restarts the daemon.
type watchdog struct {
	every time.Duration
	last  time.Time
}

func newWatchdog() *watchdog {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return &watchdog{}
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return &watchdog{}
	}
	return &watchdog{every: time.Duration(usec) * time.Microsecond / 2}
}

func (w *watchdog) ping() {
	if w.every == 0 || time.Since(w.last) < w.every {
		return
	}
	w.last = time.Now()
	_ = Notify("WATCHDOG=1")
}
