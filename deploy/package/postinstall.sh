#!/bin/sh
# axprobe package: after the files are in place (deb postinst, rpm %post). Tells systemd
# about the unit; on an upgrade restarts a running daemon so the new binary runs (the
# shim answers from its fallback file meanwhile). A first install starts nothing: the
# example config must be edited first (docs/DEPLOY.md, "Packages").
#   deb: $1 = configure, $2 = the version replaced ("" on a first install)
#   rpm: $1 = 1 first install, 2 upgrade
set -e
upgrade=false
case "${1:-}" in
configure) [ -n "${2:-}" ] && upgrade=true ;;
[0-9]*) [ "$1" -ge 2 ] && upgrade=true ;;
*) exit 0 ;;
esac
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload || true
	if $upgrade; then
		systemctl try-restart axprobe.service || true
	fi
fi
if ! $upgrade; then
	echo "axprobe: edit /etc/axprobe/axprobe.yaml (vip, ports, probe account), then:"
	echo "  axprobe check-config && systemctl enable --now axprobe"
fi
exit 0
