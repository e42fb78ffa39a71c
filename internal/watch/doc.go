// Package watch turns kernel events about this node's local facts into "look again now"
// signals for the daemon's gates: address changes (rtnetlink), the exit of the Axigen
// process (pidfd) and changes of the mount table (poll on /proc/self/mountinfo).
//
// A watcher never decides anything itself: it calls changed, and the daemon re-probes the
// gate at once, so every verdict still comes from the same gate code. Events can be lost
// (a netlink socket overruns, pidfd_open is missing on an old kernel); each watcher says
// how it resynchronises, and the gates' periodic probes stay as the safety net
// (docs/SCORING.md, "Live facts").
//
// Linux only; it uses golang.org/x/sys/unix and no cgo. The monitor shim does not link it.
package watch
