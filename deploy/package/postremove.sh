#!/bin/sh
# axprobe package: after the files are removed (deb postrm, rpm %postun).
#   deb: $1 = remove (the config in /etc/axprobe stays) | purge (the config goes: the
#        example, and whatever the admin put beside it, such as the probe password files)
#        | upgrade | ...
#   rpm: $1 = 0 erase (rpm keeps an edited config as axprobe.yaml.rpmsave), 1 upgrade
# The axprobe user and group stay, as Debian's policy asks: files may still carry its ids.
set -e
case "${1:-}" in
purge)
	rm -rf /etc/axprobe
	;;
esac
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload || true
fi
exit 0
