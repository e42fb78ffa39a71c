#!/bin/sh
# axprobe package: before the files are removed (deb prerm, rpm %preun). On a removal (not
# an upgrade) stops the daemon and drops it from the boot.
#   deb: $1 = remove | upgrade | deconfigure | failed-upgrade
#   rpm: $1 = 0 erase, 1 upgrade
set -e
case "${1:-}" in
remove | 0) ;;
*) exit 0 ;;
esac
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl disable --now axprobe.service || true
fi
exit 0
